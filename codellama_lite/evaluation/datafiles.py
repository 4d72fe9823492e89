"""Reading benchmark data files: JSON lines, optionally gzipped, every error naming the file and line.

Unlike an append-only samples file, a data file's last line counts even without a newline.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from codellama_lite.support.fileio import iter_jsonl


def read_records(path: str | Path, what: str = "data") -> Iterator[tuple[int, dict]]:
    """Yield ``(line_number, record)`` for each non-blank line of a ``.jsonl`` or ``.jsonl.gz`` file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{what} file not found: {path}")
    yield from iter_jsonl(path)


def require(record: dict, field: str, kind: type | tuple[type, ...], path: str | Path, number: int) -> object:
    """``record[field]`` if present and of ``kind``; otherwise a ``ValueError`` naming file, line and field."""
    if field not in record:
        raise ValueError(f"{path}: line {number}: missing field {field!r}")
    value = record[field]
    if not isinstance(value, kind) or isinstance(value, bool) and kind is int:
        names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise ValueError(f"{path}: line {number}: field {field!r} must be {names}, got {type(value).__name__}")
    return value
