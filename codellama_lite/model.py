"""The Llama 2 decoder that every Code Llama model is (Code Llama §2; Llama 2 §2.2), in one file, top to bottom.

    tokens ─► embedding ─► n_layers × [ x + Attention(RMSNorm(x)) ; x + SwiGLU(RMSNorm(x)) ]
           ─► RMSNorm ─► output ─► logits

* **RMSNorm** before each sub-layer ("pre-norm"), eps 1e-5, computed in float32.
* **Attention** with rotary position embeddings (RoPE, base ``rope_theta``: 1e4 for Llama 2, 1e6 for Code Llama) and
  grouped-query attention (``n_kv_heads`` key/value heads shared by ``n_heads / n_kv_heads`` query heads each;
  34B, 70B).
  Causal softmax attention through ``torch.nn.functional.scaled_dot_product_attention``.
* **SwiGLU** feed-forward ``w2(silu(w1 x) * w3 x)`` with Llama's width rule (:attr:`ModelConfig.hidden_dim`).
* No biases anywhere; the output layer is not tied to the embedding.

RoPE uses the half-split layout (pairs ``(i, i + head_dim/2)``, as Hugging Face); see :mod:`codellama_lite.rope`. The
projections are named and shaped as in Meta's reference (``wq``, ``wk``, ``wv``, ``wo``; ``w1``, ``w2``, ``w3``), so
:mod:`codellama_lite.interop` only renames them (and permutes RoPE rows for Meta's layout).

Speed (``torch.compile``, FSDP2, mixed precision, fused projections, CPU kernels) is applied to a built model from
outside (:mod:`codellama_lite.accel`, :mod:`codellama_lite.train`); nothing here depends on it. Plotting aids such as
attention maps live in :mod:`codellama_lite.viz.model`.

For incremental decoding a :class:`KVCache` keeps every layer's keys and values in preallocated tensors; batches of
prompts of different lengths are left-padded and described by an ``attention_mask`` (1 = real token), from which each
row's positions are derived.
"""

from __future__ import annotations

import contextlib
import functools
import math

import torch
import torch.nn.functional as F
from torch import nn

from codellama_lite.config import ModelConfig
from codellama_lite.rope import apply_rope, dynamic_scaled_length, rope_tables


