"""Head scores and the toy benchmark run of codellama_lite.experiments.inspect_model, and the chapter 2 / 6
figures built on them."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from codellama_lite.evaluation.passk import PassAtK  # noqa: E402
from codellama_lite.experiments.inspect_model import (Head, best_heads, induction_pairs, induction_scores,  # noqa: E402
                                                      induction_window, previous_token_scores, score_toy,
                                                      uniform_baseline)
from codellama_lite.data.toyworld import problems  # noqa: E402

TOKENS = [5, 6, 7, 8, 5, 6, 7, 9]


def _maps(patterns: list[torch.Tensor]) -> list[torch.Tensor]:
    """One layer whose heads are ``patterns`` (each ``(seq, seq)``), as attention_maps returns: ``(1, heads, ...)``."""
    return [torch.stack(patterns)[None]]


def _uniform(seq: int) -> torch.Tensor:
    causal = torch.ones(seq, seq).tril()
    return causal / causal.sum(-1, keepdim=True)


def _previous(seq: int) -> torch.Tensor:
    pattern = torch.zeros(seq, seq)
    pattern[0, 0] = 1.0
    pattern[torch.arange(1, seq), torch.arange(seq - 1)] = 1.0
    return pattern


def _induction(tokens: list[int]) -> torch.Tensor:
    pattern = _uniform(len(tokens))
    for query, key in induction_pairs(tokens):
        pattern[query] = 0.0
        pattern[query, key] = 1.0
    return pattern


def test_induction_pairs_point_after_the_earlier_occurrence():
    # 5 6 7 repeat at positions 4-6: at 5 (i=4) look at 6 (j+1=1), at 6 (i=5) at 7 (2); 7 (i=6) goes on differently.
    assert induction_pairs(TOKENS) == [(4, 1), (5, 2)]
    assert induction_pairs([1, 1, 1, 1]) == []  # the previous occurrence is adjacent: that is a previous-token look


def test_previous_token_head_scores_one_and_uniform_the_baseline():
    seq = len(TOKENS)
    scores = previous_token_scores(_maps([_uniform(seq), _previous(seq), _induction(TOKENS)]))
    assert scores.shape == (1, 3)
    assert scores[0, 1].item() == pytest.approx(1.0)
    assert scores[0, 0].item() == pytest.approx(uniform_baseline(seq))
    assert best_heads(scores)[0] == Head(0, 1, pytest.approx(1.0))


def test_induction_head_scores_one_and_is_found():
    seq = len(TOKENS)
    scores = induction_scores(_maps([_previous(seq), _uniform(seq), _induction(TOKENS)]), TOKENS)
    assert scores[0, 2].item() == pytest.approx(1.0)
    assert scores[0, 0].item() == pytest.approx(0.0)
    assert [(h.layer, h.head) for h in best_heads(scores, top=2)] == [(0, 2), (0, 1)]


def test_induction_needs_repeats():
    with pytest.raises(ValueError, match="induction"):
        induction_scores(_maps([_uniform(4)]), [1, 2, 3, 4])


def test_induction_window_holds_the_latest_pair():
    tokens = list(range(40)) + list(range(40))
    queries, keys = induction_window(tokens, width=10)
    query, key = induction_pairs(tokens)[-1]
    assert len(queries) == len(keys) == 10 and query in queries and key in keys


class _Fixed:
    """A completer that answers every task from a table (canonical bodies, or a wrong one)."""

    def __init__(self, answers: dict[str, str], default: str = "    return None\n") -> None:
        self.answers, self.default, self.calls = answers, default, []

    def __call__(self, task, *, temperature, top_p, max_new_tokens, seed):
        self.calls.append((task.task_id, temperature, seed))
        return self.answers.get(task.task_id, self.default)


def test_score_toy_counts_passing_samples(tmp_path):
    chosen = problems("test", seed=0, count=3)
    completer = _Fixed({p.task_id: p.canonical_solution for p in chosen[:2]})
    score = score_toy(completer, "test", 3, tmp_path, n=2, temperature=0.8, ks=(1, 2))
    assert score.problems == 3 and score.samples_per_problem == 2
    assert score.pass_at_k[1].value == pytest.approx(2 / 3)
    assert {seed for _, _, seed in completer.calls} and len(completer.calls) == 6
    again = score_toy(completer, "test", 3, tmp_path, n=2, temperature=0.8, ks=(1, 2))  # resumes: nothing new
    assert len(completer.calls) == 6 and again.pass_at_k[2].value == pytest.approx(2 / 3)


def test_chapter_figures_draw():
    from codellama_lite.viz.evaluation import plot_score_panels
    from codellama_lite.viz.model import (plot_gqa_sharing, plot_head_scores, plot_heads, plot_rmsnorm_scale,
                                          plot_rope)

    seq = len(TOKENS)
    maps = _maps([_previous(seq), _induction(TOKENS)])
    figures = [plot_rmsnorm_scale(), plot_rope(head_dim=16), plot_gqa_sharing(4, (4, 2, 1)),
               plot_head_scores({"previous-token": previous_token_scores(maps)}, {"previous-token": 0.3}),
               plot_heads(maps, [Head(0, 0, 1.0), Head(0, 1, 1.0)], [str(t) for t in TOKENS],
                          [(range(seq), range(seq))] * 2, ["previous", "induction"]),
               plot_score_panels({"ours": {"pass@1": PassAtK(1, 0.5, 0.25, 0.75, 4)}, "paper": {"pass@1": 33.5}})]
    assert [len(fig.axes) >= 1 for fig in figures] == [True] * len(figures)
    bars = [patch.get_height() for patch in figures[-1].axes[0].patches]
    assert bars == [pytest.approx(50.0)]
    plt.close("all")
