"""Sampling from the model: greedy, temperature and nucleus (top-p) decoding, stop conditions, infilling.

Code Llama §3 scores pass@1 with greedy decoding and pass@10/100 with temperature 0.8 and top-p 0.95; infilling
(§2.3, §3.2) builds a PSM or SPM prompt, generates until the end-of-infill token ``<EOT>`` and decodes the middle
without SentencePiece's implicit leading space.

A batch of prompts of different lengths is left-padded; an attention mask tells the model which positions are real,
so each row is positioned and attended exactly as if it were alone. The prompt is processed once ("prefill") into a
:class:`codellama_lite.model.KVCache`, then each new token costs one single-position forward pass.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch

from codellama_lite.model import KVCache, Transformer
from codellama_lite.rope import rope_type
from codellama_lite.support.text import truncate_at_stops


class TokenizerLike(Protocol):
    """What generation needs from :class:`codellama_lite.tokenizer.Tokenizer`."""

    eos_id: int
    prefix_id: int
    suffix_id: int
    middle_id: int
    eot_id: int

    def encode(self, text: str, bos: bool = ..., eos: bool = ...) -> list[int]: ...

    def decode(self, ids: Sequence[int]) -> str: ...

    def infill_prompt(self, prefix: str, suffix: str, suffix_first: bool = ...) -> list[int]: ...


@dataclass
class Completion:
    """One prompt's continuation.

    ``tokens``: the new tokens, without the stop token; with a stop string, the tokens up to and including the one
    that completed it. ``text``: the decoded continuation cut just before the stop string (``None`` without a
    tokenizer). ``finish_reason``: ``"stop"`` (a stop token or string) or ``"length"`` (``max_new_tokens`` reached).
    """

    tokens: list[int]
    text: str | None
    finish_reason: str


# -- choosing the next token ------------------------------------------------------------------------------------

def top_p_filter(probs: torch.Tensor, top_p: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Nucleus filtering as Meta's ``sample_top_p``: sort by probability, drop every token whose *preceding*
    cumulative probability exceeds ``top_p`` (so the most likely token always survives), renormalise.

    Returns the filtered probabilities in sorted order and the token ids of that order.
    """
    sorted_probs, order = probs.sort(dim=-1, descending=True)
    preceding = sorted_probs.cumsum(dim=-1) - sorted_probs
    sorted_probs = sorted_probs.masked_fill(preceding > top_p, 0.0)
    return sorted_probs / sorted_probs.sum(dim=-1, keepdim=True), order


def sample_next(logits: torch.Tensor, temperature: float = 0.0, top_p: float = 1.0,
                generator: torch.Generator | None = None) -> torch.Tensor:
    """The next token of each row of ``logits`` ``(batch, vocab)``: argmax if ``temperature == 0``, else a draw from
    ``softmax(logits / temperature)`` restricted to the top-p nucleus."""
    if temperature <= 0:
        return logits.argmax(dim=-1)
    probs = torch.softmax(logits.float() / temperature, dim=-1)
    if top_p >= 1.0:
        return torch.multinomial(probs, 1, generator=generator).squeeze(-1)
    sorted_probs, order = top_p_filter(probs, top_p)
    choice = torch.multinomial(sorted_probs, 1, generator=generator)
    return order.gather(-1, choice).squeeze(-1)


# -- the decoding loop ----------------------------------------------------------------------------------------------

