"""Speed applied from outside the model, opt-in: oneDNN CPU kernels for its linear layers (engineering, not the paper).

:mod:`codellama_lite.model` builds every projection as a plain bias-free ``nn.Linear``, and that is what the trainer
and ``eval`` run by default. On some CPUs oneDNN, PyTorch's second CPU backend, multiplies float32 faster than the
default BLAS (MKL): 1.4-2.5x on the AMD EPYC machines of our first measurements. On others it is slower: on a 2-core
Intel Xeon (Sapphire Rapids) the ``small`` preset's training step took 0.70 s with these kernels against 0.60 s
plain, and batched sampling ran 1.96x transformers' speed against 2.13x plain (``benchmarks/bench_train.py --only step
--cpu-kernels``, ``benchmarks/bench_sampling.py --cpu-kernels``). Hence opt-in: ``train.cpu_kernels = true`` in a
recipe, or :func:`use_cpu_kernels` on a built model, which swaps its ``nn.Linear`` layers for :class:`OneDNNLinear`
(same parameter objects, same state dict), the way torchtitan applies compile or FSDP2 from outside the model;
:func:`copies_current`, entered by a caller around generation, lets the layers use their cached inference weights
unchecked (a no-op for a model without them); :mod:`codellama_lite.generate` itself never enters it.

oneDNN's linear kernel is reached through ``torch.ops.mkldnn`` operators, which are private — the reason this module
is never on the default path: :func:`available` checks that they exist, and where they do not (another PyTorch
build, a future release) :func:`use_cpu_kernels` swaps nothing and the model runs as built. Under CPU autocast, on
other devices and dtypes, and on FSDP2's DTensors a swapped layer is plain ``F.linear``. Figures:
``python benchmarks/bench_model.py --only products --cpu-kernels`` and ``--only layout``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
import torch.nn.functional as F
from torch import nn


def _onednn_linear(x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """``x @ weight.T`` by oneDNN's inner-product kernel (any strides; ``weight`` plain or oneDNN-packed)."""
    return torch.ops.mkldnn._linear_pointwise(x, weight, None, "none", [], "")


