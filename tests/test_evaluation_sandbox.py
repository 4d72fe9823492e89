"""The sandbox's judge semantics, wire codec and lifecycle (the attacks live in test_evaluation_sandbox_attacks.py)."""

from __future__ import annotations

import math
import os
from pathlib import Path

import pytest

from codellama_lite.evaluation.sandbox import wire as child
from codellama_lite.evaluation.sandbox import isolation as isolation
from codellama_lite.evaluation.sandbox import IsolationError, Program, Sandbox, Verdict


@pytest.fixture(scope="module")
def sandbox():
    with Sandbox(timeout=3.0, workers=2) as box:
        yield box


@pytest.mark.parametrize("value", [
    None, True, False, 0, -7, 10 ** 40, 1.5, -0.0, "text", "", b"\x00\xff", bytearray(b"ab"), 2 - 3j,
    [1, [2, (3, 4)]], (1,), (), {1, 2}, frozenset({"a"}), {(1, 2): [3], "k": {"n": None}}, [{1: 2.5}, set()],
])
def test_codec_round_trips_builtin_values_exactly(value):
    back = child.decode(child.encode(value))
    assert back == value and type(back) is type(value)


def test_codec_carries_non_finite_floats():
    back = child.decode(child.encode([math.inf, -math.inf, math.nan]))
    assert back[:2] == [math.inf, -math.inf] and math.isnan(back[2])


@pytest.mark.parametrize("value", [object(), lambda: 1, iter([1]), {1: object()}, [1, [2, print]]])
def test_codec_refuses_everything_else(value):
    with pytest.raises(child.Unserializable):
        child.encode(value)


@pytest.mark.parametrize("wire", [{"x": 1}, {"t": 1}, {"d": [[1]]}, {"f": "1e999"}, {"c": ["a", 1]}, {"t": [], "s": []},
                                  {"s": [[1]]}, {"b": "!!"}])
def test_decoder_rejects_malformed_or_unknown_tags(wire):
    with pytest.raises((ValueError, TypeError)):
        child.decode(wire)


def test_decoder_refuses_deep_nesting():
    wire: object = []
    for _ in range(child.MAX_DEPTH + 5):
        wire = [wire]
    with pytest.raises(ValueError):
        child.decode(wire)


def _program(candidate: str, test: str, entry="f", setup: str = "") -> Program:
    return Program(candidate=candidate, test=test, entry_points=(entry,), setup=setup, task_id="t")


def test_verdicts_in_order_with_reasons(sandbox):
    test = "assert f(2) == 4\nassert f(-3) == 9\n"
    verdicts = sandbox.run([_program("def f(x): return x * x", test),
                            _program("def f(x): return 2 * x", test),
                            _program("def f(x): raise KeyError('k')", test),
                            _program("def g(x): return x", test),
                            _program("def f(x) return", test)], progress=True)
    assert [v.status for v in verdicts] == ["passed", "failed", "error", "error", "error"]
    assert verdicts[0].passed and not any(v.passed for v in verdicts[1:])
    assert "test line 2" in verdicts[1].reason and "f(-3)" in verdicts[1].reason
    assert "KeyError" in verdicts[2].reason
    assert "entry point f" in verdicts[3].reason
    assert "SyntaxError" in verdicts[4].reason
    assert all(isinstance(v, Verdict) and v.isolation == sandbox.isolation and v.seconds > 0 for v in verdicts)


def test_types_survive_the_channel_so_tuple_is_not_list(sandbox):
    test = "r = f()\nassert r == (1, 2) and type(r) is tuple\nassert f2() == [1, 2]\n"
    candidate = "def f(): return (1, 2)\ndef f2(): return [1, 2]\n"
    assert sandbox.run_one(Program(candidate, test, ("f", "f2"))).status == "passed"
    assert sandbox.run_one(Program("def f(): return [1, 2]\ndef f2(): return [1, 2]\n", test,
                                   ("f", "f2"))).status == "failed"


def test_arguments_keywords_and_rich_values_cross_both_ways(sandbox):
    candidate = "def f(a, *, b):\n    return {'sum': a[0] + b, 'set': {a[1]}, 'raw': bytes([a[0]]), 'z': 1j * b}\n"
    test = "assert f((7, 'x'), b=2) == {'sum': 9, 'set': {'x'}, 'raw': b'\\x07', 'z': 2j}\n"
    assert sandbox.run_one(_program(candidate, test)).status == "passed"


def test_candidate_exceptions_arrive_as_judge_classes_that_tests_can_catch(sandbox):
    test = ("try:\n    f(-1)\nexcept ValueError as e:\n    assert type(e).__name__ == 'CandidateValueError'\n"
            "    assert type(e).__module__ != 'builtins'\nelse:\n    raise AssertionError('no exception')\n")
    assert sandbox.run_one(_program("def f(x):\n    raise ValueError('negative')\n", test)).status == "passed"


