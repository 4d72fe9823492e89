"""Code Llama's tokenizer: Llama 2's SentencePiece BPE plus four infilling tokens (Code Llama §2.2, §2.3).

Read top to bottom:

1. the corpus — files of any language, read as UTF-8; unreadable or non-UTF-8 files are skipped and counted;
2. training — SentencePiece BPE with Llama 2's trainer options, then Code Llama's 16 extra pieces appended so that
   ``▁<PRE> ▁<SUF> ▁<MID> ▁<EOT>`` sit at ``V+7 … V+10`` of a ``V``-piece base vocabulary (32007–32010 for 32,000);
3. :class:`Tokenizer` — load any SentencePiece model, encode and decode, and build the infilling prompts
   (PSM and SPM, §2.3) with the suffix encoded without SentencePiece's implicit leading space;
4. measurements the notebook reports: bytes per token and where newlines go.
"""

from __future__ import annotations

import io
import os
import re
import sysconfig
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import sentencepiece as spm

from codellama_lite.support.fileio import atomic_open

# Corpus inputs: one path or many (files and directories); None means the default corpus (the standard library).
Inputs = str | os.PathLike[str] | Iterable[str | os.PathLike[str]] | None

# --- 1. The corpus -------------------------------------------------------------------------------------------------


@dataclass
class CorpusReport:
    """What :func:`read_corpus` read and what it skipped (unreadable or not UTF-8)."""

    files_read: int = 0
    bytes_read: int = 0
    skipped: list[str] = field(default_factory=list)

    @property
    def files_skipped(self) -> int:
        return len(self.skipped)

    def __str__(self) -> str:
        return (f"{self.files_read} files, {self.bytes_read:,} bytes read; "
                f"{self.files_skipped} skipped (unreadable or not UTF-8)")


def default_corpus_files() -> list[Path]:
    """The embedded default corpus: every ``.py`` file of the running interpreter's standard library, sorted."""
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    return sorted(path for path in stdlib.rglob("*.py")
                  if "site-packages" not in path.parts and "dist-packages" not in path.parts and path.is_file())


def corpus_files(inputs: Inputs = None) -> list[Path]:
    """Expand ``inputs`` (files and directories; ``None`` = the standard library) into a sorted list of files.

    Directories are walked recursively; hidden files and folders (``.git`` …) are left out.
    """
    if inputs is None:
        return default_corpus_files()
    if isinstance(inputs, (str, os.PathLike)):
        inputs = [inputs]
    files: list[Path] = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            files += sorted(p for p in path.rglob("*") if p.is_file()
                            and not any(part.startswith(".") for part in p.relative_to(path).parts))
        elif path.is_file():
            files.append(path)
        else:
            raise FileNotFoundError(f"corpus input not found: {path}")
    return files


def read_corpus(inputs: Inputs = None, *, max_files: int | None = None,
                max_bytes: int | None = None) -> tuple[list[str], CorpusReport]:
    """Read the corpus as texts, one per file, stopping after ``max_files`` files or ``max_bytes`` bytes.

    A file that cannot be read or is not valid UTF-8 is skipped and listed in the report, never fatal.
    """
    texts: list[str] = []
    report = CorpusReport()
    for path in corpus_files(inputs):
        if (max_files is not None and report.files_read >= max_files) or \
                (max_bytes is not None and report.bytes_read >= max_bytes):
            break
        try:
            data = path.read_bytes()
            text = data.decode("utf-8")
        except (OSError, UnicodeDecodeError):
            report.skipped.append(str(path))
            continue
        texts.append(text)
        report.files_read += 1
        report.bytes_read += len(data)
    return texts, report