class RMSNorm(nn.Module):
    """Root-mean-square layer norm (Zhang & Sennrich, 2019): ``x / sqrt(mean(x²) + eps) * weight``.

    Unlike LayerNorm it neither subtracts the mean nor adds a bias. Computed in float32 whatever the input dtype,
    then cast back before the learned gain is applied (as Meta's reference does).
    """

    def __init__(self, dim: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        normed = F.rms_norm(x.float(), self.weight.shape, eps=self.eps)  # the formula above, as one fused kernel
        return normed.type_as(x) * self.weight


class KVCache:
    """Preallocated keys and values: per layer, one ``(batch, n_kv_heads, max_len, head_dim)`` tensor each.

    ``length`` counts the positions already written; :meth:`Transformer.forward` appends after them and advances it.
    (One tensor per layer rather than one for all: a compiled step then updates whole tensors, not views of one.)
    """

    def __init__(self, config: ModelConfig, batch_size: int, max_len: int,
                 device: torch.device | str | None = None, dtype: torch.dtype = torch.float32) -> None:
        shape = (batch_size, config.kv_heads, max_len, config.head_dim)
        self.keys = [torch.zeros(shape, device=device, dtype=dtype) for _ in range(config.n_layers)]
        self.values = [torch.zeros(shape, device=device, dtype=dtype) for _ in range(config.n_layers)]
        self.batch_size = batch_size
        self.max_len = max_len
        self.length = 0

    def write(self, layer: int, keys: torch.Tensor, values: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Store one layer's new keys/values at ``length``; return all keys/values so far (views, no copy)."""
        new, end = keys.shape[2], self.length + keys.shape[2]
        self.keys[layer].narrow(2, self.length, new).copy_(keys)
        self.values[layer].narrow(2, self.length, new).copy_(values)
        return self.keys[layer].narrow(2, 0, end), self.values[layer].narrow(2, 0, end)

    def at(self, slot: torch.Tensor) -> KVSlot:
        """A writer for one fixed-shape decoding step at position ``slot`` (see :meth:`Transformer.decode_step`)."""
        return KVSlot(self, slot)


class KVSlot:
    """Writes one step's keys/values at a position held in a tensor and returns every layer's *whole* buffers.

    Shapes then never change from step to step, so one compiled step serves every position; the attention mask
    hides the slots not written yet.
    """

    def __init__(self, cache: KVCache, slot: torch.Tensor) -> None:
        self.cache, self.slot = cache, slot

    def write(self, layer: int, keys: torch.Tensor, values: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        all_keys, all_values = self.cache.keys[layer], self.cache.values[layer]
        all_keys.index_copy_(2, self.slot, keys)
        all_values.index_copy_(2, self.slot, values)
        return all_keys, all_values


class Attention(nn.Module):
    """Multi-head (or grouped-query) causal self-attention with rotary position embeddings."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.n_heads, self.n_kv_heads, self.head_dim = config.n_heads, config.kv_heads, config.head_dim
        self.wq = nn.Linear(config.dim, self.n_heads * self.head_dim, bias=False)
        self.wk = nn.Linear(config.dim, self.n_kv_heads * self.head_dim, bias=False)
        self.wv = nn.Linear(config.dim, self.n_kv_heads * self.head_dim, bias=False)
        self.wo = nn.Linear(self.n_heads * self.head_dim, config.dim, bias=False)

    def project(self, x: torch.Tensor, cos: torch.Tensor,
                sin: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Rotated queries ``(batch, n_heads, seq, head_dim)``, rotated keys and values ``(batch, n_kv_heads, ...)``."""
        batch, seq, _ = x.shape
        q = self.wq(x).view(batch, seq, self.n_heads, self.head_dim).transpose(1, 2)
        k = self.wk(x).view(batch, seq, self.n_kv_heads, self.head_dim).transpose(1, 2)
        v = self.wv(x).view(batch, seq, self.n_kv_heads, self.head_dim).transpose(1, 2)
        return apply_rope(q, cos, sin), apply_rope(k, cos, sin), v  # values are not rotated

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, mask: torch.Tensor | None,
                causal: bool, cache: KVCache | KVSlot | None = None, layer: int = 0) -> torch.Tensor:
        batch, seq, _ = x.shape
        q, k, v = self.project(x, cos, sin)
        if cache is not None:
            k, v = cache.write(layer, k, v)
        # softmax(q kᵀ / sqrt(head_dim) + causal mask) v, each query head reading key/value head h // group size.
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=causal,
                                             enable_gqa=self.n_kv_heads != self.n_heads)
        return self.wo(out.transpose(1, 2).reshape(batch, seq, self.n_heads * self.head_dim))


class FeedForward(nn.Module):
    """SwiGLU (Shazeer, 2020): ``w2(silu(w1 x) * w3 x)``, ``w1`` the gate and ``w3`` the up projection."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.w1 = nn.Linear(config.dim, config.hidden_dim, bias=False)
        self.w2 = nn.Linear(config.hidden_dim, config.dim, bias=False)
        self.w3 = nn.Linear(config.dim, config.hidden_dim, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.w2(F.silu(self.w1(x)) * self.w3(x))


class TransformerBlock(nn.Module):
    """One pre-norm layer: ``h = x + attention(norm(x))``, ``out = h + feed_forward(norm(h))``."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.attention_norm = RMSNorm(config.dim, config.norm_eps)
        self.attention = Attention(config)
        self.ffn_norm = RMSNorm(config.dim, config.norm_eps)
        self.feed_forward = FeedForward(config)

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, mask: torch.Tensor | None,
                causal: bool, cache: KVCache | KVSlot | None = None, layer: int = 0) -> torch.Tensor:
        h = x + self.attention(self.attention_norm(x), cos, sin, mask, causal, cache, layer)
        return h + self.feed_forward(self.ffn_norm(h))


