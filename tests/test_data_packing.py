"""Packing (Code Llama §2.2–2.3): whole-document FIM, token-share mix, epochs, per-rank batches, exact resume."""

from __future__ import annotations

import json
import random

import pytest
import torch

from codellama_lite.data import DataConfig, Document, PackedStream, validation_windows
from codellama_lite.fim import undo_fim
from codellama_lite.tokenizer import Tokenizer, read_corpus

SEQ = 128
WEIGHTS = {"code": 0.85, "nl_code": 0.08, "nl": 0.07}


@pytest.fixture(scope="module")
def documents() -> list[Document]:
    """Stdlib text cut into pieces of 20–1,500 characters: most fit a window, some run across several."""
    texts, _ = read_corpus(max_files=12)
    rng, pieces = random.Random(0), []
    for text in texts:
        while text:
            size = rng.randint(20, 1500)
            pieces.append(text[:size])
            text = text[size:]
    sizes = {"nl_code": 12, "nl": 5}
    docs = [Document(p, "code", "python", f"code/{n}") for n, p in enumerate(pieces[sum(sizes.values()):])]
    start = 0
    for source, size in sizes.items():
        docs += [Document(p, source, "text", f"{source}/{n}") for n, p in enumerate(pieces[start:start + size])]
        start += size
    return docs


def config(**overrides) -> DataConfig:
    return DataConfig(sources={s: ["unused"] for s in WEIGHTS}, weights=dict(WEIGHTS), seq_len=SEQ, **overrides)


def test_windows_are_packed_documents(small_tokenizer, documents):
    stream = PackedStream(documents, small_tokenizer, config())
    batch = stream.next_batch(6)
    assert batch.dtype == torch.long and batch.shape == (6, SEQ + 1)
    assert batch[0, 0].item() == small_tokenizer.bos_id
    assert (batch == small_tokenizer.eos_id).sum() > 0


def test_fim_only_on_whole_documents_and_each_undoes_to_a_document(small_tokenizer, documents):
    tok = small_tokenizer
    stream = PackedStream(documents, tok, config())
    texts = {d.text for d in documents}
    examples = 0
    for window in stream.next_batch(300).tolist():
        starts = [i for i, t in enumerate(window) if t == tok.prefix_id]
        ends = [i for i, t in enumerate(window) if t == tok.eot_id]
        assert len(starts) == len(ends) and all(s < e for s, e in zip(starts, ends))
        for start, end in zip(starts, ends):
            assert window[start - 1] == tok.bos_id and window[end + 1] == tok.eos_id
            assert undo_fim(window[start:end + 1], tok) in texts
            examples += 1
    assert examples == stream.fim_documents > 0
    fitting = sum(len(tok.encode(d.text)) + 6 <= SEQ + 1 for d in documents) / len(documents)
    assert stream.fim_documents / (stream.fim_documents + stream.plain_documents) < 0.9 * fitting + 0.1


def test_fim_rate_zero_and_tokenizer_without_infilling(small_tokenizer, documents, tmp_path):
    stream = PackedStream(documents, small_tokenizer, config(fim_rate=0.0))
    assert not torch.isin(stream.next_batch(50), torch.tensor([small_tokenizer.prefix_id])).any()
    text = "\n".join(d.text for d in documents[:200])
    (tmp_path / "corpus.txt").write_text(text, encoding="utf-8")
    plain = Tokenizer.train(tmp_path / "corpus.txt", vocab_size=400, model_path=tmp_path / "plain.model",
                            infilling=False)
    with pytest.raises(ValueError, match="infilling"):
        PackedStream(documents, plain, config())
    PackedStream(documents, plain, config(fim_rate=0.0)).next_batch(1)


def test_realized_shares_track_the_weights_and_small_sources_repeat(small_tokenizer, documents):
    stream = PackedStream(documents, small_tokenizer, config())
    stream.next_batch(600)
    shares = stream.realized_shares()
    assert all(abs(shares[s] - w) < 0.02 for s, w in WEIGHTS.items()), shares
    epochs = stream.epochs()
    assert epochs["nl"] > 2 * epochs["code"] and epochs["nl"] > 2


