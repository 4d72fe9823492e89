"""The corpus (Code Llama §2.2): sources, languages, exact and near dedup, deterministic split, bad input."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from codellama_lite.data import DataConfig, Document, build_corpus, default_data_config, train_tokenizer_for
from codellama_lite.data.corpus import split
from codellama_lite.data.sources import language_of

WORDS = ("alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi omicron pi rho sigma tau "
         "upsilon phi chi psi omega").split()


def prose(seed: int, words: int = 300) -> str:
    rng = random.Random(seed)
    return " ".join(rng.choice(WORDS) + str(rng.randint(0, 99)) for _ in range(words)) + "\n"


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """Six distinct files, one exact copy, one near copy (one word changed of 300), one non-UTF-8 file."""
    (tmp_path / "src").mkdir()
    for number in range(6):
        (tmp_path / "src" / f"file{number}.{['py', 'c', 'rs', 'md', 'txt', 'weird'][number]}").write_text(
            prose(number), encoding="utf-8")
    (tmp_path / "src" / "zcopy.py").write_text(prose(0), encoding="utf-8")
    near = prose(1).split(" ")
    near[150] = "changed"
    (tmp_path / "src" / "znear.c").write_text(" ".join(near), encoding="utf-8")
    (tmp_path / "src" / "latin1.py").write_bytes("caf\xe9 = 1\n".encode("latin-1"))
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "a.md").write_text(prose(100), encoding="utf-8")
    return tmp_path


def config_for(tree: Path, **overrides) -> DataConfig:
    return DataConfig(sources={"code": [str(tree / "src")], "nl": [str(tree / "notes")]},
                      weights={"code": 0.9, "nl": 0.1}, seq_len=64, **overrides)


def test_dedup_counts_languages_and_skips(tree):
    corpus = build_corpus(config_for(tree), progress=False)
    stats = corpus.stats
    assert stats.documents_read == {"code": 8, "nl": 1}
    assert (stats.exact_duplicates, stats.near_duplicates) == (1, 1)
    assert stats.documents == {"code": 6, "nl": 1}
    assert stats.skipped_files == [str(tree / "src" / "latin1.py")]
    kept = {Path(d.path).name for d in corpus.train + corpus.valid}
    assert "zcopy.py" not in kept and "znear.c" not in kept and "file0.py" in kept and "file1.c" in kept
    assert stats.languages == {"python": 1, "c": 1, "rust": 1, "markdown": 2, "text": 1, "weird": 1}
    assert stats.bytes["nl"] == len(prose(100).encode())
    assert stats.train_documents + stats.valid_documents == 7 and stats.valid_documents >= 1


def test_near_dedup_can_be_turned_off(tree):
    assert build_corpus(config_for(tree, near_dup_threshold=1.0), progress=False).stats.near_duplicates == 0


def test_language_from_extension():
    assert [language_of(p) for p in ("a.py", "b.H", "c.RS", "LICENSE", "d.xyz", "e.md")] == \
        ["python", "c", "rust", "text", "xyz", "markdown"]


def test_split_depends_on_content_path_and_seed_not_order():
    documents = [Document(prose(n, 20), "code", "python", f"f{n}.py") for n in range(400)]
    train, valid = split(documents, 0.1, seed=0)
    shuffled = documents[:]
    random.Random(1).shuffle(shuffled)
    assert {d.path for d in split(shuffled, 0.1, seed=0)[1]} == {d.path for d in valid}
    assert 20 <= len(valid) <= 60 and len(train) + len(valid) == 400
    assert {d.path for d in split(documents, 0.1, seed=1)[1]} != {d.path for d in valid}


@pytest.fixture(scope="module")
def builtin_corpus():
    return build_corpus(default_data_config(128, max_documents=12), progress=False)


def test_builtin_sources_are_all_present(builtin_corpus):
    corpus = builtin_corpus
    assert set(corpus.stats.documents) == {"code", "nl_code", "nl"}
    assert all(0 < n <= 12 for n in corpus.stats.documents_read.values())
    by_source = {d.source: d for d in corpus.train + corpus.valid}
    assert by_source["code"].language == "python" and "pydoc_data" in by_source["nl_code"].path


@pytest.mark.parametrize("change, error, named", [
    (dict(weights={"code": 1.0, "nl": 0.1, "web": 0.5}), ValueError, "web"),
    (dict(weights={"code": 1.0, "nl": 0.0}), ValueError, "nl"),
    (dict(weights={"code": 1.0}), ValueError, "nl"),
    (dict(seq_len=4), ValueError, "seq_len"),
    (dict(fim_rate=1.5), ValueError, "fim_rate"),
    (dict(valid_fraction=1.0), ValueError, "valid_fraction"),
])
def test_bad_config_is_named(tree, change, error, named):
    with pytest.raises(error, match=named):
        config_for(tree).replace(**change)


def test_missing_path_is_named(tree):
    config = config_for(tree).replace(sources={"code": [str(tree / "nowhere")], "nl": [str(tree)]})
    with pytest.raises(FileNotFoundError, match="nowhere"):
        build_corpus(config, progress=False)


def test_source_empty_after_dedup_is_named(tree):
    config = DataConfig(sources={"code": [str(tree / "src")], "copies": [str(tree / "src" / "zcopy.py")]},
                        weights={"code": 1.0, "copies": 1.0}, seq_len=64)
    with pytest.raises(ValueError, match="copies.*empty"):
        build_corpus(config, progress=False)


def test_train_tokenizer_for_the_corpus(builtin_corpus, tmp_path):
    corpus = builtin_corpus
    tokenizer = train_tokenizer_for(corpus, 400, tmp_path / "corpus.model")
    assert tokenizer.vocab_size == 416 and tokenizer.has_infilling
    text = corpus.train[0].text
    assert tokenizer.decode(tokenizer.encode(text)) == text
