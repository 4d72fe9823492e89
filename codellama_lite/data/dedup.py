"""Exact and near deduplication of documents (Code Llama §2.2: "near-deduplicated publicly available code").

Exact duplicates share a SHA-256 of their text. Near duplicates are found with MinHash signatures of each document's
word shingles and locality-sensitive hashing (``datasketch``), then confirmed by the signatures' estimated Jaccard
similarity: a document whose similarity to an already kept one reaches the threshold is dropped. Documents are
visited in the order given, so the first of a group is kept; the result does not depend on anything else.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence

from datasketch import MinHash, MinHashLSH
from tqdm.auto import tqdm

from codellama_lite.data.sources import Document

_WORD = re.compile(r"\w+")
_MINHASH_BATCH = 256  # documents hashed per datasketch bulk call


def content_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def exact_dedup(documents: Sequence[Document]) -> tuple[list[Document], int]:
    """Drop documents whose text repeats an earlier one (and empty ones); returns the rest and how many went."""
    seen: set[str] = set()
    kept: list[Document] = []
    for document in documents:
        digest = content_hash(document.text)
        if document.text.strip() and digest not in seen:
            kept.append(document)
        seen.add(digest)
    return kept, len(documents) - len(kept)


def shingles(text: str, width: int) -> list[bytes]:
    """The distinct runs of ``width`` consecutive word tokens of ``text`` (the whole text if it has fewer)."""
    words = _WORD.findall(text)
    if len(words) <= width:
        return [" ".join(words).encode("utf-8")]
    return list({" ".join(words[i:i + width]).encode("utf-8") for i in range(len(words) - width + 1)})


def minhashes(documents: Sequence[Document], *, num_perm: int, width: int, progress: bool = True) -> list[MinHash]:
    """One MinHash signature per document (seeded: the same signatures on every machine)."""
    signatures: list[MinHash] = []
    for start in tqdm(range(0, len(documents), _MINHASH_BATCH), desc="minhash", unit="batch",
                      disable=not progress or len(documents) <= _MINHASH_BATCH):
        batch = documents[start:start + _MINHASH_BATCH]
        signatures += MinHash.bulk([shingles(document.text, width) for document in batch], num_perm=num_perm)
    return signatures


def near_dedup(documents: Sequence[Document], *, threshold: float, num_perm: int = 128, width: int = 5,
               progress: bool = True) -> tuple[list[Document], int]:
    """Drop documents whose estimated Jaccard similarity to a kept one is at least ``threshold``."""
    if threshold >= 1.0 or len(documents) < 2:
        return list(documents), 0
    index = MinHashLSH(threshold=threshold, num_perm=num_perm)
    kept: list[Document] = []
    signatures = minhashes(documents, num_perm=num_perm, width=width, progress=progress)
    kept_signatures: dict[str, MinHash] = {}
    for number, (document, signature) in enumerate(zip(documents, signatures)):
        candidates = index.query(signature)
        if any(signature.jaccard(kept_signatures[key]) >= threshold for key in candidates):
            continue
        key = str(number)
        index.insert(key, signature)
        kept_signatures[key] = signature
        kept.append(document)
    return kept, len(documents) - len(kept)
