"""Training text from the toy world: code files holding ``train`` problems with their solutions.

Each document is one to three problems, prompt then canonical body, separated by blank lines, as a Python file
would hold them. Only the ``train`` split is used, so ``valid``, ``test`` and ``heldout`` stay unseen.
"""

from __future__ import annotations

import random

from codellama_lite.toyworld.splits import iter_problems

MAX_PROBLEMS_PER_DOCUMENT = 3


def training_documents(seed: int, count: int) -> list[str]:
    """``count`` documents of ``train`` problems with solutions, the same for the same ``seed``."""
    if count < 0:
        raise ValueError(f"count must be non-negative, got {count}")
    rng = random.Random(f"toyworld/documents/{seed}")
    source = iter_problems("train", seed)
    documents = []
    for _ in range(count):
        size = rng.randint(1, MAX_PROBLEMS_PER_DOCUMENT)
        documents.append("\n\n".join(next(source).source() for _ in range(size)))
    return documents
