"""Chapter 1: the tokenizer — Code Llama's vocabulary layout, encodings, round trip, bad input and the CLI."""

from __future__ import annotations

import os
import pickle

import pytest
from sentencepiece import sentencepiece_model_pb2 as model_pb2

from codellama_lite.cli import main
from codellama_lite.experiments.tokenizer import newline_census
from codellama_lite.tokenizer import (EXTRA_PIECES, INFILLING_PIECES, LLAMA_TRAINER_OPTIONS, Tokenizer,
                                      extra_piece_names, read_corpus)
from conftest import SMALL_VOCAB

CODE = "def add(a, b):\n\treturn a + b  # sum\n\nprint(add(1, 2))\n"


def _proto(tokenizer: Tokenizer) -> model_pb2.ModelProto:
    proto = model_pb2.ModelProto()
    proto.ParseFromString(tokenizer.model_path.read_bytes())
    return proto


def _write_corpus(directory, files: dict[str, bytes]):
    directory.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        (directory / name).write_bytes(data)
    return directory


# --- vocabulary layout (Code Llama §2.3, docs/paper_facts.md §1) ---

def test_layout_of_the_small_tokenizer(small_tokenizer):
    tok = small_tokenizer
    assert tok.vocab_size == SMALL_VOCAB + 16
    assert (tok.prefix_id, tok.suffix_id, tok.middle_id, tok.eot_id) == tuple(SMALL_VOCAB + i for i in range(7, 11))
    assert [tok.id_to_piece(i) for i in range(SMALL_VOCAB + 7, SMALL_VOCAB + 11)] == list(INFILLING_PIECES)
    assert (tok.processor.unk_id(), tok.bos_id, tok.eos_id, tok.processor.pad_id()) == (0, 1, 2, -1)
    extra = range(SMALL_VOCAB, SMALL_VOCAB + 16)
    assert all(tok.processor.is_control(i) for i in extra)
    assert len({tok.id_to_piece(i) for i in extra}) == 16


def test_layout_arithmetic_for_a_32000_piece_base():
    names = extra_piece_names()
    assert len(names) == EXTRA_PIECES == 16
    ids = {name: 32000 + position for position, name in enumerate(names)}
    assert [ids[piece] for piece in INFILLING_PIECES] == [32007, 32008, 32009, 32010]
    assert 32000 + len(names) == 32016


def test_trained_with_llama_2_options(small_tokenizer):
    proto = _proto(small_tokenizer)
    spec, normalizer = proto.trainer_spec, proto.normalizer_spec
    assert spec.model_type == model_pb2.TrainerSpec.BPE
    assert spec.byte_fallback and spec.split_digits and spec.allow_whitespace_only_pieces
    assert not normalizer.remove_extra_whitespaces and normalizer.add_dummy_prefix
    assert normalizer.name == LLAMA_TRAINER_OPTIONS["normalization_rule_name"] == "identity"
    assert spec.vocab_size == SMALL_VOCAB
    assert sum(small_tokenizer.is_byte(i) for i in range(small_tokenizer.vocab_size)) == 256


@pytest.mark.parametrize("text", ["<PRE>", " <PRE>", "▁<PRE>", "x = '<SUF>'  <MID>\n<EOT>", "<reserved_0>", "<s></s>"])
def test_text_never_produces_a_special_id(small_tokenizer, text):
    tok = small_tokenizer
    special = set(range(SMALL_VOCAB, tok.vocab_size)) | {tok.bos_id, tok.eos_id}
    for ids in (tok.encode(text), tok.encode_infilling(text)):
        assert not special & set(ids)
    assert tok.decode(tok.encode(text)) == text.replace("▁", " ")  # SentencePiece reads U+2581 as its space mark


# --- encoding and decoding ---

def test_bos_and_eos(small_tokenizer):
    tok = small_tokenizer
    plain = tok.encode(CODE)
    assert tok.encode(CODE, bos=True) == [tok.bos_id] + plain
    assert tok.encode(CODE, bos=True, eos=True) == [tok.bos_id] + plain + [tok.eos_id]
    assert tok.decode(tok.encode(CODE, bos=True, eos=True)) == CODE


def test_implicit_leading_space_and_its_suppression(small_tokenizer):
    tok = small_tokenizer
    assert tok.pieces("return")[0].startswith("▁")
    assert not tok.id_to_piece(tok.encode_infilling("return")[0]).startswith("▁")
    assert tok.encode_infilling(" return x") == tok.encode("return x")
    assert tok.encode_infilling("") == tok.encode("") == []
    middle = tok.encode_infilling(" x + 1")
    assert tok.decode(middle) == "x + 1"  # plain decoding drops the leading space ...
    assert tok.decode_infilling(middle) == " x + 1"  # ... infilling decoding keeps it


