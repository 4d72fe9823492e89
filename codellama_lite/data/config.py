"""What the data pipeline is asked to build: sources, mix weights, context, FIM rates, split and dedup settings.

:class:`DataSection` is a recipe's ``[data]`` section; :class:`DataConfig` adds the context length (a recipe sets it
in ``[train]``) and is what :func:`~codellama_lite.data.corpus.build_corpus` and the packer read. Both are validated
on construction (:mod:`codellama_lite.support.schema`), so a bad value fails, named, before any file is read.
"""

from __future__ import annotations

from typing import Annotated, Any, Self

from pydantic import Field, PositiveFloat, PositiveInt, model_validator

from codellama_lite.fim import FIM_RATE, SPM_RATE
from codellama_lite.support.schema import Section

# The paper's stage-1 mix (Code Llama §2.2, docs/paper_facts.md §5) over the embedded sources (see ``data.sources``).
DEFAULT_SOURCES = {"code": ["builtin:stdlib"], "nl_code": ["builtin:pydoc-topics"], "nl": ["builtin:prose"]}
DEFAULT_WEIGHTS = {"code": 0.85, "nl_code": 0.08, "nl": 0.07}
MIN_SEQ_LEN = 8  # windows of seq_len + 1 tokens must hold BOS, EOS, a FIM example's four markers and some text

Probability = Annotated[float, Field(ge=0.0, le=1.0)]


class DataSection(Section):
    """The data recipe: the sources and their token shares, FIM (§2.3), the split and deduplication."""

    # source name -> non-empty list of paths/dirs, or builtin names like "builtin:stdlib"
    sources: dict[str, Annotated[list[str], Field(min_length=1)]] = Field(
        default_factory=lambda: {name: list(paths) for name, paths in DEFAULT_SOURCES.items()}, min_length=1)
    weights: dict[str, PositiveFloat] = Field(default_factory=lambda: dict(DEFAULT_WEIGHTS))  # token shares
    fim_rate: Probability = FIM_RATE
    spm_rate: Probability = SPM_RATE
    # Share of FIM documents cut at line starts instead of characters. The paper cuts characters only (0); a model
    # trained on few tokens rarely sees a middle end at a newline, the shape of line-infilling benchmarks.
    fim_line_share: Probability = 0.0
    valid_fraction: float = Field(0.05, ge=0.0, lt=1.0)  # by document, from a hash of (seed, path, content)
    seed: int | None = None  # None: the recipe's train.seed
    max_documents: PositiveInt | None = None  # per source cap, for smoke profiles
    near_dup_threshold: float = Field(0.85, gt=0.0, le=1.0)  # MinHash LSH Jaccard; 1.0 keeps near duplicates
    num_perm: int = Field(128, ge=2)  # MinHash permutations
    shingle_words: PositiveInt = 5  # near-dedup shingles: runs of this many word tokens

    @model_validator(mode="after")
    def _weights_match_sources(self) -> Self:
        unknown = sorted(set(self.weights) - set(self.sources))
        if unknown:
            raise ValueError(f"weights {unknown}: unknown source (sources are {sorted(self.sources)})")
        missing = [name for name in self.sources if name not in self.weights]
        if missing:
            raise ValueError(f"weights: no weight for source(s) {missing}")
        return self


class DataConfig(DataSection):
    """The data recipe with the model's context: windows are ``seq_len + 1`` tokens."""

    seq_len: int = Field(ge=MIN_SEQ_LEN)
    seed: int = 0

    def shares(self) -> dict[str, float]:
        """The target token share of each source (weights normalized to sum to 1)."""
        total = sum(self.weights.values())
        return {name: weight / total for name, weight in self.weights.items()}


def default_data_config(seq_len: int, **overrides: Any) -> DataConfig:
    """The paper's 85 / 8 / 7 mix over the embedded sources, with any field overridden."""
    return DataConfig(seq_len=seq_len, **overrides)
