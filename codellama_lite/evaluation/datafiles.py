"""Reading benchmark data files: JSON lines, optionally gzipped, every error naming the file and line.

Unlike :func:`codellama_lite.fileio.read_jsonl` (made for append-only files, where an unterminated last line is a
write cut short), a data file's last line counts even without a newline.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from pathlib import Path


def read_records(path: str | Path, what: str = "data") -> Iterator[tuple[int, dict]]:
    """Yield ``(line_number, record)`` for each non-blank line of a ``.jsonl`` or ``.jsonl.gz`` file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{what} file not found: {path}")
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as error:
                raise ValueError(f"{path}: line {number} is not valid JSON ({error.msg})") from None
            if not isinstance(record, dict):
                raise ValueError(f"{path}: line {number} is not a JSON object")
            yield number, record


def require(record: dict, field: str, kind: type | tuple[type, ...], path: str | Path, number: int) -> object:
    """``record[field]`` if present and of ``kind``; otherwise a ``ValueError`` naming file, line and field."""
    if field not in record:
        raise ValueError(f"{path}: line {number}: missing field {field!r}")
    value = record[field]
    if not isinstance(value, kind) or isinstance(value, bool) and kind is int:
        names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise ValueError(f"{path}: line {number}: field {field!r} must be {names}, got {type(value).__name__}")
    return value