def test_batch_encode_equals_one_by_one(small_tokenizer):
    texts = [CODE, "", " é中文 ", "\t\n", "<PRE>"] * 7
    assert small_tokenizer.encode_batch(texts, num_threads=2) == [small_tokenizer.encode(t) for t in texts]
    assert small_tokenizer.encode_batch(texts[:3], bos=True)[0] == small_tokenizer.encode(CODE, bos=True)


@pytest.mark.slow
def test_round_trip_on_every_file_of_the_default_corpus(small_tokenizer):
    texts, report = read_corpus()
    assert report.files_read > 100
    encoded = small_tokenizer.encode_batch(texts)
    decoded = small_tokenizer.decode_batch(encoded)
    mismatches = [i for i, (text, back) in enumerate(zip(texts, decoded)) if text != back]
    assert not mismatches, f"{len(mismatches)} files do not round-trip, first: {texts[mismatches[0]][:200]!r}"


def test_every_newline_falls_back_to_a_byte(small_tokenizer):
    census = newline_census(small_tokenizer, [CODE, "a\nb\r\n\n"])
    assert census.newlines == CODE.count("\n") + 3
    assert census.fallback_rate == 1.0
    assert 0 < census.share_of_tokens < 1


def test_pickles_with_its_model(small_tokenizer):
    clone = pickle.loads(pickle.dumps(small_tokenizer))
    assert clone.infill_prompt(CODE, " x\n") == small_tokenizer.infill_prompt(CODE, " x\n")
    assert clone.encode_infilling(" é") == small_tokenizer.encode_infilling(" é")


def test_decode_rejects_out_of_range_ids(small_tokenizer):
    with pytest.raises(ValueError, match="out of range"):
        small_tokenizer.decode([5, small_tokenizer.vocab_size])
    with pytest.raises(ValueError, match="out of range"):
        small_tokenizer.decode_batch([[5], [-1]])


# --- infilling prompts with Meta's layout where transformers differs (empty suffix, <FILL_ME>) ---

@pytest.mark.parametrize("prefix", ["", "def f(x):\n    ", "  a = 1"])
def test_empty_suffix_follows_meta_layout(small_tokenizer, prefix):
    tok = small_tokenizer
    assert tok.infill_prompt(prefix, "") == [tok.bos_id, tok.prefix_id, *tok.encode(prefix), tok.suffix_id,
                                             tok.middle_id]
    assert tok.infill_prompt(prefix, "", suffix_first=True) == [tok.bos_id, tok.prefix_id, tok.suffix_id,
                                                                tok.middle_id, *tok.encode(prefix)]


def test_fill_me_is_plain_text(small_tokenizer):
    tok = small_tokenizer
    prefix, suffix = "x = '<FILL_ME>'\n", "<FILL_ME> + 1"
    psm = tok.infill_prompt(prefix, suffix)
    assert psm.count(tok.prefix_id) == psm.count(tok.suffix_id) == psm.count(tok.middle_id) == 1
    cut = psm.index(tok.suffix_id)
    assert tok.decode(psm[2:cut]) == prefix
    assert tok.decode_infilling(psm[cut + 1:-1]) == suffix
    spm = tok.infill_prompt(prefix, suffix, suffix_first=True)
    assert spm[:3] == [tok.bos_id, tok.prefix_id, tok.suffix_id]
    cut = spm.index(tok.middle_id)
    assert tok.decode_infilling(spm[3:cut]) == suffix and tok.decode(spm[cut + 1:]) == prefix


def test_a_model_without_infilling_pieces(tmp_path):
    corpus = _write_corpus(tmp_path / "corpus", {"a.py": (CODE * 20).encode()})
    tok = Tokenizer.train(corpus, vocab_size=300, model_path=tmp_path / "plain.model", infilling=False)
    assert tok.vocab_size == 300 and not tok.has_infilling
    assert tok.decode(tok.encode(CODE)) == CODE
    with pytest.raises(ValueError, match="no infilling piece '▁<PRE>'"):
        tok.infill_prompt("a", "b")
    with pytest.raises(ValueError, match="▁<EOT>"):
        _ = tok.eot_id


def test_loads_a_foreign_sentencepiece_model(tmp_path):
    corpus = _write_corpus(tmp_path / "corpus", {"a.txt": ("the cat sat on the mat\n" * 50).encode()})
    tok = Tokenizer.train(corpus, vocab_size=40, model_path=tmp_path / "uni.model", infilling=False,
                          model_type="unigram", byte_fallback=False, bos_id=-1, eos_id=-1, hard_vocab_limit=False)
    assert tok.decode(tok.encode("the mat")) == "the mat"
    assert not tok.has_infilling


