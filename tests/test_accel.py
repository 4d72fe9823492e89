"""Training through :class:`codellama_lite.accel.OneDNNLinear`'s oneDNN kernel gives ``F.linear``'s gradients, and the
plain path is taken wherever that kernel does not apply."""

from __future__ import annotations

import pytest
import torch

from codellama_lite.config import ModelConfig
from codellama_lite.accel import OneDNNLinear as Linear
from codellama_lite.accel import use_cpu_kernels
from codellama_lite.model import Transformer

CONFIG = ModelConfig(dim=48, n_layers=2, n_heads=6, n_kv_heads=2, vocab_size=61, multiple_of=16, rope_theta=1e6)
needs_onednn = pytest.mark.skipif(not torch.backends.mkldnn.is_available(), reason="PyTorch built without oneDNN")


def _grads(kernel: str, monkeypatch, seed: int = 0) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """One forward + backward of a small model on a fixed batch; the loss and every parameter's gradient."""
    monkeypatch.setattr(Linear, "training_kernel", kernel)
    torch.manual_seed(seed)
    model = Transformer(CONFIG)
    use_cpu_kernels(model)
    tokens = torch.randint(0, CONFIG.vocab_size, (3, 17), generator=torch.Generator().manual_seed(seed))
    logits = model(tokens[:, :-1])
    loss = torch.nn.functional.cross_entropy(logits.flatten(0, 1), tokens[:, 1:].flatten())
    loss.backward()
    return loss.detach(), {name: p.grad for name, p in model.named_parameters()}


def _relative_error(got: torch.Tensor, expected: torch.Tensor) -> float:
    return ((got - expected).norm() / expected.norm()).item()


@needs_onednn
def test_onednn_training_gradients_equal_f_linear(monkeypatch):
    loss, grads = _grads("onednn", monkeypatch)
    plain_loss, plain_grads = _grads("plain", monkeypatch)
    assert _relative_error(loss, plain_loss) <= 1e-5
    assert grads.keys() == plain_grads.keys()
    for name, grad in grads.items():
        assert _relative_error(grad, plain_grads[name]) <= 1e-5, name


@needs_onednn
@pytest.mark.parametrize("x_needs_grad, w_needs_grad", [(True, True), (True, False), (False, True)])
def test_onednn_linear_gradients_with_strided_inputs(x_needs_grad, w_needs_grad, monkeypatch):
    """A single layer, a transposed (non-contiguous) input and gradient, and frozen inputs or weights."""
    monkeypatch.setattr(Linear, "training_kernel", "onednn")
    torch.manual_seed(1)
    layer = Linear(24, 40)
    layer.weight.requires_grad_(w_needs_grad)
    x = torch.randn(2, 24, 7).transpose(1, 2).requires_grad_(x_needs_grad)  # (2, 7, 24), not contiguous
    upstream = torch.randn(40, 7, 2).permute(2, 1, 0)  # (2, 7, 40), not contiguous
    y = layer(x)
    assert y.grad_fn is not None and "OneDNNLinear" in type(y.grad_fn).__name__
    got = torch.autograd.grad(y, [t for t in (x, layer.weight) if t.requires_grad], upstream)
    y_plain = torch.nn.functional.linear(x, layer.weight)
    expected = torch.autograd.grad(y_plain, [t for t in (x, layer.weight) if t.requires_grad], upstream)
    assert _relative_error(y, y_plain) <= 1e-5
    for g, e in zip(got, expected):
        assert g.shape == e.shape and _relative_error(g, e) <= 1e-5


@pytest.mark.parametrize("case", ["switched off", "mkldnn disabled", "float64", "no oneDNN build", "no rows",
                                  "meta device"])
def test_plain_path_where_onednn_does_not_apply(case, monkeypatch):
    monkeypatch.setattr(Linear, "training_kernel", "plain" if case == "switched off" else "onednn")
    if case == "no oneDNN build":
        monkeypatch.setattr(torch._C, "_has_mkldnn", False)
    layer = Linear(8, 4).to({"float64": torch.float64, "meta device": "meta"}.get(case, torch.float32))
    x = torch.randn(0 if case == "no rows" else 3, 8).to(layer.weight)  # oneDNN rejects empty products
    with torch.backends.mkldnn.flags(enabled=case != "mkldnn disabled"):
        y = layer(x)
    assert "OneDNNLinear" not in type(y.grad_fn).__name__  # a device without oneDNN stands in for CUDA: same guard
    assert y.is_meta or torch.equal(y, torch.nn.functional.linear(x, layer.weight))


@pytest.mark.slow
@needs_onednn
def test_compiled_training_keeps_onednn_products_and_f_linear_gradients(monkeypatch, compiler):
    """Under torch.compile the forward and both backward products stay oneDNN's (an operator the compiler calls as
    it is) and the gradients are ``F.linear``'s."""
    import codellama_lite.accel as kernels

    plain_loss, plain_grads = _grads("plain", monkeypatch)
    monkeypatch.setattr(Linear, "training_kernel", "onednn")
    products = []
    onednn = kernels._onednn_linear
    monkeypatch.setattr(kernels, "_onednn_linear", lambda x, weight: products.append(x.shape) or onednn(x, weight))
    torch.manual_seed(0)
    model = Transformer(CONFIG)
    use_cpu_kernels(model)
    tokens = torch.randint(0, CONFIG.vocab_size, (3, 17), generator=torch.Generator().manual_seed(0))

    def loss_of(inputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        logits = model(inputs)
        return torch.nn.functional.cross_entropy(logits.flatten(0, 1), targets.flatten())

    loss = torch.compile(loss_of, fullgraph=True)(tokens[:, :-1], tokens[:, 1:])
    loss.backward()
    linears = sum(isinstance(module, Linear) for module in model.modules())
    assert len(products) == 3 * linears  # forward, grad_input and grad_weight of every layer
    assert _relative_error(loss.detach(), plain_loss) <= 1e-5
    for name, param in model.named_parameters():
        assert _relative_error(param.grad, plain_grads[name]) <= 1e-5, name
