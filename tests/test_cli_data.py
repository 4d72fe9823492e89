"""``codellama-lite data stats``: counts as JSON, a table, the realized mix with a tokenizer, errors as exit 2."""

from __future__ import annotations

import json

from codellama_lite.cli import main


def write_tree(root):
    for number in range(4):
        (root / f"m{number}.py").write_text(f"def f{number}(x):\n    return x * {number} + {number ** 3}\n" * 30)
    (root / "z.py").write_text((root / "m0.py").read_text())
    (root / "README.md").write_text("This folder holds four small modules and one copy of the first.\n" * 5)


def test_stats_json_counts(tmp_path, capsys):
    write_tree(tmp_path)
    assert main(["data", "stats", str(tmp_path), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["documents_read"] == {"files": 6} and report["exact_duplicates"] == 1
    assert report["languages"]["python"] + report["near_duplicates"] == 4 and report["languages"]["markdown"] == 1
    assert "tokens" not in report


def test_stats_with_a_tokenizer_reports_tokens_and_the_mix(tmp_path, capsys, small_tokenizer):
    write_tree(tmp_path)
    assert main(["data", "stats", str(tmp_path), "--tokenizer", str(small_tokenizer.model_path),
                 "--seq-len", "64", "--windows", "20"]) == 0
    out = capsys.readouterr().out
    assert "tokens" in out and "mix over 20 packed windows: files 100.0%" in out and "1 exact" in out


def test_missing_path_is_exit_2(tmp_path, capsys):
    assert main(["data", "stats", str(tmp_path / "absent")]) == 2
    assert "absent" in capsys.readouterr().err