def test_setup_helpers_are_available_to_the_test_and_the_entry_point_is_the_candidates(sandbox):
    setup = "def encode(s):\n    return s[::-1]\n\ndef decode(s):\n    '''the prompt's stub'''\n"
    test = "assert decode(encode('abc')) == 'abc'\n"
    assert sandbox.run_one(_program(setup + "def decode(s):\n    return s[::-1]\n", test, "decode",
                                    setup)).status == "passed"
    assert sandbox.run_one(_program(setup, test, "decode", setup)).status == "failed"  # the stub returns None


def test_modules_an_mbpp_test_uses_without_importing_are_imported_in_the_judge(sandbox):
    test = "assert math.isclose(f(2.0), 4.0)\nassert re.fullmatch('a+', 'aaa')\n"
    assert sandbox.run_one(_program("def f(x): return x * x", test)).status == "passed"


def test_a_name_nobody_defines_is_a_clear_error(sandbox):
    verdict = sandbox.run_one(_program("def f(): return 1", "assert helper_nobody_defines(f()) == 1\n"))
    assert verdict.status == "error" and "helper_nobody_defines" in verdict.reason


def test_candidate_output_is_kept_for_humans_but_never_decides(sandbox):
    verdict = sandbox.run_one(_program("def f():\n    print('all tests passed')\n    return 0\n", "assert f() == 1\n"))
    assert verdict.status == "failed" and "all tests passed" in verdict.output


def test_candidate_runs_unprivileged_in_a_private_tmp(sandbox):
    from codellama_lite.evaluation.sandbox.isolation import scratch_interpreter_paths

    # Empty but for the interpreter's own folders when it lives under /tmp (a virtual environment there).
    exposed = sorted({Path(path).parts[2] for path in scratch_interpreter_paths() if path.startswith("/tmp/")})
    test = f"uid, cwd, files = f()\nassert uid != 0 and sorted(files) == {exposed!r}\n"
    candidate = "import os\ndef f():\n    return os.getuid(), os.getcwd(), os.listdir('.')\n"
    verdict = sandbox.run_one(_program(candidate, test))
    if os.geteuid() == 0 or "mntns" in sandbox.isolation:
        assert verdict.status == "passed", verdict


def test_timeout_and_crash_statuses():
    quick = Sandbox(timeout=0.5, workers=1)
    try:
        assert quick.run_one(_program("def f():\n    while True: pass\n", "f()")).status == "timeout"
        crashed = quick.run_one(_program("import os\nos._exit(3)\n", "f()"))
        assert crashed.status == "crashed" and "code 3" in crashed.reason
    finally:
        quick.close()


@pytest.mark.parametrize("bad, message", [
    (dict(entry_points=["f"]), "entry_points"), (dict(entry_points=("not an id",)), "entry_points"),
    (dict(test=None), "test"), (dict(candidate=b"x"), "candidate"),
])
def test_malformed_programs_are_rejected_with_the_field_named(sandbox, bad, message):
    fields = dict(candidate="def f(): pass", test="f()", entry_points=("f",))
    fields.update(bad)
    with pytest.raises(ValueError, match=message):
        sandbox.run([Program(**fields)])


@pytest.mark.parametrize("kwargs, message", [(dict(timeout=0), "timeout"), (dict(workers=0), "workers"),
                                             (dict(memory_mb=0), "memory_mb")])
def test_bad_settings_are_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Sandbox(**kwargs)


def test_close_leaves_no_process_and_no_cgroup_behind():
    box = Sandbox(timeout=1.0, workers=2)
    assert box.run_one(_program("def f(): return 1", "assert f() == 1")).passed
    zygote = box._zygote.proc.pid
    judges = [s.judge.pid for s in box._all_slots if s.judge is not None]
    roots = list(box._cgroups.roots) if box._cgroups else []
    box.close()
    box.close()  # idempotent
    for pid in [zygote, *judges]:
        stat = Path(f"/proc/{pid}/stat")
        assert not stat.exists() or stat.read_text().split(") ")[-1].startswith("Z")
    assert not any(Path(r).exists() for r in roots)
    with pytest.raises(RuntimeError, match="closed"):
        box.run_one(_program("def f(): return 1", "f()"))


def test_a_candidate_sees_no_network_interface_but_a_down_loopback(sandbox):
    if "netns" not in sandbox.isolation:
        pytest.skip(f"no network namespace on this machine ({sandbox.isolation})")
    candidate = (
        "def f():\n"
        "    with open('/proc/net/dev') as fh:\n"
        "        names = [line.split(':')[0].strip() for line in fh.readlines()[2:]]\n"
        "    with open('/sys/class/net/lo/operstate') as fh:\n"
        "        return names, fh.read().strip()\n")
    verdict = sandbox.run_one(_program(candidate, "names, state = f()\nassert names == ['lo'], names\n"
                                                  "assert state in ('down', 'unknown'), state\n"))
    assert verdict.passed, verdict.reason


