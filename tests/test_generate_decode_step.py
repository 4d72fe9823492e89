"""The fixed-shape decoding step (what ``generate(..., compile=True)`` compiles) equals the cached forward pass, and
the inference weight layouts of :class:`codellama_lite.accel.OneDNNLinear` equal ``F.linear``, also after training."""

from __future__ import annotations

import copy

import pytest
import torch

from codellama_lite.config import ModelConfig
from codellama_lite.generate import generate, left_pad
from codellama_lite.accel import OneDNNLinear as Linear
from codellama_lite.accel import available, copies_current, drop_inference_weights, use_cpu_kernels
from codellama_lite.model import Transformer

CONFIG = ModelConfig(dim=48, n_layers=2, n_heads=6, n_kv_heads=2, vocab_size=61, multiple_of=16, rope_theta=1e6)
PROMPTS = [[1, 5, 7, 9, 11], [1, 4], [1, 30, 31]]


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    model = Transformer(CONFIG).eval()
    use_cpu_kernels(model)
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0, 0.3)
    return model


@torch.inference_mode()
def test_decode_step_equals_cached_forward_with_padding(model):
    tokens, mask = left_pad(PROMPTS)
    batch, prompt_len = tokens.shape
    new = torch.tensor([[3], [8], [13]])
    full_mask = torch.cat((mask, mask.new_ones(batch, 4)), dim=1)
    reference_cache, step_cache = model.new_cache(batch, prompt_len + 4), model.new_cache(batch, prompt_len + 4)
    for cache in (reference_cache, step_cache):
        model(tokens, cache=cache, attention_mask=full_mask[:, :prompt_len])
    expected = model(new, cache=reference_cache, attention_mask=full_mask[:, :prompt_len + 1])[:, -1]
    got = model.decode_step(new, step_cache, torch.tensor([prompt_len]), full_mask)
    assert (got - expected).abs().max().item() <= 1e-5


@pytest.mark.slow
def test_compiled_generation_gives_the_same_tokens(model, compiler):
    compiled = generate(model, PROMPTS, 6, compile=True)
    assert [c.tokens for c in compiled] == [c.tokens for c in generate(model, PROMPTS, 6)]


# -- the inference weight layouts of codellama_lite.accel.OneDNNLinear ------------------------------------------------

LAYOUTS = ["transposed", "plain"] + (["packed"] if torch.backends.mkldnn.is_available() else [])


def _fresh_model(seed: int = 0) -> Transformer:
    torch.manual_seed(seed)
    model = Transformer(CONFIG)
    use_cpu_kernels(model)
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0, 0.3)
    return model


def _decode_logits(model: Transformer) -> torch.Tensor:
    """Prefill the padded prompts, then three single-token steps, without gradients; every step's logits."""
    tokens, mask = left_pad(PROMPTS)
    batch, prompt_len = tokens.shape
    full_mask = torch.cat((mask, mask.new_ones(batch, 3)), dim=1)
    cache = model.new_cache(batch, prompt_len + 3)
    with torch.no_grad():
        steps = [model(tokens, cache=cache, attention_mask=full_mask[:, :prompt_len])[:, -1]]
        for step in range(3):
            new = torch.tensor([[3 + step], [8], [13]])
            steps.append(model(new, cache=cache, attention_mask=full_mask[:, :prompt_len + step + 1])[:, -1])
    return torch.stack(steps)


def _plain_logits(model: Transformer, monkeypatch) -> torch.Tensor:
    with monkeypatch.context() as patch:
        patch.setattr(Linear, "inference_layout", "plain")
        return _decode_logits(model)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_inference_layout_decodes_like_f_linear(layout, monkeypatch):
    model = _fresh_model()
    expected = _plain_logits(model, monkeypatch)
    monkeypatch.setattr(Linear, "inference_layout", layout)
    assert (_decode_logits(model) - expected).abs().max().item() <= 1e-5
    with torch.inference_mode():  # the other no-gradient mode
        assert (_decode_logits(model) - expected).abs().max().item() <= 1e-5
    if layout != "plain":
        assert model.output._copy is not None


@pytest.mark.parametrize("layout", [layout for layout in LAYOUTS if layout != "plain"])
def test_training_after_decoding_refreshes_the_weight_copy(layout, monkeypatch):
    monkeypatch.setattr(Linear, "inference_layout", layout)
    model = _fresh_model()
    before = _decode_logits(model)  # builds the copies
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    tokens = torch.tensor([[1, 5, 7, 9, 11, 2]])
    loss = torch.nn.functional.cross_entropy(model(tokens[:, :-1]).flatten(0, 1), tokens[:, 1:].flatten())
    loss.backward()
    optimizer.step()  # changes every weight in place
    after = _decode_logits(model)
    assert (after - _plain_logits(model, monkeypatch)).abs().max().item() <= 1e-5
    assert (after - before).abs().max().item() > 1e-3  # the step did change the model

    other = _fresh_model(seed=1)  # loading weights (in place) and replacing them (.data) refresh it too
    model.load_state_dict(other.state_dict())
    assert (_decode_logits(model) - _plain_logits(other, monkeypatch)).abs().max().item() <= 1e-5
    model.output.weight.data = other.output.weight.data * 2
    assert (_decode_logits(model) - _plain_logits(model, monkeypatch)).abs().max().item() <= 1e-5
    model.double()  # a conversion drops the copies; back in float32 they are made afresh
    assert model.output._copy is None
    model.float()
    assert (_decode_logits(model) - _plain_logits(model, monkeypatch)).abs().max().item() <= 1e-5


