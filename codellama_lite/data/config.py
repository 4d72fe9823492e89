"""What the data pipeline is asked to build: sources, mix weights, context, FIM rates, split and dedup settings."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

# The paper's stage-1 mix (Code Llama §2.2, docs/paper_facts.md §5) over the embedded sources (see ``data.sources``).
DEFAULT_SOURCES = {"code": ["builtin:stdlib"], "nl_code": ["builtin:pydoc-topics"], "nl": ["builtin:prose"]}
DEFAULT_WEIGHTS = {"code": 0.85, "nl_code": 0.08, "nl": 0.07}
MIN_SEQ_LEN = 8  # windows of seq_len + 1 tokens must hold BOS, EOS, a FIM example's four markers and some text


@dataclass(frozen=True)
class DataConfig:
    """The data recipe; validated on construction, so a bad value fails before any file is read."""

    sources: dict[str, list[str]]  # source name -> list of paths/dirs, or builtin names like "builtin:stdlib"
    weights: dict[str, float]  # token shares by source (normalized), default 85 / 8 / 7
    seq_len: int  # model context; windows are seq_len + 1 tokens
    fim_rate: float = 0.9
    spm_rate: float = 0.5
    valid_fraction: float = 0.05  # by document, from a hash of (seed, path, content): independent of order
    seed: int = 0
    max_documents: int | None = None  # per source cap, for smoke profiles
    near_dup_threshold: float = 0.85  # Jaccard for MinHash LSH; 1.0 keeps near duplicates (exact dedup only)
    num_perm: int = 128  # MinHash permutations
    shingle_words: int = 5  # near-dedup shingles: runs of this many word tokens

    def __post_init__(self) -> None:
        self._check_sources()
        self._check_numbers()

    def _check_sources(self) -> None:
        if not self.sources:
            raise ValueError("sources: at least one data source is needed")
        for name, entries in self.sources.items():
            if isinstance(entries, str) or not entries:
                raise ValueError(f"sources[{name!r}] must be a non-empty list of paths or builtin names, "
                                 f"got {entries!r}")
        for name, weight in self.weights.items():
            if name not in self.sources:
                raise ValueError(f"weights[{name!r}]: unknown source (sources are {sorted(self.sources)})")
            if not isinstance(weight, (int, float)) or isinstance(weight, bool) or not weight > 0:
                raise ValueError(f"weights[{name!r}] must be a number > 0, got {weight!r}")
        missing = [name for name in self.sources if name not in self.weights]
        if missing:
            raise ValueError(f"weights: no weight for source(s) {missing}")

    def _check_numbers(self) -> None:
        if not isinstance(self.seq_len, int) or isinstance(self.seq_len, bool) or self.seq_len < MIN_SEQ_LEN:
            raise ValueError(f"seq_len must be an integer >= {MIN_SEQ_LEN} to pack BOS, EOS and a FIM example, "
                             f"got {self.seq_len!r}")
        for name in ("fim_rate", "spm_rate"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {value!r}")
        if not 0.0 < self.near_dup_threshold <= 1.0:
            raise ValueError(f"near_dup_threshold must be in (0, 1], got {self.near_dup_threshold!r}")
        if not 0.0 <= self.valid_fraction < 1.0:
            raise ValueError(f"valid_fraction must be in [0, 1), got {self.valid_fraction!r}")
        if self.max_documents is not None and self.max_documents < 1:
            raise ValueError(f"max_documents must be >= 1 or None, got {self.max_documents!r}")
        if self.num_perm < 2 or self.shingle_words < 1:
            raise ValueError(f"num_perm must be >= 2 and shingle_words >= 1, got {self.num_perm}, "
                             f"{self.shingle_words}")

    def shares(self) -> dict[str, float]:
        """The target token share of each source (weights normalized to sum to 1)."""
        total = sum(self.weights.values())
        return {name: weight / total for name, weight in self.weights.items()}


def default_data_config(seq_len: int, **overrides: Any) -> DataConfig:
    """The paper's 85 / 8 / 7 mix over the embedded sources, with any field overridden."""
    base = DataConfig(sources={k: list(v) for k, v in DEFAULT_SOURCES.items()}, weights=dict(DEFAULT_WEIGHTS),
                      seq_len=seq_len)
    unknown = set(overrides) - {f.name for f in dataclasses.fields(DataConfig)}
    if unknown:
        raise ValueError(f"unknown data config field(s): {sorted(unknown)}")
    return dataclasses.replace(base, **overrides)
