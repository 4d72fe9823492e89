"""Training text from the toy world: code files holding ``train`` problems with their solutions.

Each document is one to three problems, prompt then canonical body, separated by blank lines, as a Python file
would hold them. Only the ``train`` split is used, so ``valid``, ``test`` and ``heldout`` stay unseen.
Drawing tens of thousands of distinct problems takes a minute, so the documents are kept in the cache folder
(``$CODELLAMA_LITE_CACHE/toyworld/``), keyed by the seed, the count and the generator's own source code.
"""

from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path

from codellama_lite.fileio import atomic_open, cache_root
from codellama_lite.toyworld.splits import iter_problems

MAX_PROBLEMS_PER_DOCUMENT = 3


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


def _generator_digest() -> str:
    """A hash of the toy world's source files: a changed generator never reuses old documents."""
    digest = hashlib.sha256()
    for path in sorted(Path(__file__).parent.glob("*.py")):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def _draw_documents(seed: int, count: int) -> list[str]:
    rng = random.Random(f"toyworld/documents/{seed}")
    source = iter_problems("train", seed)
    documents = []
    for _ in range(count):
        size = rng.randint(1, MAX_PROBLEMS_PER_DOCUMENT)
        documents.append("\n\n".join(next(source).source() for _ in range(size)))
    return documents