def cpu_cores() -> int:
    """The cores this process may use (batch encoding and training use them all)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


# --- 2. Training ----------------------------------------------------------------------------------------------------

# Llama 2's trainer options: docs/paper_facts.md §1, plus the rest of the trainer_spec stored in Llama 2's
# tokenizer.model (as printed in karpathy/llama2.c doc/train_llama_tokenizer.md). With the identity normalizer and no
# whitespace clean-up, decode(encode(x)) == x; byte fallback means no text is ever unknown.
LLAMA_TRAINER_OPTIONS: dict[str, object] = {
    "model_type": "bpe",
    "byte_fallback": True,
    "split_digits": True,
    "allow_whitespace_only_pieces": True,
    "remove_extra_whitespaces": False,
    "normalization_rule_name": "identity",
    "add_dummy_prefix": True,
    "character_coverage": 0.99995,
    "max_sentence_length": 4192,
    "max_sentencepiece_length": 16,
    "split_by_unicode_script": True,
    "split_by_number": True,
    "split_by_whitespace": True,
    "unk_id": 0,
    "bos_id": 1,
    "eos_id": 2,
    "pad_id": -1,
}

# Code Llama's infilling pieces (§2.3), by name; the leading "▁" is part of each name.
PREFIX_PIECE, SUFFIX_PIECE, MIDDLE_PIECE, EOT_PIECE = "▁<PRE>", "▁<SUF>", "▁<MID>", "▁<EOT>"
INFILLING_PIECES = (PREFIX_PIECE, SUFFIX_PIECE, MIDDLE_PIECE, EOT_PIECE)
EXTRA_PIECES = 16  # Code Llama's FIM vocabulary is 32,000 + 16 = 32,016 pieces
INFILLING_OFFSET = 7  # ▁<PRE> sits at base vocabulary size + 7 (32007)


def extra_piece_names() -> list[str]:
    """The 16 pieces appended after the base vocabulary: reserved slots around the four infilling pieces."""
    reserved = iter(f"<reserved_{i}>" for i in range(EXTRA_PIECES - len(INFILLING_PIECES)))
    return [INFILLING_PIECES[i - INFILLING_OFFSET] if 0 <= i - INFILLING_OFFSET < len(INFILLING_PIECES)
            else next(reserved) for i in range(EXTRA_PIECES)]


def add_infilling_pieces(proto: "spm.sentencepiece_model_pb2.ModelProto") -> None:
    """Append Code Llama's 16 extra pieces to a trained model, all of type CONTROL.

    CONTROL pieces are never produced from text, so a literal ``<PRE>`` in source code keeps its ordinary pieces;
    only :meth:`Tokenizer.infill_prompt` (and the FIM transform) can emit the special ids.
    """
    from sentencepiece import sentencepiece_model_pb2 as model_pb2

    existing = {piece.piece for piece in proto.pieces}
    clashes = [name for name in extra_piece_names() if name in existing]
    if clashes:
        raise ValueError(f"the trained vocabulary already contains {clashes}; cannot add them as special pieces")
    for name in extra_piece_names():
        piece = proto.pieces.add()
        piece.piece, piece.score, piece.type = name, 0.0, model_pb2.ModelProto.SentencePiece.CONTROL


def extend_tokenizer(source: str | os.PathLike[str], out: str | os.PathLike[str]) -> "Tokenizer":
    """Write to ``out`` the SentencePiece model ``source`` with Code Llama's 16 extra pieces appended (§2.3).

    Llama 2's 32,000-piece ``tokenizer.model`` becomes Code Llama's 32,016-piece one, ``▁<PRE>`` at 32007: every
    existing piece keeps its id and score, so every text encodes as before. A model that already has the infilling
    pieces is copied unchanged. The file is written atomically.
    """
    from sentencepiece import sentencepiece_model_pb2 as model_pb2

    original = Tokenizer(source)
    proto = model_pb2.ModelProto()
    proto.ParseFromString(original.processor.serialized_model_proto())
    if not original.has_infilling:
        add_infilling_pieces(proto)
    with atomic_open(out, "wb") as handle:
        handle.write(proto.SerializeToString())
    return Tokenizer(out)


def _training_sentences(texts: Iterable[str]) -> Iterator[str]:
    """Llama's SentencePiece sees lines, so a newline is never inside a piece: it falls back to the byte <0x0A>."""
    for text in texts:
        for line in text.split("\n"):
            if line:
                yield line


