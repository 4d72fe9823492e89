from __future__ import annotations

import os

import pytest

from codellama_lite.support.fileio import append_jsonl, atomic_open, read_jsonl, write_jsonl


def test_atomic_open_leaves_nothing_on_error(tmp_path):
    target = tmp_path / "model.bin"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_open(target) as handle:
            handle.write("half")
            raise RuntimeError("interrupted")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["model.bin"]


def test_jsonl_round_trip_and_cut_off_tail(tmp_path):
    path = tmp_path / "s.jsonl"
    write_jsonl(path, [{"a": 1}, {"b": "é"}])
    append_jsonl(path, {"c": 3})
    with open(path, "a") as handle:
        handle.write('{"d": ')  # an append cut off mid-write
    assert list(read_jsonl(path)) == [{"a": 1}, {"b": "é"}, {"c": 3}]


def test_jsonl_bad_line_names_file_and_line(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"a": 1}\nnot json\n')
    with pytest.raises(ValueError, match=r"bad.jsonl: line 2"):
        list(read_jsonl(path))


def test_atomic_files_get_ordinary_permissions(tmp_path):
    with atomic_open(tmp_path / "new.txt") as handle:
        handle.write("x")
    umask = os.umask(0)
    os.umask(umask)
    assert (tmp_path / "new.txt").stat().st_mode & 0o777 == 0o666 & ~umask
    (tmp_path / "kept.txt").write_text("old")
    os.chmod(tmp_path / "kept.txt", 0o640)
    with atomic_open(tmp_path / "kept.txt") as handle:
        handle.write("new")
    assert (tmp_path / "kept.txt").stat().st_mode & 0o777 == 0o640
