"""Plots and explorers for chapter 6 (Code Llama §3): pass@k, its estimators, and pass@k against temperature.

Every explorer is a plain function first (``passk_explorer(n=20, c=3, k=5)`` draws and returns the numbers); the
ipywidgets front end (:func:`passk_widget`) only wires sliders to it, and falls back to the plain call when
ipywidgets is missing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
from matplotlib.ticker import MaxNLocator

from codellama_lite.evaluation.passk import (estimate_pass_at_k, expected_estimate, expected_pass_at_k,
                                             naive_pass_at_k)


def passk_explorer(n: int = 20, c: int = 3, k: int = 5, ax=None) -> dict[str, float]:
    """pass@k of one problem with ``c`` of ``n`` samples correct: the unbiased estimate and the naive plug-in.

    Draws both over every ``k`` from 1 to ``n`` and marks the chosen ``k``; returns the two values at ``k``.
    """
    ks = list(range(1, n + 1))
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot(ks, [estimate_pass_at_k(n, c, j) for j in ks], label="unbiased 1 - C(n-c,k)/C(n,k)")
    ax.plot(ks, [naive_pass_at_k(n, c, j) for j in ks], "--", label="naive 1 - (1 - c/n)^k")
    ax.axvline(k, color="grey", lw=0.8)
    ax.set(xlabel="k", ylabel="pass@k", ylim=(0, 1.02), title=f"one problem, {c} of {n} samples pass")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.legend(loc="lower right")
    return {"unbiased": estimate_pass_at_k(n, c, k), "naive": naive_pass_at_k(n, c, k)}


def passk_widget(n: int = 20, c: int = 3, k: int = 5):
    """Sliders for ``n``, ``c``, ``k`` driving :func:`passk_explorer`; without ipywidgets, one plain call."""
    try:
        import ipywidgets as widgets
    except ImportError:
        return passk_explorer(n, c, k)
    n_slider = widgets.IntSlider(value=n, min=1, max=200, description="n")
    c_slider = widgets.IntSlider(value=c, min=0, max=n, description="c")
    k_slider = widgets.IntSlider(value=k, min=1, max=n, description="k")
    _follow_n(n_slider, {"c": c_slider, "k": k_slider})

    def show(n, c, k):
        values = passk_explorer(n, c, k)
        plt.show()
        print(f"pass@{k}: unbiased {values['unbiased']:.4f}, naive {values['naive']:.4f}")

    return widgets.interactive(show, n=n_slider, c=c_slider, k=k_slider)


def _follow_n(n_slider, bounded: dict) -> None:
    """Keep each slider of ``bounded`` at most ``n``, remembering what the learner chose: shrinking ``n`` lowers a
    value only while ``n`` is below it, and growing ``n`` again brings the chosen value back."""
    chosen = {name: slider.value for name, slider in bounded.items()}
    clamping = []

    def remember(name):
        def on_change(change):
            if not clamping:
                chosen[name] = change["new"]
        return on_change

    def follow(change):
        clamping.append(True)
        try:
            for name, slider in bounded.items():
                slider.max = change["new"]
                slider.value = min(chosen[name], change["new"])
        finally:
            clamping.pop()

    for name, slider in bounded.items():
        slider.observe(remember(name), names="value")
    n_slider.observe(follow, names="value")


def plot_estimator_bias(n: int = 20, k: int = 10, rates: Sequence[float] | None = None, ax=None) -> dict[str, list]:
    """The expectation of each estimator over the binomial draw of ``c``, against the true pass@k, by pass rate."""
    rates = list(rates) if rates is not None else [i / 100 for i in range(0, 51)]
    curves = {"true": [expected_pass_at_k(p, k) for p in rates],
              "unbiased": [expected_estimate(estimate_pass_at_k, p, n, k) for p in rates],
              "naive": [expected_estimate(naive_pass_at_k, p, n, k) for p in rates]}
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot(rates, curves["true"], lw=3, alpha=0.4, label="true 1 - (1-p)^k")
    ax.plot(rates, curves["unbiased"], label="E[unbiased]")
    ax.plot(rates, curves["naive"], "--", label="E[naive]")
    ax.set(xlabel="per-sample pass rate p", ylabel=f"pass@{k}", title=f"expected estimates from n = {n} samples")
    ax.legend(loc="lower right")
    return {"rates": rates, **curves}


def plot_temperature_sweep(measured: Mapping[float, Mapping[int, float]],
                           expected: Mapping[float, Mapping[int, float]] | None = None, ax=None, title: str = ""):
    """pass@k (one line per ``k``) against sampling temperature; ``expected`` draws known true values dashed."""
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 3.5))
    temperatures = sorted(measured)
    ks = sorted({k for row in measured.values() for k in row})
    for k in ks:
        line, = ax.plot(temperatures, [measured[t].get(k, float("nan")) for t in temperatures], "o-",
                        label=f"pass@{k}")
        if expected is not None:
            ax.plot(temperatures, [expected[t][k] for t in temperatures], "--", color=line.get_color(), alpha=0.6)
    ax.set(xlabel="temperature", ylabel="pass@k", ylim=(0, 1.02), title=title or "pass@k against temperature")
    ax.legend(loc="lower right")
    return ax


def plot_verdicts(results: Sequence, ax=None, title: str = "verdicts"):
    """Bar chart of verdict statuses (passed, failed, error, timeout, crashed) of a list of results."""
    statuses = ["passed", "failed", "error", "timeout", "crashed"]
    tally = [sum(r.status == s for r in results) for s in statuses]
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 3))
    ax.bar(statuses, tally)
    ax.set(ylabel="samples", title=title)
    return ax


def plot_score_panels(panels: Mapping[str, Mapping[str, object]], title: str = ""):
    """Side-by-side bar panels of pass@k in percent, one panel per source (e.g. our model on the toy benchmark, the
    synthetic sampler, the paper on HumanEval). A bar's value is a :class:`~codellama_lite.evaluation.passk.PassAtK`
    (drawn with its interval) or a plain percentage (a published number, no interval). Panels share no axis meaning
    beyond "percent": they are different benchmarks, and each panel's title says which."""
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.6), squeeze=False, sharey=True,
                             layout="constrained")
    for ax, (name, bars) in zip(axes.flat, panels.items()):
        labels = list(bars)
        values, errors = zip(*(_percent_and_error(bars[label]) for label in labels))
        drawn = ax.bar(range(len(labels)), values, color=[f"C{i % 10}" for i in range(len(labels))])
        measured = [i for i, label in enumerate(labels) if hasattr(bars[label], "low")]
        if measured:
            ax.errorbar(measured, [values[i] for i in measured], yerr=list(zip(*(errors[i] for i in measured))),
                        fmt="none", ecolor="black", capsize=3)
        ax.bar_label(drawn, [f"{value:.0f}" for value in values], fontsize=8, padding=2)
        ax.set_xticks(range(len(labels)), labels, rotation=30, ha="right", fontsize=8)
        ax.set_title(name, fontsize=9)
    axes.flat[0].set(ylabel="pass@k (%)", ylim=(0, 105))
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


def _percent_and_error(value) -> tuple[float, tuple[float, float]]:
    """A bar's height and its (below, above) error in percent: a PassAtK's interval, none for a plain number."""
    if hasattr(value, "low"):
        return 100 * value.value, (100 * (value.value - value.low), 100 * (value.high - value.value))
    return float(value), (0.0, 0.0)