def _train_proto(texts: list[str], vocab_size: int, options: dict[str, object]) -> bytes:
    """Run the SentencePiece trainer in memory; turn its failures into one clear ``ValueError``."""
    sink = io.BytesIO()
    try:
        spm.SentencePieceTrainer.train(sentence_iterator=_training_sentences(texts), model_writer=sink,
                                       vocab_size=vocab_size, **options)
    except RuntimeError as error:
        message = str(error)
        too_high = re.search(r"value <= (\d+)", message)
        too_low = re.search(r"required_chars\. (\d+) vs (\d+)", message)
        if too_high:
            raise ValueError(f"vocab_size={vocab_size} is more than this corpus supports "
                             f"(at most {too_high.group(1)}); use a larger corpus or a smaller vocab_size") from None
        if too_low:
            raise ValueError(f"vocab_size={vocab_size} is too small for this corpus: it needs at least "
                             f"{too_low.group(2)} pieces for its characters, bytes and special tokens") from None
        if "sentences_.empty()" in message:
            raise ValueError("empty corpus: no non-empty lines to train on") from None
        raise ValueError(f"SentencePiece training failed: {message}") from None
    return sink.getvalue()


# --- 3. The tokenizer -----------------------------------------------------------------------------------------------


class Tokenizer:
    """A SentencePiece model with Code Llama's infilling tokens (Code Llama §2.2, §2.3).

    ``Tokenizer(model_path)`` loads any SentencePiece model, including a real Code Llama ``tokenizer.model``; the
    infilling tokens are found by piece name. A model without them encodes and decodes plain text, and raises a clear
    ``ValueError`` when asked to infill.
    """

    def __init__(self, model_path: str | os.PathLike[str]) -> None:
        self.model_path = Path(model_path)
        if not self.model_path.is_file():
            raise FileNotFoundError(f"tokenizer model not found: {self.model_path}")
        self._init_from_bytes(self.model_path.read_bytes(), str(self.model_path))
        self.training_report: CorpusReport | None = None

    def __getstate__(self) -> dict[str, object]:
        """Pickle the model's bytes, not the file name (for data-loader workers and process pools)."""
        return {"model_path": self.model_path, "model": self.processor.serialized_model_proto(),
                "training_report": self.training_report}

    def __setstate__(self, state: dict[str, object]) -> None:
        self.model_path = state["model_path"]
        self._init_from_bytes(state["model"], str(self.model_path))
        self.training_report = state["training_report"]

    def _init_from_bytes(self, data: bytes, name: str) -> None:
        from google.protobuf.message import DecodeError
        from sentencepiece import sentencepiece_model_pb2 as model_pb2

        proto = model_pb2.ModelProto()
        try:
            proto.ParseFromString(data)
        except DecodeError:
            proto.Clear()
        if not proto.pieces:
            raise ValueError(f"not a SentencePiece model (corrupt or empty file): {name}")
        try:
            self.processor = spm.SentencePieceProcessor(model_proto=data)
            # A twin whose normalizer adds no dummy prefix: Code Llama's encoding of the suffix and the middle.
            proto.normalizer_spec.add_dummy_prefix = False
            self._no_prefix = spm.SentencePieceProcessor(model_proto=proto.SerializeToString())
        except RuntimeError as error:
            raise ValueError(f"not a valid SentencePiece model: {name} ({error})") from None
        self._special = {piece: self._find_piece(piece) for piece in INFILLING_PIECES}

    def _find_piece(self, name: str) -> int | None:
        index = self.processor.piece_to_id(name)
        return index if self.processor.id_to_piece(index) == name else None

    # -- training --

    @classmethod
    def train(cls, inputs: Inputs = None, *, vocab_size: int, model_path: str | os.PathLike[str],
              max_files: int | None = None, max_bytes: int | None = None, infilling: bool = True,
              num_threads: int | None = None, **trainer_options: object) -> "Tokenizer":
        """Train Llama 2-style SentencePiece BPE with ``vocab_size`` base pieces and write it to ``model_path``.

        ``inputs``: files and directories of any language (default: the standard library's ``.py`` files).
        With ``infilling`` (default), Code Llama's 16 extra pieces are appended: the model has ``vocab_size + 16``
        pieces, ``▁<PRE>`` at ``vocab_size + 7``. ``trainer_options`` override :data:`LLAMA_TRAINER_OPTIONS`.
        The model file is written atomically; ``tokenizer.training_report`` says what was read and skipped.
        """
        from sentencepiece import sentencepiece_model_pb2 as model_pb2

        if not isinstance(vocab_size, int) or isinstance(vocab_size, bool) or vocab_size <= 0:
            raise ValueError(f"vocab_size must be a positive integer, got {vocab_size!r}")
        texts, report = read_corpus(inputs, max_files=max_files, max_bytes=max_bytes)
        if not any(text.strip() for text in texts):
            where = "the standard library" if inputs is None else str(inputs)
            raise ValueError(f"empty corpus: no readable UTF-8 text in {where} ({report})")
        options = {**LLAMA_TRAINER_OPTIONS, "num_threads": num_threads or cpu_cores(), "minloglevel": 2,
                   **trainer_options}
        proto = model_pb2.ModelProto()
        proto.ParseFromString(_train_proto(texts, vocab_size, options))
        if infilling:
            add_infilling_pieces(proto)
        with atomic_open(model_path, "wb") as handle:
            handle.write(proto.SerializeToString())
        tokenizer = cls(model_path)
        tokenizer.training_report = report
        return tokenizer

    # -- vocabulary --

    @property
    def vocab_size(self) -> int:
        return self.processor.get_piece_size()

    @property
    def bos_id(self) -> int:
        return self.processor.bos_id()

    @property
    def eos_id(self) -> int:
        return self.processor.eos_id()

    @property
    def has_infilling(self) -> bool:
        """Whether the model has all four infilling pieces (Code Llama 7B/13B/70B do; 34B and Python do not)."""
        return all(index is not None for index in self._special.values())

    def _special_id(self, piece: str) -> int:
        index = self._special[piece]
        if index is None:
            raise ValueError(f"this tokenizer has no infilling piece {piece!r} (model: {self.model_path}); "
                             f"it encodes plain text only")
        return index

    @property
    def prefix_id(self) -> int:
        return self._special_id(PREFIX_PIECE)

    @property
    def suffix_id(self) -> int:
        return self._special_id(SUFFIX_PIECE)

    @property
    def middle_id(self) -> int:
        return self._special_id(MIDDLE_PIECE)

    @property
    def eot_id(self) -> int:
        return self._special_id(EOT_PIECE)

    def id_to_piece(self, index: int) -> str:
        return self.processor.id_to_piece(int(index))

    def piece_to_id(self, piece: str) -> int:
        return self.processor.piece_to_id(piece)

    def is_byte(self, index: int) -> bool:
        """Whether ``index`` is a byte-fallback piece such as ``<0x0A>``."""
        return self.processor.is_byte(int(index))

    # -- plain text --

    def encode(self, text: str, bos: bool = False, eos: bool = False) -> list[int]:
        """Token ids of ``text`` (with SentencePiece's implicit leading space), optionally framed by BOS / EOS."""
        return self.processor.encode(text, add_bos=bos, add_eos=eos)

    def encode_batch(self, texts: Sequence[str], bos: bool = False, eos: bool = False,
                     num_threads: int | None = None) -> list[list[int]]:
        """Encode many texts on ``num_threads`` threads (default: every core)."""
        return self.processor.encode(list(texts), add_bos=bos, add_eos=eos, num_threads=num_threads or cpu_cores())

    def decode_batch(self, batch: Sequence[Sequence[int]], num_threads: int | None = None) -> list[str]:
        """Decode many id lists on ``num_threads`` threads (default: every core)."""
        threads = num_threads or cpu_cores()
        try:
            try:
                return self.processor.decode(list(batch), num_threads=threads)
            except TypeError:  # numpy or torch integers: convert, then decode
                return self.processor.decode([[int(i) for i in ids] for ids in batch], num_threads=threads)
        except IndexError:
            raise self._out_of_range([int(i) for ids in batch for i in ids]) from None

    def pieces(self, text: str) -> list[str]:
        """The pieces of ``text``, as strings (``▁`` marks a space)."""
        return self.processor.encode(text, out_type=str)

    def decode(self, ids: Iterable[int]) -> str:
        """Text of ``ids``; special and control ids decode to nothing, the implicit leading space is removed."""
        return self._decode_with(self.processor, ids)

    # -- infilling (Code Llama §2.3) --

    def encode_infilling(self, text: str) -> list[int]:
        """Token ids of ``text`` without the implicit leading space: how Code Llama encodes suffix and middle."""
        return self._no_prefix.encode(text)

    def decode_infilling(self, ids: Iterable[int]) -> str:
        """Text of ``ids`` keeping a leading space: how Code Llama decodes a generated middle."""
        return self._decode_with(self._no_prefix, ids)

    def _decode_with(self, processor: spm.SentencePieceProcessor, ids: Iterable[int]) -> str:
        ids = [int(i) for i in ids]
        try:
            return processor.decode(ids)
        except IndexError:
            raise self._out_of_range(ids) from None

    def _out_of_range(self, ids: list[int]) -> ValueError:
        bad = [i for i in ids if not 0 <= i < self.vocab_size]
        return ValueError(f"token ids out of range 0..{self.vocab_size - 1}: {bad[:10]}")

    def infill_prompt(self, prefix: str, suffix: str, suffix_first: bool = False) -> list[int]:
        """The prompt that asks the model for the middle between ``prefix`` and ``suffix`` (docs/paper_facts.md §2).

        PSM: ``[BOS, PRE] enc(prefix) [SUF] enc_nospace(suffix) [MID]``;
        SPM (``suffix_first``): ``[BOS, PRE, SUF] enc_nospace(suffix) [MID] enc(prefix)``.
        Generation continues from here and stops at :attr:`eot_id`.
        """
        pre, suf, mid = self.prefix_id, self.suffix_id, self.middle_id
        if suffix_first:
            return [self.bos_id, pre, suf, *self.encode_infilling(suffix), mid, *self.encode(prefix)]
        return [self.bos_id, pre, *self.encode(prefix), suf, *self.encode_infilling(suffix), mid]

    # -- the vocabulary as byte-level merges (chapter 1 builds an encoder that reproduces ``encode`` with it) --

    def byte_merge_ranks(self) -> dict[bytes, int]:
        """The learned pieces as UTF-8 bytes (``▁`` read as a space), ranked by score, best first (rank 0 …).

        SentencePiece's BPE encoder merges, again and again, the adjacent pair of symbols whose concatenation is the
        best-scored piece (the leftmost on ties). Run over the *bytes* of ``" " + text`` with these ranks, the same rule
        gives ``encode(text)`` token for token (:meth:`ids_from_byte_pieces`): every character of the vocabulary and
        each of its leading byte runs rank first (they form characters before anything else merges), then the
        multi-character pieces in SentencePiece's order. Bytes that form no piece are byte-fallback tokens.
        """
        ranked = sorted((-self.processor.get_score(i), i) for i in range(self.vocab_size) if self._is_text_piece(i))
        pieces = [self.id_to_piece(i).replace("▁", " ").encode("utf-8") for _, i in ranked]
        characters = [piece for piece in pieces if len(piece.decode("utf-8")) == 1]
        ranks = {piece[:end]: 0 for piece in characters for end in range(2, len(piece) + 1)}
        for rank, piece in enumerate(pieces, start=1):
            if len(piece.decode("utf-8")) > 1:
                ranks[piece] = rank
        return ranks

    def ids_from_byte_pieces(self, pieces: Sequence[bytes]) -> list[int]:
        """The ids of byte-level pieces: a piece of the vocabulary by its id, anything else as byte-fallback ids."""
        lookup = {self.id_to_piece(i).replace("▁", " ").encode("utf-8"): i for i in range(self.vocab_size)
                  if self._is_text_piece(i)}
        ids: list[int] = []
        for piece in pieces:
            ids += [lookup[piece]] if piece in lookup else [self.piece_to_id(f"<0x{byte:02X}>") for byte in piece]
        return ids

    def _is_text_piece(self, index: int) -> bool:
        """A piece text can encode to (not a control, unknown, unused or byte piece)."""
        processor = self.processor
        return not (processor.is_control(index) or processor.is_unknown(index) or processor.is_unused(index)
                    or processor.is_byte(index))

    def __repr__(self) -> str:
        return f"Tokenizer({str(self.model_path)!r}, vocab_size={self.vocab_size}, infilling={self.has_infilling})"