class Transformer(nn.Module):
    """The decoder: ``Transformer(config)(tokens)`` returns logits ``(batch, seq, vocab_size)``.

    ``Transformer(ModelConfig.preset("70b"), device="meta")`` builds the full 70B structure without allocating memory.
    """

    def __init__(self, config: ModelConfig, device: torch.device | str | None = None,
                 dtype: torch.dtype | None = None) -> None:
        super().__init__()
        self.config = config
        with torch.device(device) if device is not None else contextlib.nullcontext():
            self.tok_embeddings = nn.Embedding(config.vocab_size, config.dim)
            self.layers = nn.ModuleList(TransformerBlock(config) for _ in range(config.n_layers))
            self.norm = RMSNorm(config.dim, config.norm_eps)
            self.output = nn.Linear(config.dim, config.vocab_size, bias=False)
            if dtype is not None:
                self.to(dtype)
            self.reset_rope()
            self.init_weights()

    # -- set-up ----------------------------------------------------------------------------------------------------

    def reset_rope(self) -> None:
        """(Re)compute the rotary tables ``rope_cos``, ``rope_sin`` ``(max_seq_len, head_dim)`` from ``self.config``.

        Called on construction; call it again after changing the config's ``rope_theta`` (long-context fine-tuning
        raises the base from 1e4 to 1e6, Code Llama §2.4), ``rope_scaling`` or ``max_seq_len``, or after assigning
        weights to a model built on ``meta``. :meth:`forward` only reads them (see :meth:`rope`).
        """
        weight = self.output.weight
        cos, sin = rope_tables(self.config.head_dim, self.config.rope_theta, self.config.rope_scaling,
                               self.config.max_seq_len, device=weight.device, dtype=weight.dtype)
        self.register_buffer("rope_cos", cos, persistent=False)
        self.register_buffer("rope_sin", sin, persistent=False)

    def rope(self, length: int) -> tuple[torch.Tensor, torch.Tensor]:
        """cos and sin tables ``(at least length, head_dim)`` for the positions ``0 .. length - 1`` of one input.

        Inputs up to ``max_seq_len`` read the tables of :meth:`reset_rope`. A longer input, or a dynamic-NTK input
        longer than the original length (whose frequencies depend on its length,
        :func:`codellama_lite.rope.dynamic_scaled_length`), gets tables made for it by a function outside the module,
        which keeps the last few: the model's state is the same after any input.
        """
        scaled_for = dynamic_scaled_length(self.config.rope_scaling, length)
        if scaled_for is None and length <= self.rope_cos.shape[0]:
            return self.rope_cos, self.rope_sin
        if scaled_for is None:
            length = 1 << (length - 1).bit_length()  # powers of two: a growing input reuses one table
        return _rope_tables(self.config, length, scaled_for, self.rope_cos.device, self.rope_cos.dtype)

    @torch.no_grad()
    def init_weights(self, std: float = 0.02) -> None:
        """Normal(0, 0.02) weights, the residual projections scaled by ``1/sqrt(2 n_layers)`` (GPT-2's rule)."""
        for name, param in self.named_parameters():
            if name.endswith(("attention.wo.weight", "feed_forward.w2.weight")):
                nn.init.normal_(param, 0.0, std / math.sqrt(2 * self.config.n_layers))
            elif "norm" in name:
                nn.init.ones_(param)
            else:
                nn.init.normal_(param, 0.0, std)

    def num_params(self) -> int:
        return sum(param.numel() for param in self.parameters())

    def new_cache(self, batch_size: int, max_len: int) -> KVCache:
        """An empty :class:`KVCache` on this model's device and dtype."""
        weight = self.output.weight
        return KVCache(self.config, batch_size, max_len, device=weight.device, dtype=weight.dtype)

    # -- the forward pass ------------------------------------------------------------------------------------------

    def forward(self, tokens: torch.Tensor, cache: KVCache | None = None, attention_mask: torch.Tensor | None = None,
                positions: torch.Tensor | None = None, last_only: bool = False) -> torch.Tensor:
        """Logits for ``tokens`` ``(batch, seq)``.

        * ``cache``: append this chunk's keys/values after ``cache.length`` and attend to everything cached.
        * ``attention_mask``: ``(batch, cache.length + seq)``, 1 for real tokens, 0 for (left) padding. Rows are then
          positioned by their own count of real tokens, and padding is never attended to.
        * ``positions``: explicit RoPE positions ``(seq,)`` or ``(batch, seq)`` (default: consecutive).
        * ``last_only``: compute logits for the last position only (what decoding needs).
        """
        batch, seq = tokens.shape
        start = cache.length if cache is not None else 0
        total = start + seq
        if cache is not None and total > cache.max_len:
            raise ValueError(f"KV cache holds {cache.max_len} positions; {start} cached + {seq} new do not fit")
        if attention_mask is not None and tuple(attention_mask.shape) != (batch, total):
            raise ValueError(f"attention_mask has shape {tuple(attention_mask.shape)}, expected {(batch, total)}")
        if positions is None and attention_mask is not None:
            positions = (attention_mask.long().cumsum(-1) - 1).clamp_(min=0)[:, start:]
        cos, sin = self._rope_for(start, seq, positions)
        mask, causal = self._attention_mask(start, seq, attention_mask, tokens.device)

        h = self.tok_embeddings(tokens)
        for index, layer in enumerate(self.layers):
            h = layer(h, cos, sin, mask, causal, cache, index)
        if cache is not None:
            cache.length = total
        if last_only:
            h = h[:, -1:]
        return self.output(self.norm(h))

    def decode_step(self, tokens: torch.Tensor, cache: KVCache, slot: torch.Tensor,
                    real: torch.Tensor) -> torch.Tensor:
        """Logits ``(batch, vocab)`` for one new token per row, ``tokens`` ``(batch, 1)``, written at cache position
        ``slot`` (a one-element tensor) — the same result as :meth:`forward` with the cache, in fixed shapes.

        ``real`` ``(batch, cache.max_len)`` marks real tokens (1) and left padding (0), as ``attention_mask`` does;
        the token attends to the real positions up to ``slot`` and is rotated by their count. Every tensor keeps its
        shape whatever the position, so ``torch.compile`` compiles this once (:func:`codellama_lite.generate.generate`
        with ``compile=True``). The caller advances ``cache.length``.
        """
        allowed = real.bool() & (torch.arange(cache.max_len, device=tokens.device) <= slot)
        positions = allowed.sum(-1, keepdim=True) - 1
        cos_table, sin_table = self.rope(cache.max_len)
        cos, sin = cos_table[positions].unsqueeze(1), sin_table[positions].unsqueeze(1)
        mask = allowed[:, None, None, :]
        writer = cache.at(slot)
        h = self.tok_embeddings(tokens)
        for index, layer in enumerate(self.layers):
            h = layer(h, cos, sin, mask, False, writer, index)
        return self.output(self.norm(h))[:, -1]

    def _rope_for(self, start: int, seq: int, positions: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        """cos/sin for this chunk: ``(seq, head_dim)`` for shared positions, ``(batch, 1, seq, head_dim)`` per row."""
        cos, sin = self.rope(start + seq if positions is None else int(positions.max()) + 1)
        if positions is None:
            return cos[start:start + seq], sin[start:start + seq]
        if positions.dim() == 1:
            return cos[positions], sin[positions]
        return cos[positions].unsqueeze(1), sin[positions].unsqueeze(1)

    @staticmethod
    def _attention_mask(start: int, seq: int, attention_mask: torch.Tensor | None,
                        device: torch.device) -> tuple[torch.Tensor | None, bool]:
        """A boolean mask ``(batch or 1, 1, seq, start + seq)`` (True = may attend), or ``None`` plus ``is_causal``.

        Without padding, a chunk starting at 0 uses the fused causal kernel and one new token needs no mask at all.
        Otherwise: causal order, minus padded keys, plus each token's own position so that no row is empty
        (a padding query attending to nothing would make NaNs that leak into later layers).
        """
        if attention_mask is None and start == 0:
            return None, seq > 1
        if attention_mask is None and seq == 1:
            return None, False
        rows = torch.arange(start, start + seq, device=device)[:, None]
        cols = torch.arange(start + seq, device=device)[None, :]
        allowed = cols <= rows
        if attention_mask is not None:
            allowed = (allowed & attention_mask.bool()[:, None, :]) | (cols == rows)
        return allowed.unsqueeze(-3) if allowed.dim() == 3 else allowed[None, None], False


@functools.lru_cache(maxsize=4)
def _rope_tables(config: ModelConfig, length: int, scaled_for: int | None, device: torch.device,
                 dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`codellama_lite.rope.rope_tables` for ``config``, the last few kept (decoding steps share one).

    Made outside inference mode, so that a table first needed while generating also serves training.
    """
    with torch.inference_mode(False), torch.no_grad():
        return rope_tables(config.head_dim, config.rope_theta, config.rope_scaling, length, scaled_for,
                           device=device, dtype=dtype)