def left_pad(prompts: Sequence[Sequence[int]], pad_id: int = 0,
             device: torch.device | str | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Tokens ``(batch, longest)`` padded on the left, and the mask marking real tokens (1) and padding (0)."""
    if not prompts or any(len(prompt) == 0 for prompt in prompts):
        raise ValueError("every prompt needs at least one token (start it with BOS)")
    longest = max(len(prompt) for prompt in prompts)
    tokens = torch.full((len(prompts), longest), pad_id, dtype=torch.long)
    mask = torch.zeros((len(prompts), longest), dtype=torch.long)
    for row, prompt in enumerate(prompts):
        tokens[row, longest - len(prompt):] = torch.tensor(list(prompt), dtype=torch.long)
        mask[row, longest - len(prompt):] = 1
    return tokens.to(device), mask.to(device)


@torch.inference_mode()
def generate(model: Transformer, prompts: Sequence[Sequence[int]], max_new_tokens: int = 64, *,
             temperature: float = 0.0, top_p: float = 1.0, seed: int | None = None,
             stop_ids: Iterable[int] = (), stop_strings: Sequence[str] = (),
             tokenizer: TokenizerLike | None = None, pad_id: int = 0, compile: bool = False) -> list[Completion]:
    """Continue each prompt (a list of token ids) by up to ``max_new_tokens`` tokens.

    Greedy when ``temperature == 0``; otherwise seeded sampling (``seed``) with top-p. A row stops at any of
    ``stop_ids`` (e.g. EOS, EOT) or once its decoded text contains one of ``stop_strings`` (needs ``tokenizer``);
    the loop ends when every row has stopped. ``compile=True`` decodes with :func:`compiled_decode_step` (the same
    tokens; the first call per model and batch size spends 3-8 seconds compiling and then fuses everything between
    the matrix products; a model given the opt-in CPU kernels of :mod:`codellama_lite.accel` keeps their products).
    It needs frequencies fixed for the whole run, which dynamic NTK scaling, whose frequencies change with the length,
    does not have.
    """
    _check_options(max_new_tokens, top_p, stop_strings, tokenizer)
    if compile and rope_type(model.config.rope_scaling) == "dynamic":
        raise ValueError("compile=True decodes with fixed RoPE frequencies; dynamic NTK scaling recomputes them as the "
                         "input grows: generate with compile=False")
    device = model.output.weight.device
    tokens, mask = left_pad(prompts, pad_id, device)
    batch, prompt_len = tokens.shape
    padded = bool((mask == 0).any())
    # One mask for the whole run: the prompt's, then ones for every generated position.
    full_mask = torch.cat((mask, mask.new_ones(batch, max_new_tokens)), dim=1) if padded else None
    generator = torch.Generator(device=device).manual_seed(seed) if seed is not None else None
    stops = torch.tensor(sorted(set(stop_ids)), dtype=torch.long, device=device)

    cache = model.new_cache(batch, prompt_len + max_new_tokens)
    logits = model(tokens, cache=cache, attention_mask=_mask_upto(full_mask, prompt_len), last_only=True)[:, -1]
    advance = (_compiled_steps(model, cache, full_mask if padded else mask.new_ones(batch, cache.max_len))
               if compile else _eager_steps(model, cache, full_mask))
    return _decode(logits, advance, lambda logits, _: sample_next(logits, temperature, top_p, generator),
                   max_new_tokens, stops, stop_strings, tokenizer, pad_id)


def _check_options(max_new_tokens: int, top_p: float, stop_strings: Sequence[str],
                   tokenizer: TokenizerLike | None) -> None:
    if max_new_tokens < 0:
        raise ValueError(f"max_new_tokens must be >= 0, got {max_new_tokens}")
    if not 0.0 < top_p <= 1.0:
        raise ValueError(f"top_p must be in (0, 1], got {top_p}")
    if stop_strings and tokenizer is None:
        raise ValueError("stop_strings need a tokenizer to decode the generated text")


def _decode(logits: torch.Tensor, advance: Callable[[torch.Tensor], torch.Tensor],
            choose: Callable[[torch.Tensor, int], torch.Tensor], max_new_tokens: int, stops: torch.Tensor,
            stop_strings: Sequence[str], tokenizer: TokenizerLike | None, pad_id: int) -> list[Completion]:
    """The decoding loop from the prefilled prompt's ``logits``: ``choose(logits, step)`` picks each row's token,
    ``advance`` feeds it back; a row that has stopped is padded, and the loop ends when every row has stopped."""
    batch = logits.shape[0]
    out = torch.full((batch, max_new_tokens), pad_id, dtype=torch.long, device=logits.device)
    done = torch.zeros(batch, dtype=torch.bool, device=logits.device)
    stopped_by_string = [False] * batch
    steps = 0
    for step in range(max_new_tokens):
        next_token = choose(logits, step).masked_fill(done, pad_id)
        out[:, step] = next_token
        steps = step + 1
        if stops.numel():
            done |= torch.isin(next_token, stops)
        if stop_strings:
            _check_stop_strings(out[:, :steps], done, stopped_by_string, stops, tokenizer, stop_strings)
        if steps == max_new_tokens or bool(done.all()):
            break
        logits = advance(next_token)
    return _completions(out[:, :steps].tolist(), done.tolist(), stopped_by_string, set(stops.tolist()),
                        tokenizer, stop_strings)


def _eager_steps(model: Transformer, cache: KVCache,
                 full_mask: torch.Tensor | None) -> Callable[[torch.Tensor], torch.Tensor]:
    """``advance(tokens)``: append one token per row ``(batch,)`` to the cache; the next logits ``(batch, vocab)``."""
    def advance(tokens: torch.Tensor) -> torch.Tensor:
        mask = _mask_upto(full_mask, cache.length + 1)
        return model(tokens[:, None], cache=cache, attention_mask=mask)[:, -1]
    return advance


def _compiled_steps(model: Transformer, cache: KVCache, real: torch.Tensor) -> Callable[[torch.Tensor], torch.Tensor]:
    """:func:`_eager_steps` through :func:`compiled_decode_step`."""
    decode_step = compiled_decode_step()

    def advance(tokens: torch.Tensor) -> torch.Tensor:
        slot = torch.tensor([cache.length], device=tokens.device)
        logits = decode_step(model, tokens[:, None], cache, slot, real)
        cache.length += 1
        return logits
    return advance


@functools.cache
def compiled_decode_step() -> Callable[..., torch.Tensor]:
    """:meth:`Transformer.decode_step` through ``torch.compile``, called as ``step(model, tokens, cache, slot, real)``.

    Its shapes are fixed, so it compiles once per model and batch size, whatever the position.
    """
    return torch.compile(Transformer.decode_step, fullgraph=True)


def _mask_upto(full_mask: torch.Tensor | None, length: int) -> torch.Tensor | None:
    return None if full_mask is None else full_mask[:, :length]


def _check_stop_strings(generated: torch.Tensor, done: torch.Tensor, stopped_by_string: list[bool],
                        stops: torch.Tensor, tokenizer: TokenizerLike, stop_strings: Sequence[str]) -> None:
    """Mark rows whose decoded continuation now contains a stop string."""
    for row in torch.nonzero(~done).flatten().tolist():
        text = decode_infilling(tokenizer, generated[row].tolist())
        if any(stop in text for stop in stop_strings):
            done[row] = True
            stopped_by_string[row] = True


def _completions(rows: list[list[int]], done: list[bool], stopped_by_string: list[bool], stop_ids: set[int],
                 tokenizer: TokenizerLike | None, stop_strings: Sequence[str]) -> list[Completion]:
    completions = []
    for row, finished, by_string in zip(rows, done, stopped_by_string):
        if finished and not by_string:  # the last token is the stop token; padding follows it
            row = row[: next(i for i, token in enumerate(row) if token in stop_ids)]
        elif finished:
            row = row[: _first_stop_string_end(row, tokenizer, stop_strings)]
        text = None if tokenizer is None else truncate_at_stops(decode_infilling(tokenizer, row), stop_strings)
        completions.append(Completion(row, text, "stop" if finished else "length"))
    return completions


def _first_stop_string_end(row: list[int], tokenizer: TokenizerLike | None, stop_strings: Sequence[str]) -> int:
    """The number of tokens up to the one that completed a stop string."""
    assert tokenizer is not None
    for end in range(1, len(row) + 1):
        text = decode_infilling(tokenizer, row[:end])
        if any(stop in text for stop in stop_strings):
            return end
    return len(row)


# -- many samples of one prompt (pass@k, Code Llama §3) -----------------------------------------------------------

@torch.inference_mode()
def sample_many(model: Transformer, prompt: Sequence[int], n: int, max_new_tokens: int = 64, *,
                temperature: float = 0.0, top_p: float = 1.0, seed: int = 0, seeds: Sequence[int] | None = None,
                batch_size: int = 32, stop_ids: Iterable[int] = (), stop_strings: Sequence[str] = (),
                tokenizer: TokenizerLike | None = None, pad_id: int = 0) -> list[Completion]:
    """``n`` continuations of one prompt, for pass@k: the prompt is prefilled once, its KV cache copied to up to
    ``batch_size`` rows, and those rows decode together (then the next ``batch_size``, from the same prefill).

    Row ``i`` draws its tokens from its own counter-based random stream, keyed by ``seeds[i]`` (default: ``seed`` and
    ``i``) and the step (:func:`row_uniforms`), so a sample is the same whatever the batch size or the other rows —
    a resumed run regenerates exactly the missing samples. Greedy (``temperature == 0``) gives every row the tokens
    :func:`generate` gives the prompt alone. Stops as :func:`generate`.
    """
    _check_options(max_new_tokens, top_p, stop_strings, tokenizer)
    if n < 1 or batch_size < 1:
        raise ValueError(f"need n >= 1 and batch_size >= 1, got n={n}, batch_size={batch_size}")
    seeds = [(seed << 32) + row for row in range(n)] if seeds is None else list(seeds)
    if len(seeds) != n:
        raise ValueError(f"need one seed per sample: {len(seeds)} seeds for n={n}")
    device = model.output.weight.device
    tokens = left_pad([prompt], pad_id, device)[0]
    stops = torch.tensor(sorted(set(stop_ids)), dtype=torch.long, device=device)
    prefix = model.new_cache(1, tokens.shape[1] + max_new_tokens)
    completions: list[Completion] = []
    first = model(tokens, cache=prefix, last_only=True)[:, -1]
    for start in range(0, n, batch_size):
        rows = seeds[start:start + batch_size]
        cache = _copy_rows(model, prefix, len(rows))

        def choose(logits: torch.Tensor, step: int, rows: list[int] = rows) -> torch.Tensor:
            if temperature <= 0:
                return logits.argmax(dim=-1)
            return sample_with(logits, temperature, top_p, row_uniforms(rows, step).to(logits.device))

        completions += _decode(first.expand(len(rows), -1), _eager_steps(model, cache, None), choose,
                               max_new_tokens, stops, stop_strings, tokenizer, pad_id)
    return completions


def _copy_rows(model: Transformer, prefix: KVCache, rows: int) -> KVCache:
    """A cache of ``rows`` rows, each holding ``prefix``'s single row (the prefilled prompt)."""
    cache = model.new_cache(rows, prefix.max_len)
    for mine, theirs in zip(cache.keys + cache.values, prefix.keys + prefix.values):
        mine.narrow(2, 0, prefix.length).copy_(theirs.narrow(2, 0, prefix.length).expand(rows, -1, -1, -1))
    cache.length = prefix.length
    return cache


_MASK64 = (1 << 64) - 1


def _splitmix64(values: np.ndarray) -> np.ndarray:
    """SplitMix64's output function on ``uint64`` values (Steele, Lea and Flood 2014): a counter becomes noise."""
    z = values + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def row_uniforms(seeds: Sequence[int], step: int) -> torch.Tensor:
    """One uniform number in ``[0, 1)`` per row, a function of that row's seed and the step only."""
    keys = _splitmix64(np.array([seed & _MASK64 for seed in seeds], dtype=np.uint64))
    bits = _splitmix64(keys + np.uint64(step)) >> np.uint64(11)
    return torch.from_numpy(bits.astype(np.float64) * 2.0 ** -53)


NUCLEUS_GUESS = 64  # most tokens a trained model's nucleus holds; a wider one falls back to sorting the vocabulary


def _nucleus(probs: torch.Tensor, top_p: float) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`top_p_filter` without sorting the whole vocabulary when every row's nucleus lies within its
    :data:`NUCLEUS_GUESS` most likely tokens (their mass exceeds ``top_p``, so every later token is dropped)."""
    if probs.shape[-1] > NUCLEUS_GUESS:
        top, order = probs.topk(NUCLEUS_GUESS, dim=-1)
        if bool((top.sum(dim=-1) > top_p).all()):
            preceding = top.cumsum(dim=-1) - top
            top = top.masked_fill(preceding > top_p, 0.0)
            return top / top.sum(dim=-1, keepdim=True), order
    return top_p_filter(probs, top_p)


def sample_with(logits: torch.Tensor, temperature: float, top_p: float, uniforms: torch.Tensor) -> torch.Tensor:
    """Each row's token drawn from ``softmax(logits / temperature)`` within the top-p nucleus (as
    :func:`sample_next`), by inverting the distribution's CDF at that row's ``uniforms`` value."""
    probs = torch.softmax(logits.float() / temperature, dim=-1)
    order = None
    if top_p < 1.0:
        probs, order = _nucleus(probs, top_p)
    cdf = probs.double().cumsum(dim=-1)
    picks = torch.searchsorted(cdf, (uniforms * cdf[:, -1])[:, None], right=True).clamp_(max=probs.shape[-1] - 1)
    return (picks if order is None else order.gather(-1, picks)).squeeze(-1)


# -- infilling (Code Llama §2.3) --------------------------------------------------------------------------------------

def decode_infilling(tokenizer: TokenizerLike, ids: Sequence[int]) -> str:
    """Decode ``ids`` keeping a leading space: SentencePiece drops the space of a leading ``▁`` piece (the "implicit
    space" it adds on encoding), which is wrong for any text that continues a prompt — a middle after its prefix, or
    a function body (``▁▁▁▁return``) after its signature.

    Uses the tokenizer's own ``decode_infilling`` when it has one; otherwise decodes behind an anchor token and
    removes the anchor's text.
    """
    own = getattr(tokenizer, "decode_infilling", None)
    if own is not None:
        return own(list(ids))
    anchor = tokenizer.encode("x", bos=False, eos=False)
    anchor_text = tokenizer.decode(anchor)
    return tokenizer.decode(list(anchor) + list(ids))[len(anchor_text):]


def stop_token_ids(tokenizer: TokenizerLike) -> tuple[int, ...]:
    """The ids that end any generation: EOS and, for a tokenizer with the infilling pieces, ``<PRE>``, ``<SUF>``,
    ``<MID>`` and ``<EOT>`` (Code Llama §2.3).

    A FIM marker is never part of a program's text and decodes to nothing, so a marker emitted inside a
    left-to-right body (or a second ``<MID>`` inside a middle) would otherwise be spliced out silently and the text
    after it glued on; the model has stepped outside the text it was asked for, and the completion ends there.
    """
    if not getattr(tokenizer, "has_infilling", True):
        return (tokenizer.eos_id,)
    markers = (tokenizer.prefix_id, tokenizer.suffix_id, tokenizer.middle_id, tokenizer.eot_id)
    return (tokenizer.eos_id, *markers)


def infill(model: Transformer, tokenizer: TokenizerLike, pairs: Sequence[tuple[str, str]], *,
           suffix_first: bool = False, max_new_tokens: int = 128, temperature: float = 0.0, top_p: float = 1.0,
           seed: int | None = None) -> list[str]:
    """Fill the middle between each ``(prefix, suffix)``; ``full_text = prefix + middle + suffix``.

    PSM prompts by default, SPM with ``suffix_first``; generation stops at ``<EOT>`` (or EOS, or another FIM
    marker: :func:`stop_token_ids`).
    """
    prompts = [tokenizer.infill_prompt(prefix, suffix, suffix_first=suffix_first) for prefix, suffix in pairs]
    completions = generate(model, prompts, max_new_tokens, temperature=temperature, top_p=top_p, seed=seed,
                           stop_ids=stop_token_ids(tokenizer))
    return [decode_middle(tokenizer, completion.tokens, prefix) for completion, (prefix, _) in zip(completions, pairs)]


def decode_middle(tokenizer: TokenizerLike, ids: Sequence[int], prefix: str) -> str:
    """The text of a generated middle, decoded as training encoded it (:func:`codellama_lite.fim.apply_fim`).

    After a non-empty prefix the middle continues text already in the prompt (PSM's ``enc_nospace(middle)``, or
    SPM's ``enc(prefix + middle)`` past ``enc(prefix)``): a leading ``▁`` is a real space, kept. After an empty
    prefix the middle opens SPM's ``enc(middle)`` (training lays an empty prefix out as SPM in both modes), so its
    first ``▁`` is SentencePiece's implicit space and is dropped.
    """
    return decode_infilling(tokenizer, ids) if prefix else tokenizer.decode(list(ids))
