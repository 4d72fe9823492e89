"""Training text from the toy world: code files holding ``train`` problems with their solutions.

Each document is one problem, prompt then canonical body, as a small Python file would hold it: about 100 tokens, so
most fit whole in the room left in a laptop context and can be transformed for fill-in-the-middle (Code Llama §2.3
transforms only documents not cut across contexts; files of one to three problems, tried first, fit so rarely at 256
tokens that only about 6% of the toy world's tokens were FIM'd at rate 0.9). Only the ``train`` split is used, so
``valid``, ``test`` and ``heldout`` stay unseen. Drawing tens of thousands of distinct problems takes a minute, so
the documents are kept in the cache folder (``$CODELLAMA_LITE_CACHE/toyworld/``), keyed by the seed, the count and
the generator's own source code.
"""

from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path

from codellama_lite.support.fileio import atomic_open, cache_root
from codellama_lite.data.toyworld.splits import problems


def training_documents(seed: int, count: int) -> list[str]:
    """``count`` documents of ``train`` problems with solutions, the same for the same ``seed`` (read from the cache
    when an earlier call made them)."""
    if count < 0:
        raise ValueError(f"count must be non-negative, got {count}")
    kept = cache_root() / "toyworld" / f"train-documents-{seed}-{count}-{_generator_digest()}.json"
    try:
        return json.loads(kept.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        pass
    documents = _draw_documents(seed, count)
    try:
        with atomic_open(kept) as handle:
            json.dump(documents, handle)
    except OSError:  # a read-only cache folder costs time, not results
        pass
    return documents


FILE_SEPARATOR = "\n\n\n"  # two blank lines between functions, as PEP 8 puts them


def training_files(seed: int, count: int, per_file: int | tuple[int, int] = 1) -> list[str]:
    """``count`` training problems (:func:`training_documents`) grouped into files, in order: ``per_file`` problems
    each, or, for ``(low, high)``, a number drawn uniformly from ``low``…``high`` for each file (seeded), as a
    repository holds short and long files; a last file may hold fewer."""
    low, high = (per_file, per_file) if isinstance(per_file, int) else per_file
    if not 1 <= low <= high:
        raise ValueError(f"problems per file must be at least 1 (low <= high), got {per_file}")
    documents = training_documents(seed, count)
    sizes = random.Random(f"toy-files/{seed}/{low}/{high}")
    files, start = [], 0
    while start < len(documents):
        size = sizes.randint(low, high)
        files.append(FILE_SEPARATOR.join(documents[start:start + size]))
        start += size
    return files


def _generator_digest() -> str:
    """A hash of the toy world's source files: a changed generator never reuses old documents."""
    digest = hashlib.sha256()
    for path in sorted(Path(__file__).parent.glob("*.py")):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def _draw_documents(seed: int, count: int) -> list[str]:
    return [problem.source() for problem in problems("train", seed, count)] if count else []
