"""Starting from released weights (Code Llama §2: Code Llama is Llama 2 trained further): a small Hugging Face
checkpoint made here, in float16 and sharded by transformers as Llama-2-7b-hf is, loaded through the meta device
by two gloo processes (each holding half of every tensor) gives exactly the weights one process loads; the
vocabulary grows to Code Llama's +16 pieces with the original rows unchanged."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from codellama_lite.config import ModelConfig
from codellama_lite.interop import import_hf, pretrained_config, to_transformers
from codellama_lite.train.distributed import World
from codellama_lite.train.export import export_sharded_hf
from codellama_lite.train.parallelize import build_pretrained, count_parameters

from _models import random_model

BASE_VOCAB = 300
EXTRA = 16
CONFIG = ModelConfig.preset("tiny", vocab_size=BASE_VOCAB)


@pytest.fixture(scope="module")
def released(tmp_path_factory) -> Path:
    """A Llama-shaped checkpoint as transformers writes one: float16, several safetensors shards and an index."""
    folder = tmp_path_factory.mktemp("released")
    to_transformers(random_model(CONFIG, seed=3)).half().save_pretrained(folder, max_shard_size="100KB")
    assert (folder / "model.safetensors.index.json").is_file()
    assert len(list(folder.glob("model-*.safetensors"))) > 1
    return folder


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _load_on_rank(rank: int, world_size: int, port: int, folder: str, out: str) -> None:
    """One gloo process: the meta-device path, then the full state gathered (to compare) written by rank 0."""
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=world_size)
    try:
        torch.set_num_threads(1)
        world = World(rank, world_size, torch.device("cpu"))
        config = pretrained_config(folder).replace(vocab_size=BASE_VOCAB + EXTRA)
        model = build_pretrained(folder, config, world, torch.float32)
        local = {name: param.to_local().numel() for name, param in model.named_parameters()}
        state = get_model_state_dict(model, options=StateDictOptions(full_state_dict=True, cpu_offload=True))
        export_sharded_hf(model, config, Path(out).parent / "export", world, torch.bfloat16)
        if rank == 0:
            torch.save({"state": state, "local": local, "count": count_parameters(model)}, out)
    finally:
        dist.destroy_process_group()


@pytest.fixture(scope="module")
def two_process_load(released, tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("loaded") / "state.pt"
    mp.spawn(_load_on_rank, args=(2, _free_port(), str(released), str(out)), nprocs=2, join=True)
    return {**torch.load(out), "export": out.parent / "export"}


def _one_process_model(folder: Path):
    config = pretrained_config(folder).replace(vocab_size=BASE_VOCAB + EXTRA)
    return build_pretrained(folder, config, World(0, 1, torch.device("cpu")), torch.float32)


def test_two_processes_hold_exactly_the_one_process_weights(released, two_process_load):
    one = _one_process_model(released).state_dict()
    two = two_process_load["state"]
    assert sorted(one) == sorted(two)
    for name, tensor in one.items():
        assert tensor.dtype == torch.float32 and two[name].dtype == torch.float32, name  # float32 masters
        assert torch.equal(tensor, two[name]), name


def test_each_process_holds_half_and_the_count_is_global(two_process_load):
    total = sum(two_process_load["local"].values())
    config = CONFIG.replace(vocab_size=BASE_VOCAB + EXTRA)
    from codellama_lite.model import Transformer

    expected = Transformer(config, device="meta").num_params()
    assert two_process_load["count"] == expected  # not multiplied by the world size
    assert abs(total - expected / 2) <= 64  # rank 0's shards: half of every tensor (rounded up per tensor)


def test_vocabulary_extension_keeps_the_original_rows_bit_exact(released):
    stored = import_hf(released)  # float16, as saved
    assert stored.tok_embeddings.weight.dtype == torch.float16
    model = _one_process_model(released)
    for name in ("tok_embeddings.weight", "output.weight"):
        grown, original = model.state_dict()[name], stored.state_dict()[name]
        assert grown.shape == (BASE_VOCAB + EXTRA, CONFIG.dim)
        assert torch.equal(grown[:BASE_VOCAB], original.float()), name
        mean = original.float().mean(dim=0)
        assert torch.equal(grown[BASE_VOCAB:], mean.expand(EXTRA, -1)), name
    for name, tensor in stored.state_dict().items():
        if name not in ("tok_embeddings.weight", "output.weight"):
            assert torch.equal(model.state_dict()[name], tensor.float()), name


def test_the_loaded_model_computes_what_transformers_computes(released):
    """The original vocabulary's logits of the grown model equal transformers' on the float32 checkpoint."""
    from transformers import LlamaForCausalLM

    model = _one_process_model(released).eval()
    reference = LlamaForCausalLM.from_pretrained(released, torch_dtype=torch.float32).eval()
    tokens = torch.randint(0, BASE_VOCAB, (2, 12), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        ours, theirs = model(tokens)[..., :BASE_VOCAB], reference(tokens).logits
    torch.testing.assert_close(ours, theirs, rtol=1e-4, atol=1e-4)


def test_a_meta_checkpoint_loads_the_same_weights(released, tmp_path):
    from codellama_lite.interop import export_meta

    export_meta(import_hf(released), tmp_path / "meta", num_shards=2)
    ours, theirs = _one_process_model(tmp_path / "meta").state_dict(), _one_process_model(released).state_dict()
    for name, tensor in ours.items():
        assert torch.equal(tensor, theirs[name]), name


def test_a_mismatched_shape_is_refused_by_name(released):
    config = pretrained_config(released).replace(n_layers=3)
    with pytest.raises(ValueError, match="n_layers = 2 differs"):
        build_pretrained(released, config, World(0, 1, torch.device("cpu")), torch.float32)


def test_the_tokenizer_gains_code_llamas_pieces_at_their_ids(tmp_path):
    from codellama_lite.tokenizer import (EXTRA_PIECES, INFILLING_OFFSET, INFILLING_PIECES, Tokenizer,
                                          extend_tokenizer)

    pieces = 1000
    llama = Tokenizer.train(vocab_size=pieces, model_path=tmp_path / "llama.model", max_files=150, infilling=False)
    assert not llama.has_infilling
    code = extend_tokenizer(llama.model_path, tmp_path / "code.model")
    assert code.vocab_size == pieces + EXTRA_PIECES
    assert [code.prefix_id, code.suffix_id, code.middle_id, code.eot_id] == \
        [pieces + INFILLING_OFFSET + i for i in range(len(INFILLING_PIECES))]  # Code Llama's 32007-32010 at 32,000
    assert all(code.id_to_piece(i) == llama.id_to_piece(i) for i in range(pieces))
    text = "def f(x):\n    return '<PRE>' + x  # ünïcode\n"
    assert code.encode(text) == llama.encode(text)  # the added pieces are CONTROL: text never produces them
    again = extend_tokenizer(code.model_path, tmp_path / "again.model")
    assert again.vocab_size == code.vocab_size  # already extended: unchanged


def test_two_processes_export_sharded_bfloat16_that_loads_back(released, two_process_load):
    """Each rank writes its own file (none gathers the model); the folder is what transformers writes."""
    from transformers import LlamaForCausalLM

    folder = two_process_load["export"]
    assert sorted(path.name for path in folder.glob("*.safetensors")) == \
        ["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"]
    back = import_hf(folder)
    one = _one_process_model(released)
    for name, tensor in one.state_dict().items():
        assert back.state_dict()[name].dtype == torch.bfloat16
        assert torch.equal(back.state_dict()[name], tensor.to(torch.bfloat16)), name
    twin = LlamaForCausalLM.from_pretrained(folder, torch_dtype="auto")  # the dtype config.json states
    assert twin.config.vocab_size == BASE_VOCAB + EXTRA and twin.dtype == torch.bfloat16


def test_the_trainer_starts_from_a_llama_2_like_folder_with_fim(tmp_path, small_tokenizer):
    """A folder as Meta ships Llama 2 on Hugging Face (weights, config.json, a tokenizer without infilling pieces):
    the base recipe, FIM 0.9, trains from it with Code Llama's 16 pieces added."""
    from sentencepiece import sentencepiece_model_pb2 as model_pb2

    from codellama_lite.train import load_recipe, train

    proto = model_pb2.ModelProto()
    proto.ParseFromString(small_tokenizer.processor.serialized_model_proto())
    base_pieces = small_tokenizer.vocab_size - EXTRA
    del proto.pieces[base_pieces:]  # Llama 2's layout: no infilling pieces
    llama = tmp_path / "llama"
    config = ModelConfig.preset("tiny", vocab_size=base_pieces, rope_theta=10_000.0)  # Llama 2's base, as [model]
    to_transformers(random_model(config, seed=7)).half().save_pretrained(llama, max_shard_size="100KB")
    (llama / "tokenizer.model").write_bytes(proto.SerializeToString())
    recipe = load_recipe("base", "smoke", {"init.from": str(llama), "data.max_documents": 12, "train.threads": 1,
                                           "train.max_steps": 2, "train.checkpoint_every": 0})
    assert recipe.data.fim_rate == 0.9
    final = train(recipe, tmp_path / "run", progress=False)
    trained = import_hf(final)
    assert trained.config.vocab_size == base_pieces + EXTRA
    from codellama_lite.tokenizer import Tokenizer

    assert Tokenizer(final / "tokenizer.model").prefix_id == base_pieces + 7
