"""The paper's numbers we use agree with docs/paper_facts.md, inside this repository: the published tables the package
prints beside ours (Tables 2, 5, 14), the model presets (§4), the `gpu` recipes (§5) and the stop sequences (§7); and
nothing shipped repeats a citation the facts file corrects."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from codellama_lite.config import ModelConfig
from codellama_lite.evaluation.report import PAPER_HUMANEVAL, PAPER_INFILLING, PAPER_MBPP
from codellama_lite.evaluation.stops import HUMANEVAL_STOPS
from codellama_lite.experiments.fim import PAPER_FIM_COST_POINTS, PAPER_INFILLING_7B, PAPER_TEST_LOSS
from codellama_lite.pipeline.chain import PAPER_A100_HOURS
from codellama_lite.train import load_recipe

ROOT = Path(__file__).resolve().parent.parent
FACTS = ROOT / "docs" / "paper_facts.md"


def _facts() -> str:
    return FACTS.read_text(encoding="utf-8")


def _table(caption: str) -> list[dict[str, str]]:
    """The rows of the first Markdown table after the line starting with ``caption``, as header -> cell."""
    lines = _facts().splitlines()
    start = next((i for i, line in enumerate(lines) if line.startswith(caption)), None)
    assert start is not None, f"{FACTS.name}: no line starts with {caption!r}"
    rows = []
    for line in lines[start + 1:]:
        if not line.startswith("|"):
            if rows:
                break
            continue
        rows.append([cell.strip() for cell in line.strip().strip("|").split("|")])
    assert len(rows) > 2, f"{FACTS.name}: the table after {caption!r} did not parse"
    header, body = rows[0], rows[2:]
    return [dict(zip(header, row)) for row in body]


def _numbers(cell: str) -> tuple[float, ...]:
    return tuple(float(x) for x in cell.split("/")) if cell.strip() else ()


def _tokens(cell: str) -> float:
    """``4,194,304`` or ``500B`` as a number."""
    cell = cell.replace(",", "")
    return float(cell[:-1]) * 1e9 if cell.endswith("B") else float(cell)


# -- Tables 2, 5 and 14: the numbers printed beside ours -----------------------------------------------------------

def test_humaneval_and_mbpp_rows_match_table_2():
    rows = {f"{row['model']} {row['size']}": (_numbers(row["HumanEval pass@1 / @10 / @100"]),
                                              _numbers(row["MBPP pass@1 / @10 / @100"]))
            for row in _table("Table 2 of [CL]")}
    assert len(rows) == 13
    assert set(PAPER_HUMANEVAL) == set(rows)
    assert set(PAPER_MBPP) == {name for name, (_, mbpp) in rows.items() if mbpp}
    for name, (humaneval, mbpp) in rows.items():
        assert PAPER_HUMANEVAL[name] == humaneval, name
        if mbpp:
            assert PAPER_MBPP[name] == mbpp, name


def test_infilling_figures_match_table_14():
    """The report carries the released (LCFT) models; chapter 3, whose twins have no LCFT, the 7B before LCFT."""
    rows = {(row["size"], row["LCFT"]): row for row in _table("Table 14 of [CL]")}
    for kind in ("single-line", "multi-line", "random-span"):
        for size in ("7B", "13B"):
            psm, spm = _numbers(rows[(size, "yes")][kind])
            assert PAPER_INFILLING[kind][f"Code Llama {size} (PSM)"] == psm, (kind, size)
            assert PAPER_INFILLING[kind][f"Code Llama {size} (SPM)"] == spm, (kind, size)
        psm, spm = _numbers(rows[("7B", "no")][kind])
        assert PAPER_INFILLING_7B[kind] == {"psm": psm, "spm": spm}, kind


def test_fim_cost_and_test_loss_match_table_5():
    """The stated mean costs (0.6 / 1.1 points) are the means of Table 5's six gaps, to the paper's rounding."""
    rows = {(row["model"], row["FIM"]): row for row in _table("Table 5 of [CL]")}
    for size in ("7B", "13B"):
        without, with_fim = rows[(size, "no")], rows[(size, "yes")]
        assert PAPER_TEST_LOSS[size] == {"no FIM": float(without["test loss"]), "FIM": float(with_fim["test loss"])}
        gaps = [a - b for column in ("HumanEval", "MBPP")
                for a, b in zip(_numbers(without[column]), _numbers(with_fim[column]))]
        assert len(gaps) == 6
        assert abs(sum(gaps) / 6 - PAPER_FIM_COST_POINTS[size]) <= 0.05 + 1e-9, size


# -- §4: the presets are the released shapes ---------------------------------------------------------------------

@pytest.mark.parametrize("row", _table("Shapes of the released Code Llama models"), ids=lambda row: row["size"])
def test_presets_match_the_released_shapes(row):
    config = ModelConfig.preset(row["size"].lower())
    assert (config.dim, config.n_layers, config.n_heads, config.kv_heads, config.hidden_dim, config.vocab_size) == (
        int(row["dim"]), int(row["layers"]), int(row["heads"]), int(row["kv heads"]), int(row["ffn"]),
        int(row["vocab"]))
    assert config.rope_theta == float(row["RoPE base"])


# -- §5: the gpu recipes are the paper's 7B stages --------------------------------------------------------------

@pytest.mark.parametrize("row", _table("The 7B stages as the `gpu` recipes run them"), ids=lambda row: row["recipe"])
def test_gpu_recipes_match_the_papers_7b_stages(row):
    recipe = load_recipe(row["recipe"], "gpu")
    per_step = recipe.train.global_batch * recipe.train.seq_len
    assert per_step == _tokens(row["batch tokens"])
    if row["peak LR"] != "—":
        assert recipe.optim.lr == float(row["peak LR"])
    if row["sequence"] != "—":
        assert recipe.train.seq_len == _tokens(row["sequence"])
    if row["steps"] != "—":
        assert recipe.train.max_steps == _tokens(row["steps"])
    if row["tokens"] != "—":
        assert per_step * recipe.train.max_steps == pytest.approx(_tokens(row["tokens"]), rel=1e-3)


def test_optimizer_schedule_and_rope_bases_match_section_5():
    text = _facts()
    beta1, beta2 = map(float, re.search(r"β1 = ([\d.]+), β2 = ([\d.]+)", text).groups())
    warmup = int(re.search(r"with ([\d,]+) warm-up steps", text)[1].replace(",", ""))
    final = re.search(r"final\s+learning rate of 1/(\d+) of the peak", text)
    before, after = (float(x.replace(",", "")) for x in re.search(r"RoPE base raised from ([\d,]+) to ([\d,]+)",
                                                                  text).groups())
    base, lcft = load_recipe("base", "gpu"), load_recipe("lcft", "gpu")
    assert (base.optim.beta1, base.optim.beta2, base.optim.warmup_steps) == (beta1, beta2, warmup)
    assert base.optim.min_lr_ratio == pytest.approx(1 / int(final[1]))
    assert base.model.rope_theta == before and lcft.init.rope_theta == after


@pytest.mark.parametrize("stage, recipe, sources", [
    ("code training", "base", ("code", "nl_code", "nl")),
    ("Python", "python", ("python", "other_code", "nl_code", "nl")),
    ("Instruct rehearsal", "instruct", ("code", "nl")),
])
def test_gpu_mixes_match_table_1(stage, recipe, sources):
    row = next(row for row in _table("Sampling proportions") if row["stage"] == stage)
    shares = [float(x) / 100 for x in re.findall(r"(\d+)%", row["proportions"])]
    weights = load_recipe(recipe, "gpu").data.weights
    assert [weights[source] for source in sources] == pytest.approx(shares)


def test_compute_matches_the_model_card():
    hours = re.search(r"took ([\d,]+)K GPU-hours on A100-80GB", _facts())
    assert hours is not None and PAPER_A100_HOURS == int(hours[1].replace(",", "")) * 1000


# -- §7: stop sequences ------------------------------------------------------------------------------------------

def test_humaneval_stops_are_codex_five_plus_the_harness_two():
    bullet = re.search(r"^- Stop sequences:.*?(?=^- |\Z)", _facts(), re.S | re.M)[0]
    quoted = [(double or single).replace("\\n", "\n")
              for double, single in re.findall(r"`` (.+?) ``|`([^`]+)`", bullet)]
    assert len(quoted) == 7 and "five" in bullet
    assert len(HUMANEVAL_STOPS) == 7 and set(HUMANEVAL_STOPS) == set(quoted)


# -- citations the facts file corrects must not come back ----------------------------------------------------------

def _shipped() -> list[Path]:
    return [*ROOT.glob("notebooks/*.ipynb"), *ROOT.glob("exercises/**/*.py"), *ROOT.glob("exercises/**/*.md"),
            *ROOT.glob("codellama_lite/**/*.py"), *ROOT.glob("configs/*.toml"), ROOT / "README.md"]


WRONG_CITATIONS = {
    r"Figure 7[^\n.;]{0,80}(perplexity|per-position|100K)|(perplexity|100K)[^\n.;]{0,80}Figure 7":
        "Figure 7 is the safety plot; perplexity by position is Figure 4a",
    r"Table 18[^\n.;]{0,40}perplexity|perplexity[^\n.;]{0,40}Table 18": "Table 18 reports key retrieval only",
    r"(AdamW|cosine|warm-up|schedule)[^\n;]{0,60}§ ?2\.5\b": "the optimizer and schedule are Code Llama §2.6",
    r"(Code Llama|Rozière)[^\n]{0,40}§ ?2\.1\)? (keeps|uses)[^\n]{0,30}tokeni[sz]er|§ ?2\.1 tokeni[sz]er":
        "the tokenizer is Code Llama §2.2",
    r"\[FIM §C\]|FIM[^\n]{0,20}App(endix|\.) C\b": "the compatible SPM variant is in the FIM paper's appendix D",
    r"Table 4\b": "Table 4 is multilingual HumanEval (MultiPL-E), which the workbook does not measure",
    r"score single digits": "Codex-300M scores 13.2% and CodeGen-Mono 350M 12.8% pass@1 on HumanEval",
    r"the paper's stop sequences": "Code Llama lists no stop sequences; ours are Codex's five plus two",
}


@pytest.mark.parametrize("pattern", sorted(WRONG_CITATIONS))
def test_nothing_shipped_repeats_a_corrected_citation(pattern):
    found = [str(path.relative_to(ROOT)) for path in _shipped()
             if re.search(pattern, path.read_text(encoding="utf-8"))]
    assert not found, f"{WRONG_CITATIONS[pattern]} (docs/paper_facts.md): {found}"


def test_nothing_shipped_cites_files_outside_the_repository():
    """What a learner reads, notebooks, exercises, the package and its recipes, cites docs/paper_facts.md, never a
    file beside the checkout."""
    outside = re.compile(r"\.\./shared|REFERENCE\.md|\bREFERENCE §|\bPRIOR_ART\b")
    citing = [str(path.relative_to(ROOT)) for path in _shipped() if outside.search(path.read_text(encoding="utf-8"))]
    assert not citing, f"cite docs/paper_facts.md instead of a reference outside the repository: {citing}"
