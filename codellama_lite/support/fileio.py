"""Small file helpers every chapter shares: atomic writes, JSONL records, checksums and the cache folder.

A file is written to a temporary sibling and renamed into place, so an interrupted run never leaves a half-written
model, checkpoint or results file behind. A folder that must arrive whole (a checkpoint, an exported model) carries
``checksums.json``: the SHA-256 of each of its files, verified before the folder is trusted, so a flipped bit or a
truncated copy is named instead of being loaded.
"""

from __future__ import annotations

import contextlib
import errno
import gzip
import hashlib
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
    if target.is_dir():
        raise IsADirectoryError(errno.EISDIR, "is a folder, not a file", str(target))
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


# -- checksums -----------------------------------------------------------------------------------------------------

CHECKSUMS_FILE = "checksums.json"


def sha256_file(path: str | os.PathLike[str], chunk: int = 1 << 20) -> str:
    """The hex SHA-256 of a file's bytes, read in chunks (models are larger than memory allows twice)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def _files_digest(files: dict[str, str]) -> str:
    return hashlib.sha256(json.dumps(files, sort_keys=True).encode()).hexdigest()


def write_checksums(folder: str | os.PathLike[str]) -> dict[str, str]:
    """Record the SHA-256 of every file in ``folder`` (hidden files included, sub-folders not) in its
    ``checksums.json``, which also carries a digest of that table so that damage to the table itself shows."""
    folder = Path(folder)
    files = {path.name: sha256_file(path) for path in sorted(folder.iterdir())
             if path.is_file() and path.name != CHECKSUMS_FILE}
    with atomic_open(folder / CHECKSUMS_FILE) as handle:
        json.dump({"sha256": files, "table_sha256": _files_digest(files)}, handle, indent=1, sort_keys=True)
    return files


def read_checksums(folder: str | os.PathLike[str]) -> dict[str, str] | None:
    """The checksum table of ``folder`` (``None`` when it has no ``checksums.json``); a damaged table is an error."""
    path = Path(folder) / CHECKSUMS_FILE
    if not path.is_file():
        return None
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        files = record["sha256"]
        intact = isinstance(files, dict) and record["table_sha256"] == _files_digest(files)
    except (ValueError, KeyError, TypeError) as error:  # ValueError covers bad JSON and bad UTF-8
        raise ValueError(f"{path}: damaged checksum table ({type(error).__name__})") from None
    if not intact:
        raise ValueError(f"{path}: damaged checksum table (its own digest does not match)")
    return files


def verify_checksums(folder: str | os.PathLike[str], *, required: bool = False) -> dict[str, str] | None:
    """Check every file ``checksums.json`` lists: present, and with the recorded SHA-256. Returns the table (``None``
    for a folder without one, an error when ``required``); a missing or changed file raises ``ValueError`` naming it."""
    folder = Path(folder)
    files = read_checksums(folder)
    if files is None:
        if required:
            raise ValueError(f"{folder}: no {CHECKSUMS_FILE} (the folder was not completely written)")
        return None
    for name, expected in files.items():
        path = folder / name
        if not path.is_file():
            raise ValueError(f"{path}: missing (listed in {CHECKSUMS_FILE})")
        if sha256_file(path) != expected:
            raise ValueError(f"{path}: checksum mismatch: the file is damaged or was changed after it was written")
    return files


def folder_digest(folder: str | os.PathLike[str], names: Iterable[str]) -> str:
    """One SHA-256 over the files ``names`` of ``folder`` (their names and contents), taken from the folder's
    checksum table where it lists them (verify the folder first), else read now."""
    folder = Path(folder)
    listed = read_checksums(folder) or {}
    files = {name: listed.get(name) or sha256_file(folder / name) for name in sorted(names)}
    return _files_digest(files)


def describe_os_error(error: OSError) -> str:
    """One line for a failed file operation: the file, then what went wrong (``no space left on device``)."""
    what = "no space left on device" if error.errno == errno.ENOSPC else (error.strerror or str(error))
    where = [name for name in (error.filename, error.filename2) if name]
    return f"{' -> '.join(map(str, where))}: {what}" if where else what
