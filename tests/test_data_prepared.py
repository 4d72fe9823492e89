"""``codellama-lite data prepare`` and the streamed reader (codellama_lite.data.prepared, .streaming): inputs of every
kind read, exact and near duplicates removed (and near ones kept when asked), a killed prepare resumed without
rewriting a finished shard, ranks reading disjoint shards whose windows together are one process's, and a resume
that continues bit for bit — at the same and at another number of ranks."""

from __future__ import annotations

import gzip
import json
import random
import sys
from pathlib import Path

import pytest
import torch

from codellama_lite.cli import main
from codellama_lite.data import DataConfig
from codellama_lite.data import prepared as prep
from codellama_lite.data.prepared import PreparedCorpus, prepare
from codellama_lite.data.streaming import ShardStream, merge_states

WORDS = ("alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi omicron pi rho sigma tau upsilon "
         "phi chi psi omega").split()


def _text(rng: random.Random, lines: int = 30) -> str:
    return "\n".join(" ".join(rng.choice(WORDS) for _ in range(10)) for _ in range(lines))


def _write_jsonl(path: Path, records: list[dict], compress: bool = False) -> Path:
    opener = gzip.open if compress else open
    with opener(path, "wt", encoding="utf-8") as handle:
        handle.writelines(json.dumps(record) + "\n" for record in records)
    return path


def _all_texts(folder: Path) -> list[str]:
    corpus = PreparedCorpus(folder, "code")
    return [document.text for shard in range(len(corpus.shards)) for document in corpus.documents(shard)]


