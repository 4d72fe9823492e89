"""Cost estimates (codellama_lite.costs) and the ``codellama-lite model`` commands."""

from __future__ import annotations

import pytest
import torch

from codellama_lite.cli import main
from codellama_lite.config import ModelConfig, param_count
from codellama_lite.costs import flops_per_token, matmul_params, min_gpus, training_cost
from codellama_lite.model import Transformer


def test_training_flops_are_six_n_plus_attention():
    config = ModelConfig.preset("7b")
    n = matmul_params(config)
    assert n == param_count(config) - 32016 * 4096 - 65 * 4096
    assert flops_per_token(config, seq_len=0, training=True) == 6 * n
    assert flops_per_token(config, 4096) - flops_per_token(config, 0) == 4 * 32 * 4096 * 4096


def test_memory_and_gpu_counts_grow_with_size():
    rows = [training_cost(name) for name in ("7b", "13b", "34b", "70b")]
    assert [r.weights_bytes for r in rows] == [2 * r.params for r in rows]
    assert all(r.state_bytes == 16 * r.params for r in rows)
    gpus = [r.min_gpus for r in rows]
    assert gpus == sorted(gpus) and gpus[0] >= 2  # 7B's 108 GB of state does not fit one 80 GB GPU
    assert min_gpus(ModelConfig.preset("70b")) >= 16 * 69e9 / 80e9
    with pytest.raises(ValueError, match="does not fit"):
        min_gpus(ModelConfig.preset("70b"), gpu_bytes=10**9)


def test_cli_presets_costs_and_convert(tmp_path, capsys):
    assert main(["model", "presets", "--vocab-size", "32000"]) == 0
    printed = capsys.readouterr().out
    assert "6,738,415,616" in printed and "68,976,648,192" in printed
    assert main(["model", "costs", "7b"]) == 0
    assert "min A100-80GB" in capsys.readouterr().out
    from codellama_lite.interop import export_meta, import_hf

    torch.manual_seed(0)
    model = Transformer(ModelConfig.preset("tiny"))
    export_meta(model, tmp_path / "meta", num_shards=2)
    assert main(["model", "convert", str(tmp_path / "meta"), str(tmp_path / "hf"), "--from", "meta", "--to", "hf"]) == 0
    back = import_hf(tmp_path / "hf")
    assert all(torch.equal(back.state_dict()[k], v) for k, v in model.state_dict().items())
    argv = ["model", "convert", str(tmp_path / "nothing"), str(tmp_path / "x"), "--from", "hf", "--to", "meta"]
    assert main(argv) == 2
    assert "config.json" in capsys.readouterr().err