@torch.library.custom_op("codellama_lite::onednn_linear", mutates_args=())
def onednn_linear(x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """:func:`_onednn_linear` as an operator ``torch.compile`` calls as it is: its own lowering of the oneDNN op
    rejects a weight it did not pack itself, and its float32 products use MKL. A compiled graph thus keeps oneDNN's
    products and fuses everything between them."""
    return _onednn_linear(x, weight)


@onednn_linear.register_fake
def _(x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    return x.new_empty((*x.shape[:-1], weight.shape[0]))


def _probe() -> bool:
    try:
        return (torch.backends.mkldnn.is_available() and callable(torch.ops.mkldnn._linear_pointwise)
                and callable(torch.ops.mkldnn._reorder_linear_weight))
    except (AttributeError, RuntimeError):
        return False


_AVAILABLE = _probe()  # probed once: compiled code cannot call torch.backends' queries


def available() -> bool:
    """oneDNN's linear operators exist in this PyTorch build (they are private and may go in a later release)."""
    return _AVAILABLE


def _onednn_enabled() -> bool:
    """oneDNN is available and not switched off (``torch.backends.mkldnn.flags(enabled=False)``)."""
    return torch._C._has_mkldnn and torch.backends.mkldnn.enabled and _AVAILABLE


def _product(x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """``x @ weight.T`` on oneDNN: the raw op in eager code (no operator dispatch), the operator in compiled code."""
    return onednn_linear(x, weight) if torch.compiler.is_compiling() else _onednn_linear(x, weight)


def _onednn_grad_input(grad: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """``grad @ weight``: the gradient of ``x @ weight.T`` with respect to ``x``."""
    return _product(grad, weight.t().contiguous())  # contiguous: up to 1.5× faster, for one weight-sized copy


def _onednn_grad_weight(grad: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``grad.T @ x`` over every row of the batch: the gradient of ``x @ weight.T`` with respect to ``weight``."""
    grad_t, x_t = grad.reshape(-1, grad.shape[-1]).t(), x.reshape(-1, x.shape[-1]).t()
    if x_t.shape[0] >= grad_t.shape[0]:  # oneDNN runs faster (up to 2.5×) with the wider operand as its weight
        return _product(grad_t, x_t)
    return _product(x_t, grad_t).t()


class _OneDNNLinear(torch.autograd.Function):
    """Bias-free ``F.linear`` whose three products (forward, grad_input, grad_weight) all run on oneDNN."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(x, weight)
        return _product(x, weight)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        x, weight = ctx.saved_tensors
        return (_onednn_grad_input(grad, weight) if ctx.needs_input_grad[0] else None,
                _onednn_grad_weight(grad, x) if ctx.needs_input_grad[1] else None)


class OneDNNLinear(nn.Linear):
    """A bias-free ``nn.Linear`` that multiplies with oneDNN on CPU in float32; same parameter, same state-dict entry.

    Made by :func:`use_cpu_kernels` from a built model's layers. On CPU, in float32, outside autocast, while oneDNN is
    available and enabled (``torch.backends.mkldnn.flags(enabled=False)`` turns it off), eager or compiled:

    **Training** (gradients on), with :attr:`training_kernel` ``"onednn"``: the forward product and both backward
    products (grad_input, grad_weight) run on oneDNN's inner-product kernel (``_OneDNNLinear``; in compiled code
    through :func:`onednn_linear`), from the plain weight, so there is no copy to keep; gradients equal ``F.linear``'s
    up to float32 rounding. ``"plain"``: ``F.linear``.

    **Inference** (gradients off): the product uses a second copy of the weight laid out for the kernel, by
    :attr:`inference_layout`:

    * ``"packed"``: the weight reordered into oneDNN's blocked format (what ``torch.compile`` itself emits for frozen
      CPU inference): the ``small`` preset's products take 1/1.5 (1 row) to 1/2.2 (256 rows) of ``F.linear``'s time.
    * ``"transposed"`` (the fallback without oneDNN), for at most :attr:`transposed_rows` rows: ``x @ Wt`` with
      ``Wt`` a contiguous ``(in, out)`` copy, which the same BLAS multiplies faster at a few rows.
    * ``"plain"``: no copy, always ``F.linear``.

    The copy is made on first use and made again whenever the weight is replaced or changed in place (its address or
    version counter moves), so generating after training is exact; ``.to()`` and the like drop it. Checking it costs a
    tenth of an eager decoding step at batch 1, so inside :func:`copies_current` (which a caller may enter around
    generation) this layer's copy is refreshed once and then used unchecked. The flag
    is per layer: another model's layers keep checking theirs.
    """

    training_kernel = "onednn"
    inference_layout = "packed"
    transposed_rows = 16  # measured crossover: beyond it the transposed copy no longer beats F.linear

    def __init__(self, in_features: int, out_features: int, device: torch.device | str | None = None,
                 dtype: torch.dtype | None = None) -> None:
        super().__init__(in_features, out_features, bias=False, device=device, dtype=dtype)
        self._copy: torch.Tensor | None = None
        self._copy_of: tuple | None = None  # (layout, the weight it was made from, its shape, strides, version)
        self._copies_current = False  # inside copies_current(): the copy was refreshed on entry

    @classmethod
    def from_linear(cls, linear: nn.Linear) -> "OneDNNLinear":
        """A layer sharing ``linear``'s weight parameter (no copy; optimizers and FSDP see the same object)."""
        layer = cls(linear.in_features, linear.out_features, device="meta")
        layer.weight = linear.weight
        layer.train(linear.training)
        return layer

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self._copies_current and self._copy is not None and not torch.is_grad_enabled():
            return self._multiply(x, self._copy_of[0], self._copy)
        weight = self.weight
        if not self._eligible(weight) or x.dtype != torch.float32 or x.numel() == 0:
            return F.linear(x, weight)
        if torch.is_grad_enabled():
            return (_OneDNNLinear.apply(x, weight) if _onednn_enabled() and self.training_kernel == "onednn"
                    else F.linear(x, weight))
        layout = self._copy_layout(weight)
        if torch.compiler.is_compiling():  # no copy can be checked here: the plain weight
            return onednn_linear(x, weight) if layout == "packed" else F.linear(x, weight)
        return F.linear(x, weight) if layout is None else self._multiply(x, layout)

    @staticmethod
    def _eligible(weight: torch.Tensor) -> bool:
        """A plain float32 CPU tensor outside CPU autocast (where ``F.linear`` must pick the dtype)."""
        return (type(weight) in (torch.Tensor, nn.Parameter) and weight.is_cpu and weight.dtype == torch.float32
                and not torch.is_autocast_enabled("cpu"))

    def _copy_layout(self, weight: torch.Tensor) -> str | None:
        """The layout of the inference copy this layer multiplies by without gradients, or ``None`` (``F.linear``)."""
        layout = self.inference_layout
        if (not self._eligible(weight) or layout == "plain"
                or (layout == "packed" and not _onednn_enabled())):
            return None
        return layout

    def _multiply(self, x: torch.Tensor, layout: str, copy: torch.Tensor | None = None) -> torch.Tensor:
        """``x`` by the inference copy in ``layout`` (``copy``, or the cached one made current)."""
        if layout == "transposed" and x.numel() > self.transposed_rows * self.in_features:
            return F.linear(x, self.weight)
        copy = self.inference_weight(layout) if copy is None else copy
        return _product(x, copy) if layout == "packed" else x @ copy

    def inference_weight(self, layout: str) -> torch.Tensor:
        """The weight in ``layout``, cached until the weight changes."""
        weight = self.weight
        if weight.is_inference():  # made under inference_mode: no version counter to watch, so no cache
            return weight if layout == "packed" else weight.t()
        made = self._copy_of
        if (made is None or made[0] != layout or made[1].data_ptr() != weight.data_ptr()
                or made[2] != (weight.shape, weight.stride(), weight._version)):
            self._copy = None  # free the stale copy before making the new one
            with torch.inference_mode(False), torch.no_grad():  # a plain tensor even when built in inference mode
                source = weight.detach()  # holds the storage, so that no new weight can reuse its address
                self._copy = (torch.ops.mkldnn._reorder_linear_weight(source) if layout == "packed"
                              else source.t().contiguous())
            self._copy_of = (layout, source, (weight.shape, weight.stride(), weight._version))
        return self._copy

    def refresh_inference_weight(self) -> None:
        """Make the inference copy current now if this layer would use one, else drop it."""
        layout = self._copy_layout(self.weight)
        if layout is None:
            self.drop_inference_weight()
        else:
            self.inference_weight(layout)

    def drop_inference_weight(self) -> int:
        """Free the cached copy; returns its size in bytes."""
        freed = 0 if self._copy is None else self._copy.numel() * self._copy.element_size()
        self._copy = self._copy_of = None
        return freed

    def _apply(self, fn, recurse: bool = True):  # .to(), .cuda(), .half()...: the copy describes the old weight
        self.drop_inference_weight()
        return super()._apply(fn, recurse)

    def __getstate__(self) -> dict:
        return {**super().__getstate__(), "_copy": None, "_copy_of": None}  # pickles and deep copies leave it out


def use_cpu_kernels(model: nn.Module) -> int:
    """Swap every bias-free ``nn.Linear`` of ``model`` for a :class:`OneDNNLinear` sharing its weight; returns how
    many were swapped (0 where oneDNN's operators are missing: the model then stays as built)."""
    if not available():
        return 0
    swapped = 0
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if type(child) is nn.Linear and child.bias is None:
                setattr(parent, name, OneDNNLinear.from_linear(child))
                swapped += 1
    return swapped


def _layers(model: nn.Module) -> list[OneDNNLinear]:
    return [module for module in model.modules() if isinstance(module, OneDNNLinear)]


@contextlib.contextmanager
def copies_current(model: nn.Module) -> Iterator[None]:
    """Refresh the inference copy of every :class:`OneDNNLinear` of ``model`` once; inside, those layers use their
    copies without checking them (a no-op for a model without them). ``model``'s weights must not change inside
    (generation does not change them); other models are unaffected."""
    layers = _layers(model)
    before = [layer._copies_current for layer in layers]
    for layer in layers:
        layer.refresh_inference_weight()
        layer._copies_current = True
    try:
        yield
    finally:
        for layer, was in zip(layers, before):
            layer._copies_current = was


def drop_inference_weights(model: nn.Module) -> int:
    """Free every layer's inference copy of its weight; returns the bytes freed."""
    return sum(layer.drop_inference_weight() for layer in _layers(model))