def test_weight_copies_stay_out_of_the_state_dict_and_can_be_dropped(monkeypatch):
    monkeypatch.setattr(Linear, "inference_layout", "transposed")
    model = _fresh_model()
    names = {name: tuple(value.shape) for name, value in model.state_dict().items()}
    _decode_logits(model)
    assert {name: tuple(value.shape) for name, value in model.state_dict().items()} == names
    assert model.output._copy is not None and copy.deepcopy(model).output._copy is None
    linear_bytes = sum(m.weight.nbytes for m in model.modules() if isinstance(m, Linear))
    assert drop_inference_weights(model) == linear_bytes
    assert drop_inference_weights(model) == 0 and model.output._copy is None


def test_model_built_in_inference_mode_decodes_like_f_linear(monkeypatch):
    """Inference tensors have no version counter, so their layers multiply without a cached copy."""
    expected = _plain_logits(_fresh_model(), monkeypatch)
    with torch.inference_mode():
        model = _fresh_model()
        for layout in LAYOUTS:
            monkeypatch.setattr(Linear, "inference_layout", layout)
            assert (_decode_logits(model) - expected).abs().max().item() <= 1e-5
            assert model.output._copy is None


# -- generation decodes with current copies -------------------------------------------------------------------

@pytest.mark.skipif(not torch.backends.mkldnn.is_available(), reason="PyTorch built without oneDNN")
@pytest.mark.parametrize("compiled", [False, pytest.param(True, marks=pytest.mark.slow)], ids=["eager", "compiled"])
def test_generation_multiplies_by_current_packed_weights(compiled, monkeypatch, request):
    """A swapped model generates with the packed oneDNN copies in every single-token step, eager or compiled; after
    the weights change in place, the tokens are those of the new weights."""
    import codellama_lite.accel as kernels

    if compiled:
        request.getfixturevalue("compiler")
    monkeypatch.setattr(Linear, "inference_layout", "packed")
    calls = []
    onednn = kernels._onednn_linear
    monkeypatch.setattr(kernels, "_onednn_linear", lambda x, weight: calls.append(x.shape[1]) or onednn(x, weight))
    model = _fresh_model()
    generate(model, PROMPTS, 4, compile=compiled)
    linears = sum(isinstance(module, Linear) for module in model.modules())
    # Every product of the three single-token steps went through oneDNN (plus the prompt's last-position logits).
    assert calls.count(1) == 3 * linears + 1
    with torch.no_grad():
        for param in model.parameters():
            param.mul_(-1.5)  # in place: same tensors, new values
    got = [c.tokens for c in generate(model, PROMPTS, 6, compile=compiled)]
    monkeypatch.setattr(Linear, "inference_layout", "plain")
    assert got == [c.tokens for c in generate(model, PROMPTS, 6)]


def test_generation_drops_a_copy_of_another_layout(monkeypatch):
    """A copy made for one layout is not used after the layout changes (here to ``plain``: no copy at all)."""
    monkeypatch.setattr(Linear, "inference_layout", "transposed")
    model = _fresh_model()
    with copies_current(model):  # the caller asks for the kernel's copies; generate itself never does
        generate(model, PROMPTS, 3)
    assert model.output._copy is not None
    with torch.no_grad():
        for param in model.parameters():
            param.mul_(-1.5)
    monkeypatch.setattr(Linear, "inference_layout", "plain")
    with copies_current(model):
        got = [c.tokens for c in generate(model, PROMPTS, 6)]
    assert model.output._copy is None
    assert got == [c.tokens for c in generate(_twin(model), PROMPTS, 6)]


def test_generation_leaves_the_kernel_context_to_the_caller():
    """``generate`` runs a swapped model as it is; :func:`copies_current` is entered only by a caller who asks."""
    model = _fresh_model()
    seen = []
    model.output.register_forward_pre_hook(lambda module, args: seen.append(module._copies_current))
    generate(model, PROMPTS, 3)
    with copies_current(model):
        generate(model, PROMPTS, 3)
    assert seen == [False] * 3 + [True] * 3


def _twin(model: Transformer) -> Transformer:
    """A separate model with the same weights (and no weight copies)."""
    twin = Transformer(CONFIG)
    use_cpu_kernels(twin)
    twin.load_state_dict(model.state_dict())
    return twin


# -- the kernels are applied from outside, per model ------------------------------------------------------------

def test_a_model_as_built_has_plain_linear_layers_and_the_swap_keeps_its_parameters():
    model = Transformer(CONFIG)
    assert all(type(m) is torch.nn.Linear for m in model.modules() if isinstance(m, torch.nn.Linear))
    before = {name: p for name, p in model.named_parameters()}
    swapped = use_cpu_kernels(model)
    assert swapped == (7 * CONFIG.n_layers + 1 if available() else 0)  # wq, wk, wv, wo, w1, w2, w3; output
    assert all(p is before[name] for name, p in model.named_parameters())


@pytest.mark.skipif(not torch.backends.mkldnn.is_available(), reason="PyTorch built without oneDNN")
def test_copies_current_of_one_model_leaves_another_model_exact():
    first, second = _fresh_model(0), _fresh_model(1)
    tokens = torch.tensor([[1, 5, 7, 9]])
    with torch.no_grad():
        generate(second, [[1, 2]], 2)  # second's copies are made from its current weights
        for p in second.parameters():
            p.mul_(-0.7)  # then its weights change
        expected = _twin(second)(tokens)
        with copies_current(first):
            got = second(tokens)
    assert (got - expected).abs().max().item() <= 1e-5


def test_cpu_autocast_gives_the_dtype_nn_linear_gives():
    model = _fresh_model()
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        got = model.output(torch.randn(2, CONFIG.dim))
        expected = torch.nn.functional.linear(torch.randn(2, CONFIG.dim), model.output.weight)
    assert got.dtype == expected.dtype == torch.bfloat16