# --- the corpus and bad input ---

def test_unreadable_and_non_utf8_files_are_skipped_and_counted(tmp_path):
    corpus = _write_corpus(tmp_path / "corpus", {
        "good.py": (CODE * 30).encode(), "latin1.py": "café = 1\n".encode("latin-1"),
        "binary.bin": bytes(range(256)), ".hidden.py": b"\xff\xfe"})
    tok = Tokenizer.train(corpus, vocab_size=300, model_path=tmp_path / "m.model")
    report = tok.training_report
    assert (report.files_read, report.files_skipped) == (1, 2)
    assert sorted(os.path.basename(p) for p in report.skipped) == ["binary.bin", "latin1.py"]
    assert "2 skipped" in str(report)


def test_max_files_and_max_bytes_limit_the_corpus():
    assert read_corpus(max_files=3)[1].files_read == 3
    texts, report = read_corpus(max_bytes=1)
    assert report.files_read == 1 == len(texts)


@pytest.mark.parametrize("files", [{}, {"empty.py": b""}, {"blank.py": b"\n\n  \n"}, {"bad.py": b"\xff\xfe\xfa"}])
def test_empty_corpus_is_a_clear_error(tmp_path, files):
    corpus = _write_corpus(tmp_path / "corpus", files)
    with pytest.raises(ValueError, match="empty corpus"):
        Tokenizer.train(corpus, vocab_size=300, model_path=tmp_path / "m.model")
    assert not (tmp_path / "m.model").exists()


def test_missing_corpus_input_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere"):
        Tokenizer.train(tmp_path / "nowhere", vocab_size=300, model_path=tmp_path / "m.model")


@pytest.mark.parametrize("vocab_size, message", [(5000, r"vocab_size=5000 is more than this corpus supports"),
                                                 (100, r"vocab_size=100 is too small"),
                                                 (0, "positive integer"), ("300", "positive integer")])
def test_unsupported_vocab_size_is_a_clear_error_and_writes_nothing(tmp_path, vocab_size, message):
    corpus = _write_corpus(tmp_path / "corpus", {"a.py": (CODE * 20).encode()})
    target = tmp_path / "out" / "m.model"
    target.parent.mkdir()
    target.write_bytes(b"previous model")
    with pytest.raises(ValueError, match=message):
        Tokenizer.train(corpus, vocab_size=vocab_size, model_path=target)
    assert target.read_bytes() == b"previous model"
    assert os.listdir(target.parent) == ["m.model"]  # no half-written temporary file left behind


def test_missing_model_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="no.model"):
        Tokenizer(tmp_path / "no.model")


@pytest.mark.parametrize("damage", ["empty", "garbage", "truncated"])
def test_corrupt_model_file(tmp_path, small_tokenizer, damage):
    data = small_tokenizer.model_path.read_bytes()
    path = tmp_path / "bad.model"
    damaged = {"empty": b"", "garbage": b"\x00not a model\xff" * 40, "truncated": data[: len(data) // 2]}
    path.write_bytes(damaged[damage])
    with pytest.raises(ValueError, match="bad.model"):
        Tokenizer(path)


# --- the CLI ---

def test_cli_train_encode_decode_infill(tmp_path, capsys):
    corpus = _write_corpus(tmp_path / "corpus", {"a.py": (CODE * 20).encode(), "b.py": b"\xff"})
    model = tmp_path / "cli.model"
    assert main(["tokenizer", "train", str(corpus), "--vocab-size", "300", "--output", str(model)]) == 0
    out = capsys.readouterr().out
    assert "1 skipped" in out and "316 pieces" in out and "307 308 309 310" in out
    tok = Tokenizer(model)
    assert main(["tokenizer", "encode", "--model", str(model), "--bos", "return a"]) == 0
    ids = [int(i) for i in capsys.readouterr().out.split()]
    assert ids == tok.encode("return a", bos=True)
    assert main(["tokenizer", "decode", "--model", str(model), *map(str, ids)]) == 0
    assert capsys.readouterr().out == "return a\n"
    assert main(["tokenizer", "infill", "--model", str(model), "--prefix", "a", "--suffix", "b", "--spm"]) == 0
    assert [int(i) for i in capsys.readouterr().out.split()] == tok.infill_prompt("a", "b", suffix_first=True)


def test_cli_errors_are_one_line(tmp_path, capsys):
    assert main(["tokenizer", "encode", "--model", str(tmp_path / "none.model"), "x"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("codellama-lite: error:") and "none.model" in err and "\n" not in err
    assert main(["tokenizer", "train", str(tmp_path), "--vocab-size", "300", "-o", str(tmp_path / "m.model")]) == 2
    assert "empty corpus" in capsys.readouterr().err
