"""The data pipeline (Code Llama §2.2–2.3): sources → dedup → split → mix by tokens → FIM → packed windows.

Read in this order: ``sources`` (what a document is, the embedded defaults), ``config`` (the recipe), ``dedup``
(exact and MinHash near-dedup), ``corpus`` (build, split, train a tokenizer), ``mix`` (the 85 / 8 / 7 choice of
source), ``packing`` (FIM per document, windows, per-rank batches, resume). The FIM transform itself is
:mod:`codellama_lite.fim`.
"""

from codellama_lite.data.config import DataConfig, DataSection, default_data_config
from codellama_lite.data.corpus import Corpus, CorpusStats, build_corpus, train_tokenizer_for
from codellama_lite.data.packing import PackedStream, validation_sets, validation_windows
from codellama_lite.data.sources import Document

__all__ = ["Corpus", "CorpusStats", "DataConfig", "DataSection", "Document", "PackedStream", "build_corpus",
           "default_data_config", "train_tokenizer_for", "validation_sets",
           "validation_windows"]
