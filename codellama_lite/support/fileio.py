"""Small file helpers every chapter shares: atomic writes, JSONL records and the cache folder.

A file is written to a temporary sibling and renamed into place, so an interrupted run never leaves a half-written
model, checkpoint or results file behind.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any

CACHE_ENV_VAR = "CODELLAMA_LITE_CACHE"


def cache_root() -> Path:
    """Where trained runs and generated data are kept: ``$CODELLAMA_LITE_CACHE``, else ``~/.cache/codellama-lite``."""
    return Path(os.environ.get(CACHE_ENV_VAR) or Path.home() / ".cache" / "codellama-lite")


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it is renamed onto ``path``, on error removed."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.chmod(tmp_path, _mode_for(target))
        os.replace(tmp_path, target)
    finally:
        tmp_path.unlink(missing_ok=True)


def _mode_for(target: Path) -> int:
    """The permissions a plain ``open`` would give: the existing file's, else 0o666 less the umask."""
    if target.exists():
        return target.stat().st_mode & 0o7777
    return 0o666 & ~_umask()


def _umask() -> int:
    """The process umask, read without changing it where Linux allows (``os.umask`` alone sets it, racing threads)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except OSError:
        pass
    umask = os.umask(0o022)
    os.umask(umask)
    return umask


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike[str], mode: str = "w", encoding: str | None = "utf-8") -> Iterator[IO[Any]]:
    """Open a file for writing that appears at ``path`` only once it has been completely written."""
    if "b" in mode:
        encoding = None
    with atomic_path(path) as tmp, open(tmp, mode, encoding=encoding) as handle:
        yield handle
        handle.flush()
        os.fsync(handle.fileno())


def write_jsonl(path: str | os.PathLike[str], records: Iterable[dict[str, Any]]) -> None:
    """Write ``records`` as JSON lines, atomically."""
    with atomic_open(path) as handle:
        for record in records:
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")


def iter_jsonl(path: str | os.PathLike[str], *, drop_cut_tail: bool = False) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield ``(line number, record)`` for each non-blank line of a ``.jsonl`` (or ``.jsonl.gz``) file.

    A malformed line raises ``ValueError`` naming the file and line number. With ``drop_cut_tail`` a final line
    without a newline (an append cut off mid-write) is ignored, which makes append-only files resumable.
    """
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as handle:
        lines = handle.read().split("\n")
    if drop_cut_tail or not lines[-1].strip():
        lines = lines[:-1]
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            raise ValueError(f"{path}: line {number} is not valid JSON ({error.msg})") from None
        if not isinstance(record, dict):
            raise ValueError(f"{path}: line {number} is not a JSON object")
        yield number, record


def read_jsonl(path: str | os.PathLike[str]) -> Iterator[dict[str, Any]]:
    """The records of an append-only JSONL file, ignoring a final line cut off mid-write."""
    return (record for _, record in iter_jsonl(path, drop_cut_tail=True))


def append_jsonl(path: str | os.PathLike[str], record: dict[str, Any]) -> None:
    """Append one record as a complete line (one ``write`` call, flushed), for append-only resumable files."""
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(json.dumps(record, ensure_ascii=False) + "\n")
        handle.flush()