def test_no_socket_carries_over_between_candidates_of_one_slot():
    name = f"\\0codellama-lite-test-{os.getpid()}"
    first = (
        "import os, socket, time\n"
        "def f():\n"
        f"    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)\n"
        f"    server.bind({name!r})\n"
        "    server.listen(1)\n"
        "    if os.fork() == 0:\n"
        "        os.setsid()\n"
        "        time.sleep(30)\n"
        "    return True\n")
    second = (
        "import socket\n"
        "def f():\n"
        "    client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)\n"
        "    try:\n"
        f"        client.connect({name!r})\n"
        "    except OSError:\n"
        "        return False\n"
        "    return True\n")
    with Sandbox(timeout=2.0, workers=1) as box:
        bound, reached = box.run([_program(first, "assert f() is True\n"), _program(second, "assert f() is False\n")])
    assert bound.passed, bound.reason  # the first really listened
    assert reached.passed, reached.reason  # the second could not reach it


def test_below_the_minimum_isolation_nothing_runs_unless_allowed():
    with pytest.raises(IsolationError, match="allow_weak_isolation=True"):
        Sandbox(timeout=1.0, workers=1, isolate=False)
    with Sandbox(timeout=1.0, workers=1, isolate=False, allow_weak_isolation=True) as weak:
        verdict = weak.run_one(_program("def f(): return 1", "assert f() == 1"))
    assert verdict.passed and verdict.level == weak.level == "process"


def test_every_verdict_records_its_level(sandbox):
    verdict = sandbox.run_one(_program("def f(): return 1", "assert f() == 1"))
    assert verdict.level == sandbox.level == isolation.level_of(sandbox.isolation.split("+"))
    assert not isolation.below_minimum(verdict.level)


def test_levels_follow_the_measures():
    assert isolation.level_of(["rlimits", "uid"]) == "process"
    assert isolation.level_of(["pidns", "netns", "rlimits", "uid"]) == "process"
    assert isolation.level_of(["pidns", "netns", "mntns", "rlimits", "uid"]) == "namespaces"
    assert isolation.level_of(["userns", "pidns", "netns", "mntns", "rlimits"]) == "namespaces"
    assert isolation.level_of(["pidns", "netns", "mntns", "rlimits", "uid", "cgroup2"]) == "namespaces+cgroup"


def test_the_sandbox_is_linux_only(monkeypatch):
    monkeypatch.setattr("sys.platform", "darwin")
    with pytest.raises(IsolationError, match="only on Linux"):
        Sandbox(timeout=1.0, workers=1)


def _fake_cgroup2(root: Path, subtree: str = "") -> None:
    (root / "cgroup.controllers").write_text("cpu memory pids\n")
    (root / "cgroup.subtree_control").write_text(subtree)


def test_cgroup_v2_slots_get_pids_and_memory_limits(tmp_path):
    """cgroup v2 (the default on current distributions), on a stand-in hierarchy: controllers delegated to our
    group, one group per slot with pids.max and memory.max (v1 is what this CI machine runs for real)."""
    _fake_cgroup2(tmp_path)
    assert isolation.cgroup_version(str(tmp_path)) == "cgroup2"
    groups = isolation.SlotCgroups(2, 64, 1 << 30, "cgroup2", fs_root=str(tmp_path), own={"": "/"})
    (root,) = groups.roots
    assert set((tmp_path / "cgroup.subtree_control").read_text().split()) == {"+memory", "+pids"}
    assert set(Path(root, "cgroup.subtree_control").read_text().split()) == {"+memory", "+pids"}
    assert groups.slots == [[f"{root}/slot0"], [f"{root}/slot1"]]
    for (slot,) in groups.slots:
        assert Path(slot, "pids.max").read_text() == "64"
        assert Path(slot, "memory.max").read_text() == str(1 << 30)


def test_cgroup_v2_without_the_controllers_is_refused(tmp_path):
    (tmp_path / "cgroup.controllers").write_text("cpu\n")
    (tmp_path / "cgroup.subtree_control").write_text("")
    with pytest.raises(OSError, match="pids and memory"):
        isolation.SlotCgroups(1, 64, 1 << 30, "cgroup2", fs_root=str(tmp_path), own={"": "/"})
    assert isolation.cgroup_version(str(tmp_path / "nothing")) is None


def test_a_candidates_memory_error_and_exception_group_are_mirrored(sandbox):
    memory = ("try:\n    f()\nexcept MemoryError as e:\n    assert 'too big' in str(e)\n"
              "else:\n    raise AssertionError('no exception')\n")
    assert sandbox.run_one(_program("def f():\n    raise MemoryError('too big')\n", memory)).status == "passed"
    group = ("seen = []\ntry:\n    f()\nexcept* ValueError as e:\n    seen.append(len(e.exceptions))\n"
             "except* KeyError:\n    seen.append('key')\nassert seen == [2, 'key'], seen\n")
    candidate = "def f():\n    raise ExceptionGroup('many', [ValueError('a'), KeyError('b'), ValueError('c')])\n"
    assert sandbox.run_one(_program(candidate, group)).status == "passed"
    uncaught = sandbox.run_one(_program("def f():\n    raise MemoryError('too big')\n", "f()"))
    assert uncaught.status == "error" and "MemoryError" in uncaught.reason and "__new__" not in uncaught.reason
