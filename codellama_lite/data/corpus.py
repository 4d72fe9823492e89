"""From a :class:`DataConfig` to a deduplicated, split corpus (Code Llama §2.2).

Read every source, drop exact then near duplicates (across all sources, first seen kept: sources in config order,
files in sorted order), and split by document into train and validation. A document goes to validation when a hash
of (seed, path, content) falls below ``valid_fraction``: the split never depends on the order documents were read,
and a small corpus still gets one validation document (the one with the smallest hash).
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from codellama_lite.data.config import DataConfig
from codellama_lite.data.dedup import content_hash, exact_dedup, near_dedup
from codellama_lite.data.sources import Document, read_source
from codellama_lite.tokenizer import Tokenizer


@dataclass
class CorpusStats:
    """What :func:`build_corpus` read, removed and kept."""

    documents_read: dict[str, int] = field(default_factory=dict)  # per source, before dedup
    documents: dict[str, int] = field(default_factory=dict)  # per source, after dedup
    languages: dict[str, int] = field(default_factory=dict)  # documents per language, after dedup
    bytes: dict[str, int] = field(default_factory=dict)  # UTF-8 bytes per source, after dedup
    exact_duplicates: int = 0
    near_duplicates: int = 0
    skipped_files: list[str] = field(default_factory=list)  # unreadable or not UTF-8
    train_documents: int = 0
    valid_documents: int = 0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Corpus:
    """The deduplicated documents, split by document into train and validation."""

    train: list[Document]
    valid: list[Document]
    stats: CorpusStats


def build_corpus(config: DataConfig, *, progress: bool = True) -> Corpus:
    """Read, exact-dedup, near-dedup (MinHash + LSH over word shingles) and split the configured sources."""
    stats = CorpusStats()
    documents: list[Document] = []
    for source, entries in config.sources.items():
        read, skipped = read_source(source, entries, config.max_documents)
        documents += read
        stats.skipped_files += skipped
        stats.documents_read[source] = len(read)
    documents, stats.exact_duplicates = exact_dedup(documents)
    documents, stats.near_duplicates = near_dedup(documents, threshold=config.near_dup_threshold,
                                                  num_perm=config.num_perm, width=config.shingle_words,
                                                  progress=progress)
    _check_sources_left(documents, config, stats)
    _count(documents, stats)
    train, valid = split(documents, config.valid_fraction, config.seed)
    stats.train_documents, stats.valid_documents = len(train), len(valid)
    return Corpus(train, valid, stats)


def _check_sources_left(documents: list[Document], config: DataConfig, stats: CorpusStats) -> None:
    left = Counter(document.source for document in documents)
    for source, entries in config.sources.items():
        if not left[source]:
            raise ValueError(f"source {source!r} ({', '.join(map(str, entries))}) is empty after reading and "
                             f"dedup: {stats.documents_read[source]} documents read, "
                             f"{len(stats.skipped_files)} files skipped")


def _count(documents: list[Document], stats: CorpusStats) -> None:
    stats.documents = dict(Counter(document.source for document in documents))
    stats.languages = dict(Counter(document.language for document in documents).most_common())
    stats.bytes = dict.fromkeys(stats.documents, 0)
    for document in documents:
        stats.bytes[document.source] += len(document.text.encode("utf-8"))


def split_key(document: Document, seed: int) -> float:
    """A number in [0, 1) fixed by (seed, path, content): the document's place in the train/validation split."""
    digest = hashlib.sha256(f"{seed}\0{document.path}\0{content_hash(document.text)}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def split(documents: list[Document], valid_fraction: float, seed: int) -> tuple[list[Document], list[Document]]:
    """Train and validation documents, in their original order; validation gets at least one if it may have any."""
    keys = [split_key(document, seed) for document in documents]
    in_valid = [key < valid_fraction for key in keys]
    if valid_fraction > 0 and not any(in_valid) and len(documents) > 1:
        in_valid[keys.index(min(keys))] = True
    train = [d for d, v in zip(documents, in_valid) if not v]
    valid = [d for d, v in zip(documents, in_valid) if v]
    return train, valid


def train_tokenizer_for(corpus: Corpus, vocab_size: int, path: str | os.PathLike[str],
                        **options: Any) -> Tokenizer:
    """A SentencePiece tokenizer (Llama 2 options, Code Llama's infilling pieces) trained on the training documents.

    :meth:`Tokenizer.train` reads files, not texts, and some documents are not files (``pydoc_data`` topics), so the
    training documents are written to a temporary folder first, one file each. ``options`` go to ``Tokenizer.train``.
    """
    with tempfile.TemporaryDirectory(prefix="codellama-lite-tokenizer-") as folder:
        for number, document in enumerate(corpus.train):
            Path(folder, f"{number:07d}.txt").write_text(document.text, encoding="utf-8")
        return Tokenizer.train(folder, vocab_size=vocab_size, model_path=path, **options)