def _fail(capsys, *args: str) -> str:
    assert main(["data", "prepare", *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("codellama-lite: error: ") and len(err.strip().splitlines()) == 1, err
    return err


# -- inputs and dedup -------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def mixed_inputs(tmp_path_factory) -> dict:
    """JSONL (``content``), gzip JSONL (``text``) and a folder of files, with one exact and one near duplicate."""
    root = tmp_path_factory.mktemp("inputs")
    rng = random.Random(0)
    texts = [_text(rng) for _ in range(24)]
    near = texts[3].replace(texts[3].split()[5], "REPLACED", 1)  # one word of 300 changed
    _write_jsonl(root / "a.jsonl", [{"content": t} for t in texts[:10]] + [{"content": texts[0]}])
    _write_jsonl(root / "b.jsonl.gz", [{"text": t} for t in texts[10:20]] + [{"text": near}], compress=True)
    (root / "tree" / "pkg").mkdir(parents=True)
    for number, text in enumerate(texts[20:]):
        (root / "tree" / "pkg" / f"m{number}.py").write_text(text, encoding="utf-8")
    (root / "tree" / "empty.txt").write_text("  \n", encoding="utf-8")
    inputs = [str(root / "a.jsonl"), str(root / "b.jsonl.gz"), str(root / "tree")]
    return {"inputs": inputs, "texts": texts, "near": near}


def test_prepare_reads_every_kind_and_removes_exact_and_near_duplicates(mixed_inputs, tmp_path, capsys):
    out = tmp_path / "prepared"
    assert main(["data", "prepare", *mixed_inputs["inputs"], "--out", str(out), "--shards", "4",
                 "--valid-fraction", "0", "--workers", "0"]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["dedup"] | {"skipped_files": []} == {
        "documents_read": 24 + 1 + 1 + 1, "empty": 1, "exact_duplicates": 1, "near_duplicates": 1, "kept": 24,
        "train_documents": 24, "valid_documents": 0, "skipped_files": []}
    texts = _all_texts(out)
    assert sorted(texts) == sorted(mixed_inputs["texts"])  # every original once; the copies gone
    assert texts != mixed_inputs["texts"]  # shuffled
    assert [entry["documents"] for entry in manifest["shards"]] == [6, 6, 6, 6]
    assert "24 training documents" in capsys.readouterr().out


def test_near_duplicates_stay_at_threshold_one_and_workers_change_nothing(mixed_inputs, tmp_path):
    keep = prepare(mixed_inputs["inputs"], tmp_path / "keep", shards=2, valid_fraction=0.0, near_dup_threshold=1.0,
                   workers=0)
    assert keep["dedup"]["near_duplicates"] == 0 and keep["documents"] == 25
    assert mixed_inputs["near"] in _all_texts(tmp_path / "keep")
    alone = prepare(mixed_inputs["inputs"], tmp_path / "alone", shards=3, valid_fraction=0.2, workers=0)
    pooled = prepare(mixed_inputs["inputs"], tmp_path / "pooled", shards=3, valid_fraction=0.2, workers=2)
    assert [e["sha256"] for e in pooled["shards"]] == [e["sha256"] for e in alone["shards"]]
    assert pooled["dedup"] == alone["dedup"] and alone["valid"]["documents"] > 0


def test_a_killed_prepare_resumes_without_rewriting_finished_shards(mixed_inputs, tmp_path, monkeypatch):
    reference = prepare(mixed_inputs["inputs"], tmp_path / "reference", shards=4, workers=0)
    out = tmp_path / "killed"
    real = prep._write_shard

    def dies_at_the_third(task):
        if task[2] == 2:
            raise KeyboardInterrupt("killed")
        return real(task)

    monkeypatch.setattr(prep, "_write_shard", dies_at_the_third)
    with pytest.raises(KeyboardInterrupt):
        prepare(mixed_inputs["inputs"], out, shards=4, workers=0)
    assert not (out / "manifest.json").exists()
    finished = {name: (out / name).stat().st_mtime_ns for name in ("shard-00000.jsonl.gz", "shard-00001.jsonl.gz")}
    monkeypatch.setattr(prep, "deduplicate", lambda *args: pytest.fail("dedup ran again"))
    monkeypatch.setattr(prep, "_write_shard", lambda task: real(task) if task[2] >= 2 else
                        pytest.fail(f"shard {task[2]} written again"))
    resumed = prepare(mixed_inputs["inputs"], out, shards=4, workers=0)
    assert {name: (out / name).stat().st_mtime_ns for name in finished} == finished
    assert resumed["shards"] == reference["shards"] and resumed["valid"] == reference["valid"]
    assert not (out / ".prepare").exists()


def test_bad_inputs_fail_on_one_line_naming_the_file(tmp_path, capsys):
    assert "corpus input not found" in _fail(capsys, str(tmp_path / "absent"), "--out", str(tmp_path / "o1"))
    no_field = _write_jsonl(tmp_path / "nofield.jsonl", [{"content": "x"}, {"body": "y"}])
    assert f"{no_field}:2: no 'content' or 'text' field" in _fail(capsys, str(no_field), "--out",
                                                                  str(tmp_path / "o2"))
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"text": "a"}\n{"text": \n', encoding="utf-8")
    assert f"{broken}:2: not valid JSON" in _fail(capsys, str(broken), "--out", str(tmp_path / "o3"))
    wrong = _write_jsonl(tmp_path / "wrong.jsonl", [{"text": 3}])
    assert "field 'text' is int" in _fail(capsys, str(wrong), "--out", str(tmp_path / "o4"))
    full = tmp_path / "full"
    full.mkdir()
    (full / "x").write_text("x")
    assert "is not empty" in _fail(capsys, str(no_field), "--out", str(full))
    assert "--shards must be at least 1" in _fail(capsys, str(no_field), "--out", str(tmp_path / "o5"),
                                                  "--shards", "0")


def test_zst_without_zstandard_is_named(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "zstandard", None)  # as if not installed: importing it raises ImportError
    path = tmp_path / "part.jsonl.zst"
    path.write_bytes(b"\x28\xb5\x2f\xfd")
    assert f"{path}: reading .zst needs the 'zstandard' package" in _fail(capsys, str(path), "--out",
                                                                          str(tmp_path / "o"))


def test_parquet_without_pyarrow_is_named(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "pyarrow", None)  # as if not installed
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    folder = tmp_path / "stack"
    folder.mkdir()
    (folder / "data-00000.parquet").write_bytes(b"PAR1")
    assert f"{folder / 'data-00000.parquet'}: reading parquet needs the 'pyarrow' package" in \
        _fail(capsys, str(folder), "--out", str(tmp_path / "o"))


def test_parquet_with_the_stacks_columns_is_read(tmp_path):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    rng = random.Random(1)
    texts = [_text(rng) for _ in range(6)]
    pq.write_table(pa.table({"content": texts, "lang": ["Python"] * 6, "path": ["x.py"] * 6}),
                   tmp_path / "stack.parquet")
    manifest = prepare([tmp_path / "stack.parquet"], tmp_path / "out", shards=2, valid_fraction=0.0, workers=0)
    assert manifest["documents"] == 6 and sorted(_all_texts(tmp_path / "out")) == sorted(texts)


def test_a_zst_file_is_read_when_zstandard_is_there(tmp_path):
    zstandard = pytest.importorskip("zstandard")
    rng = random.Random(2)
    texts = [_text(rng) for _ in range(5)]
    data = "".join(json.dumps({"text": t}) + "\n" for t in texts).encode()
    (tmp_path / "part.jsonl.zst").write_bytes(zstandard.ZstdCompressor().compress(data))
    prepare([tmp_path / "part.jsonl.zst"], tmp_path / "out", shards=1, valid_fraction=0.0, workers=0)
    assert sorted(_all_texts(tmp_path / "out")) == sorted(texts)


# -- the streamed reader ------------------------------------------------------------------------------------------


def _config(folder: Path) -> DataConfig:
    return DataConfig(sources={"code": [f"prepared:{folder}"]}, weights={"code": 1.0}, seq_len=256, fim_rate=0.9)


def _stream(folder: Path, tokenizer, rank: int = 0, world_size: int = 1) -> ShardStream:
    return ShardStream(prep.open_prepared(_config(folder)), tokenizer, _config(folder), rank=rank,
                       world_size=world_size)


def test_ranks_read_disjoint_shards_and_together_give_one_process_windows(code_folder, small_tokenizer):
    ranks = [_stream(code_folder, small_tokenizer, rank, 2) for rank in range(2)]
    read = [{shard for lane in stream.lanes.values() for shard in lane.by_source["code"].shards} for stream in ranks]
    assert read[0].isdisjoint(read[1]) and read[0] | read[1] == {0, 1, 2, 3}
    one = _stream(code_folder, small_tokenizer)
    for _ in range(5):
        together = one.next_batch(6)  # global windows g .. g + 5
        mine = [stream.next_batch(3) for stream in ranks]  # rank r: the windows g ≡ r (mod 2)
        assert torch.equal(together[0::2], mine[0]) and torch.equal(together[1::2], mine[1])
    assert one.fim_documents > 0 and one.plain_documents > 0


def test_the_streamed_reader_resumes_bit_for_bit_at_the_same_and_another_world_size(code_folder, small_tokenizer):
    one = _stream(code_folder, small_tokenizer)
    for _ in range(7):
        one.next_batch(4)
    saved = json.loads(json.dumps(one.state_dict()))  # as a checkpoint stores it
    expected = torch.cat([one.next_batch(4) for _ in range(60)])  # several passes over each lane's documents

    again = _stream(code_folder, small_tokenizer)
    again.load_state_dict(saved)
    assert torch.equal(torch.cat([again.next_batch(4) for _ in range(60)]), expected)

    ranks = [_stream(code_folder, small_tokenizer, rank, 2) for rank in range(2)]
    for stream in ranks:
        stream.load_state_dict(saved)
    halves = [torch.cat([stream.next_batch(2) for _ in range(60)]) for stream in ranks]
    assert torch.equal(halves[0], expected[0::2]) and torch.equal(halves[1], expected[1::2])

    back = _stream(code_folder, small_tokenizer)  # and the two ranks' states joined resume at one process
    for stream in ranks:
        stream.next_batch(2)
    reference = _stream(code_folder, small_tokenizer)
    reference.load_state_dict(saved)
    for _ in range(61):
        reference.next_batch(4)
    back.load_state_dict(merge_states([stream.state_dict() for stream in ranks]))
    assert torch.equal(back.next_batch(4), reference.next_batch(4))
    assert min(one.epochs().values()) >= 1.0  # the resumed streams crossed an epoch
    with pytest.raises(ValueError, match="lanes .* are not in the saved state"):
        _stream(code_folder, small_tokenizer).load_state_dict(ranks[0].state_dict())


def test_a_world_size_that_does_not_divide_the_lanes_is_refused(code_folder, small_tokenizer):
    with pytest.raises(ValueError, match=r"4 lanes .* processes \(3\) must divide it"):
        _stream(code_folder, small_tokenizer, 0, 3)


def test_a_recipe_trains_from_a_prepared_folder(code_folder, small_tokenizer, tmp_path):
    from codellama_lite.train import load_recipe, read_metrics, train

    recipe = load_recipe("base", "smoke", {"data.sources": {"code": [f"prepared:{code_folder}"]},
                                           "data.weights": {"code": 1.0}, "train.threads": 1,
                                           "tokenizer.path": str(small_tokenizer.model_path),
                                           "train.max_steps": 2, "train.checkpoint_every": 0})
    final = train(recipe, tmp_path / "run", progress=False)
    assert (final / "config.json").is_file() and len(read_metrics(tmp_path / "run")) == 2
    mixed = DataConfig(sources={"code": [f"prepared:{code_folder}"], "nl": ["builtin:prose"]},
                       weights={"code": 0.5, "nl": 0.5}, seq_len=64)
    with pytest.raises(ValueError, match=r"\['nl'\] are not prepared folders"):
        prep.prepared_folders(mixed)