def test_each_epoch_has_a_fresh_order(small_tokenizer, documents):
    stream = PackedStream(documents, small_tokenizer, config())
    orders = [stream.mixer.order("nl", epoch) for epoch in range(4)]
    assert all(sorted(order) == list(range(5)) for order in orders) and len({tuple(o) for o in orders}) > 1


def test_world_size_does_not_change_the_global_sequence(small_tokenizer, documents):
    single = PackedStream(documents, small_tokenizer, config())
    ranks = [PackedStream(documents, small_tokenizer, config(), rank=r, world_size=2) for r in range(2)]
    for _ in range(5):
        assert torch.equal(single.next_batch(6), torch.cat([rank.next_batch(3) for rank in ranks]))


@pytest.mark.parametrize("steps", [1, 7, 23])
def test_resume_gives_the_same_next_batches(small_tokenizer, documents, steps):
    stream = PackedStream(documents, small_tokenizer, config())
    for _ in range(steps):
        stream.next_batch(4)
    state = json.loads(json.dumps(stream.state_dict()))
    resumed = PackedStream(documents, small_tokenizer, config())
    resumed.load_state_dict(state)
    for _ in range(5):
        assert torch.equal(stream.next_batch(4), resumed.next_batch(4))
    assert resumed.realized_shares() == stream.realized_shares()


def test_a_state_resumes_mid_document(small_tokenizer, documents):
    stream = PackedStream(documents, small_tokenizer, config())
    pending = []
    for _ in range(30):
        stream.next_batch(1)
        pending.append(stream.state_dict()["pending"] is not None)
    assert any(pending)


def test_state_of_another_config_is_refused(small_tokenizer, documents):
    state = PackedStream(documents, small_tokenizer, config()).state_dict()
    with pytest.raises(ValueError, match="seed"):
        PackedStream(documents, small_tokenizer, config(seed=1)).load_state_dict(state)


def test_bad_streams_are_named(small_tokenizer, documents):
    with pytest.raises(ValueError, match="rank"):
        PackedStream(documents, small_tokenizer, config(), rank=2, world_size=2)
    with pytest.raises(ValueError, match="'web'"):
        PackedStream(documents + [Document("x", "web", "text", "w")], small_tokenizer, config())
    with pytest.raises(ValueError, match="nl"):
        PackedStream([d for d in documents if d.source != "nl"], small_tokenizer, config())


def test_validation_windows_are_plain_and_fixed(small_tokenizer, documents):
    first = validation_windows(documents[:40], small_tokenizer, SEQ, max_windows=8)
    assert first.shape[1] == SEQ + 1 and 0 < first.shape[0] <= 8
    assert torch.equal(first, validation_windows(documents[:40], small_tokenizer, SEQ, max_windows=8))
    assert not torch.isin(first, torch.tensor([small_tokenizer.prefix_id, small_tokenizer.eot_id])).any()
    with pytest.raises(ValueError, match="window"):
        validation_windows([documents[0]], small_tokenizer, 4096, max_windows=8)


def test_validation_draws_every_source_with_a_quota(small_tokenizer, documents):
    """The first documents of the corpus do not take every window: each source gets its share, and the placements
    the packer records name each document's window."""
    from codellama_lite.data import validation_sets

    sources = sorted({d.source for d in documents})
    sets = validation_sets(documents, small_tokenizer, SEQ, max_windows=4 * len(sources))
    assert sorted(sets) == sources
    assert all(0 < len(windows) <= 4 for windows in sets.values())
    one = validation_sets([d for d in documents if d.source == sources[0]], small_tokenizer, SEQ, max_windows=8)
    assert list(one) == [sources[0]] and len(one[sources[0]]) == 8

    stream = PackedStream(documents, small_tokenizer, config())
    stream.placements = []
    stream.next_batch(4)
    placed = stream.placements
    assert placed and placed[0].window == 0 and placed[0].offset == 0
    assert all(0 <= p.offset < SEQ + 1 and p.window < 4 for p in placed)
    assert sum(p.fim for p in placed) == stream.fim_documents
