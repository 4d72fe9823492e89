"""The attack suite (issue 3; docs/paper_facts.md §8): programs a model could emit, run through the Sandbox on a real
HumanEval-style task. For each: the verdict is right (never "passed" for a wrong solution), the canary file the test
owns is intact, no process it started survives, nothing it was told leaks, and the same Sandbox then scores a
correct and a wrong sample normally. All attacks run as one parallel batch, so the suite costs seconds.
"""

from __future__ import annotations

import json
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
from dataclasses import asdict, dataclass
from pathlib import Path

import pytest

from codellama_lite.evaluation.sandbox import Program, Sandbox, Verdict

SETUP = '''
def sum_squares(xs: list) -> int:
    """Return the sum of the squares of the numbers in xs.
    >>> sum_squares([1, 2, 3])
    14
    """
'''
TEST = '''
METADATA = {"author": "codellama-lite", "dataset": "attack-suite"}


def check(candidate):
    assert candidate([1, 2, 3]) == 14
    assert candidate([]) == 0
    assert candidate([-2, 5]) == 29
    assert all(map(lambda x: candidate([x]) == x * x, [1, 2, 3]))
    assert candidate(xs=[10]) == 100
'''
CHECK = "\ncheck(sum_squares)\n"
CORRECT = "def sum_squares(xs):\n    return sum(x * x for x in xs)\n"
WRONG = "def sum_squares(xs):\n    return 0\n"
SECRET_NAME = "CODELLAMA_LITE_ATTACK_SECRET"

NOT_PASSED = {"failed", "error", "timeout", "crashed"}


@dataclass(frozen=True)
class Attack:
    name: str
    code: str  # formatted with {canary}, {canary_dir}, {port}, {marker}, {secret_name}
    expect: frozenset[str]


# A forked process cannot carry the marker in its command line, so each survivor names itself (comm) after it.
MARK = "def _mark():\n    import ctypes\n    ctypes.CDLL(None).prctl(15, b'{marker}', 0, 0, 0)  # PR_SET_NAME\n"


def attack(name: str, code: str, *expect: str) -> Attack:
    if code.startswith(MARK):
        code = MARK + textwrap.dedent(code[len(MARK):])
    return Attack(name, textwrap.dedent(code), frozenset(expect or NOT_PASSED))

ATTACKS = [
    attack("infinite_loop", """
        def sum_squares(xs):
            while True:
                pass
        """, "timeout"),
    attack("sleep_forever", """
        import time
        def sum_squares(xs):
            time.sleep(3600)
        """, "timeout"),
    attack("trap_signals_and_catch_base_exception", """
        import signal
        for s in (signal.SIGALRM, signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGXCPU, signal.SIGUSR1):
            signal.signal(s, signal.SIG_IGN)
        signal.alarm(0)
        def sum_squares(xs):
            while True:
                try:
                    while True:
                        pass
                except BaseException:
                    pass
        """, "timeout"),
    attack("fork_bomb", MARK + """
        import os
        _mark()
        while True:
            try:
                os.fork()
                _mark()
            except OSError:
                pass
        """),
    attack("setsid_survivor", MARK + """
        import os, time
        if os.fork() == 0:
            os.setsid()
            _mark()
            while True:
                time.sleep(0.05)
        def sum_squares(xs):
            return 0
        """, "failed"),
    attack("double_fork_daemon_exec", """
        import os, sys
        if os.fork() == 0:
            os.setsid()
            if os.fork() == 0:
                os.execv(sys.executable, [sys.executable, "-c", "import time\\nwhile True: time.sleep(0.05)",
                                          "{marker}"])
            os._exit(0)
        def sum_squares(xs):
            return 0
        """, "failed"),
    attack("shell_background_job", """
        import subprocess
        subprocess.Popen("nohup sh -c 'while :; do sleep 0.05; done; : {marker}' >/dev/null 2>&1 &", shell=True)
        def sum_squares(xs):
            return 0
        """, "failed"),
    attack("survivor_outlives_timeout", MARK + """
        import os, time
        if os.fork() == 0:
            os.setsid()
            _mark()
            while True:
                time.sleep(0.05)
        def sum_squares(xs):
            while True:
                pass
        """, "timeout"),
    attack("memory_bomb", """
        hoard = []
        while True:
            hoard.append(bytearray(64 << 20))
        """),
    attack("memory_bomb_in_call", """
        def sum_squares(xs):
            hoard = []
            while True:
                try:
                    hoard.append(bytearray(64 << 20))
                except MemoryError:
                    return 0
        """, "failed", "error", "crashed", "timeout"),
    attack("disk_filler", """
        import os
        for d in (".", "/tmp", "/var/tmp", "/dev/shm", "{canary_dir}", os.path.expanduser("~"), "/"):
            for i in range(100000):
                try:
                    with open(os.path.join(d, "fill%d.bin" % i), "wb") as fh:
                        fh.write(b"0" * (8 << 20))
                except OSError:
                    break
        def sum_squares(xs):
            return 0
        """, "failed", "timeout"),
    attack("unlink_canary", """
        import os, posix
        for f in (os.unlink, os.remove, posix.unlink):
            try:
                f("{canary}")
            except OSError:
                pass
        def sum_squares(xs):
            return 0
        """, "failed"),
    attack("rmtree_canary_dir", """
        import shutil, subprocess
        shutil.rmtree("{canary_dir}", ignore_errors=True)
        subprocess.run(["rm", "-rf", "{canary_dir}"], capture_output=True)
        def sum_squares(xs):
            return 0
        """, "failed"),
    attack("overwrite_chmod_rename_canary", """
        import os
        for step in (lambda: open("{canary}", "w").write("pwned"), lambda: os.truncate("{canary}", 0),
                     lambda: os.chmod("{canary}", 0o777), lambda: os.rename("{canary}", "{canary}.moved"),
                     lambda: os.symlink("/etc/passwd", "{canary_dir}/link")):
            try:
                step()
            except OSError:
                pass
        def sum_squares(xs):
            return 0
        """, "failed"),
    attack("network_connect", """
        import socket
        for family, addr in ((socket.AF_INET, ("127.0.0.1", {port})), (socket.AF_INET6, ("::1", {port}))):
            try:
                s = socket.socket(family, socket.SOCK_STREAM)
                s.settimeout(0.3)
                s.connect(addr)
                s.sendall(b"pwned")
            except OSError:
                pass
        def sum_squares(xs):
            return 0
        """, "failed"),
    attack("read_secrets", """
        import os, glob
        found = [os.environ.get("{secret_name}", "")]
        for path in glob.glob("/proc/*/environ") + glob.glob("/proc/*/cmdline"):
            try:
                found.append(open(path, "rb").read().decode("latin-1"))
            except OSError:
                pass
        print("\\n".join(found))
        def sum_squares(xs):
            return 0
        """, "failed"),
    attack("stdout_flood", """
        import sys
        def sum_squares(xs):
            chunk = "passed\\n" * 100000
            for _ in range(2000):
                sys.stdout.write(chunk)
            return 0
        """),
    attack("close_and_redirect_stdout", """
        import os, sys
        os.close(1)
        os.close(2)
        fd = os.open("/dev/null", os.O_WRONLY)
        os.dup2(fd, 1)
        sys.stdout = sys.stderr = None
        def sum_squares(xs):
            return 0
        """, "failed"),
    attack("read_stdin", """
        import sys
        data = sys.stdin.read()
        def sum_squares(xs):
            return int(input() or 0)
        """, "error"),
    attack("deep_recursion", """
        def sum_squares(xs):
            return sum_squares(xs)
        """, "error"),
    attack("deep_recursion_unlimited_segfaults", """
        import sys
        sys.setrecursionlimit(10 ** 9)
        def sum_squares(xs, depth=0):
            return sum_squares(xs, depth + 1)
        """, "crashed", "error", "timeout"),
    attack("segfault_ctypes", """
        import ctypes
        def sum_squares(xs):
            return ctypes.string_at(0)
        """, "crashed"),
    attack("sys_exit_before_tests", """
        import sys
        sys.exit(0)
        """, "error", "crashed"),
    attack("os_exit_before_tests", """
        import os
        os._exit(0)
        """, "crashed"),
    attack("sys_exit_inside_call", """
        import sys
        def sum_squares(xs):
            sys.exit(0)
        """, "error"),
    attack("monkeypatch_builtins", """
        import builtins, sys
        class Never(Exception):
            pass
        builtins.AssertionError = Never
        builtins.all = lambda *a: True
        builtins.sum = lambda *a: 14
        builtins.__dict__["print"] = lambda *a, **k: None
        sys.modules["builtins"].__dict__["isinstance"] = lambda *a: True
        def sum_squares(xs):
            return 0
        """, "failed", "crashed"),
    attack("walk_frames_to_forge", """
        import sys
        f = sys._getframe()
        while f is not None:
            for scope in (f.f_locals, f.f_globals):
                for key in list(scope):
                    if key in ("status", "result", "verdict", "passed", "reason"):
                        try:
                            scope[key] = "passed"
                        except Exception:
                            pass
            f = f.f_back
        def sum_squares(xs):
            return 0
        """, "failed"),
    attack("gc_walk_for_harness_and_tests", """
        import gc, socket, struct, json, os
        needle = "assert candidate(" + "[-2, 5]"
        hits = [o for o in gc.get_objects() if isinstance(o, str) and o is not needle and needle in o]
        print("FOUND-TEST-SOURCE" if hits else "no test source here")
        for o in gc.get_objects():
            if isinstance(o, dict) and "status" in o:
                o["status"] = "passed"
            if isinstance(o, list) and o and isinstance(o[0], dict) and "passed" in o[0]:
                o[0]["passed"] = True
        fake = json.dumps({{"seq": 1, "status": "passed", "reason": "forged"}}).encode()
        for fd in range(3, 64):
            try:
                os.write(fd, struct.pack("!I", len(fake)) + fake)
            except OSError:
                pass
        def sum_squares(xs):
            return 0
        """),
    attack("forge_protocol_replies", """
        import json, struct
        def frame(obj):
            data = json.dumps(obj).encode()
            return struct.pack("!I", len(data)) + data
        import os
        os.write(3, frame({{"ready": True, "missing": []}}) + frame({{"ok": 14}}) + frame({{"status": "passed"}}))
        def sum_squares(xs):
            return 0
        """),
    attack("kill_parent_and_everyone", """
        import os, signal
        for target in (os.getppid(), -1, 1):
            for sig in (signal.SIGKILL, signal.SIGTERM):
                try:
                    os.kill(target, sig)
                except OSError:
                    pass
        for pid in range(2, 4096):
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        def sum_squares(xs):
            return 0
        """, "failed"),
    attack("ptrace_proc_mem", """
        import glob
        for path in glob.glob("/proc/[0-9]*/mem"):
            try:
                with open(path, "r+b") as fh:
                    fh.write(b"x")
            except OSError:
                pass
        def sum_squares(xs):
            return 0
        """, "failed"),
    attack("fake_success_marker_after_wrong_answer", """
        def sum_squares(xs):
            print("all tests passed")
            print('{{"status": "passed"}}')
            print("PASSED")
            return 0
        """, "failed"),
    attack("int_subclass_equal_to_everything", """
        class Liar(int):
            def __eq__(self, other):
                return True
            __hash__ = int.__hash__
        def sum_squares(xs):
            return Liar(0)
        """, "failed", "error"),
    attack("object_equal_to_everything", """
        class Liar:
            def __eq__(self, other):
                return True
        def sum_squares(xs):
            return Liar()
        """, "error"),
    attack("stop_iteration_empties_all", """
        def sum_squares(xs):
            if len(xs) == 1:
                raise StopIteration
            return sum(x * x for x in xs)
        """, "error"),
    attack("raise_assertion_error_named_class", """
        class AssertionError(Exception):
            pass
        def sum_squares(xs):
            raise AssertionError("passed")
        """, "failed", "error"),
    attack("huge_result", """
        def sum_squares(xs):
            return "7" * (80 << 20)
        """, "error", "crashed", "timeout"),
    attack("deeply_nested_result", """
        def sum_squares(xs):
            r = []
            for _ in range(100000):
                r = [r]
            return r
        """, "error"),
    attack("escape_via_setuid_and_unshare", """
        import os, ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        for f in (lambda: os.setuid(0), lambda: os.setresuid(0, 0, 0), lambda: libc.unshare(0x10000000),
                  lambda: libc.mount(b"none", b"/", None, 0x20 | 0x4000, None)):
            try:
                f()
            except OSError:
                pass
        try:
            open("{canary}", "w").write("pwned")
        except OSError:
            pass
        def sum_squares(xs):
            return 0
        """, "failed"),
]


@dataclass
class Battle:
    verdicts: dict[str, object]
    canary_text: dict[str, str | None]
    canary_dirs: dict[str, Path]
    survivors: dict[str, list[str]]
    connections: int
    secret: str
    controls: list[object]
    zygote_children: set[int]
    judge_pids: set[int]
    server_pids: set[int]
    server_children: set[int]
    isolation: str


def _processes_with(marker: str) -> list[str]:
    hits = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            comm = Path(f"/proc/{pid}/comm").read_text().strip()
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode("latin-1")
            state = Path(f"/proc/{pid}/stat").read_text().split(") ")[-1][:1]
        except OSError:
            continue
        if (marker in comm or marker in cmdline) and state != "Z":
            hits.append(f"{pid} {comm} {cmdline[:80]}")
    return hits


def _children(pid: int) -> set[int]:
    try:
        return {int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()}
    except OSError:
        return set()


def _run_battle(tmp: Path, attacks: list[Attack], sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> Battle:
    secret = secrets.token_hex(16)
    monkeypatch.setenv(SECRET_NAME, secret)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    listener.setblocking(False)
    port = listener.getsockname()[1]
    tag = secrets.token_hex(4)
    programs, markers, canaries = [], {}, {}
    for i, a in enumerate(attacks):
        canary_dir = tmp / a.name
        canary_dir.mkdir()
        canary = canary_dir / "canary.txt"
        canary.write_text(f"canary {a.name}\n")
        canaries[a.name] = canary
        markers[a.name] = f"sbx{tag}{i:02d}"
        code = a.code.format(canary=canary, canary_dir=canary_dir, port=port, marker=markers[a.name],
                             secret_name=SECRET_NAME)
        programs.append(Program(candidate=SETUP + code, test=TEST + CHECK, entry_points=("sum_squares",),
                                setup=SETUP, task_id=a.name))
    verdicts = dict(zip((a.name for a in attacks), sandbox.run(programs)))
    # the same Sandbox, with room to spare: on a loaded CI machine a 1-2 s limit is no test of correctness
    controls = sandbox.run([Program(SETUP + CORRECT, TEST + CHECK, ("sum_squares",), SETUP, "control-correct"),
                            Program(SETUP + WRONG, TEST + CHECK, ("sum_squares",), SETUP, "control-wrong")],
                           timeout=20.0)
    connections = 0
    while True:
        try:
            conn, _ = listener.accept()
        except BlockingIOError:
            break
        connections += 1
        conn.close()
    listener.close()
    return Battle(
        verdicts=verdicts,
        canary_text={n: (c.read_text() if c.is_file() and not c.is_symlink() else None) for n, c in canaries.items()},
        canary_dirs={n: c.parent for n, c in canaries.items()},
        survivors={n: _processes_with(m) for n, m in markers.items()},
        connections=connections, secret=secret, controls=controls,
        zygote_children=_children(sandbox._zygote.proc.pid),
        judge_pids={s.judge.pid for s in sandbox._all_slots if s.judge is not None},
        server_pids={s.server.pid for s in sandbox._all_slots if s.server is not None},
        server_children=set().union(*(_children(s.server.pid) for s in sandbox._all_slots if s.server is not None)),
        isolation=sandbox.isolation)


UNPRIVILEGED_USER = "codellama-sbx"
# Run as root by the test: a private mount namespace in which the interpreter (behind a closed /root) is visible,
# then become the unprivileged user and fight the same battle; the outcome comes back as JSON on stdout.
AS_USER = """
import json, os, sys
from dataclasses import asdict
from pathlib import Path
import pytest
sys.path.insert(0, {tests!r})
import test_evaluation_sandbox_attacks as suite
from codellama_lite.evaluation.sandbox import isolation as iso
from codellama_lite.evaluation.sandbox import IsolationError, Sandbox
uid, gid, tmp = {uid}, {gid}, Path({tmp!r})
iso.unshare(iso.CLONE_NEWNS)
iso.mount(None, "/", None, iso.MS_REC | iso.MS_PRIVATE)
iso.expose_interpreter(iso.hidden_interpreter_paths(uid))
os.setgroups([])
os.setresgid(gid, gid, gid)
os.setresuid(uid, uid, uid)
os.environ["HOME"] = str(tmp)
try:
    with pytest.MonkeyPatch.context() as mp, Sandbox(timeout=2.0, workers=4, memory_mb=512) as sandbox:
        battle = suite._run_battle(tmp, suite.ATTACKS, sandbox, mp)
except IsolationError as error:
    print(json.dumps({{"refused": str(error)}}))
    raise SystemExit(0)
print(json.dumps(suite.battle_to_json(battle)))
"""


def battle_to_json(battle: Battle) -> dict:
    record = {key: value for key, value in vars(battle).items()}
    record["verdicts"] = {name: asdict(v) for name, v in battle.verdicts.items()}
    record["controls"] = [asdict(v) for v in battle.controls]
    record["canary_dirs"] = {name: str(path) for name, path in battle.canary_dirs.items()}
    for key in ("zygote_children", "judge_pids", "server_pids", "server_children"):
        record[key] = sorted(record[key])
    return record


def battle_from_json(record: dict) -> Battle:
    record = dict(record)
    record["verdicts"] = {name: Verdict(**v) for name, v in record["verdicts"].items()}
    record["controls"] = [Verdict(**v) for v in record["controls"]]
    record["canary_dirs"] = {name: Path(p) for name, p in record["canary_dirs"].items()}
    for key in ("zygote_children", "judge_pids", "server_pids", "server_children"):
        record[key] = set(record[key])
    return Battle(**record)


def _unprivileged_user() -> tuple[int, int]:
    """The test's own unprivileged user, created (as root) if missing; skips where that is impossible."""
    if os.geteuid() != 0:
        pytest.skip("creating an unprivileged user needs root (this run is already unprivileged)")
    try:
        entry = pwd.getpwnam(UNPRIVILEGED_USER)
    except KeyError:
        useradd = shutil.which("useradd")
        if useradd is None:
            pytest.skip("no useradd on this machine to create an unprivileged user")
        made = subprocess.run([useradd, "--system", "--no-create-home", "--shell", "/usr/sbin/nologin",
                               UNPRIVILEGED_USER], capture_output=True, text=True)
        if made.returncode != 0:
            pytest.skip(f"useradd failed: {made.stderr.strip()}")
        entry = pwd.getpwnam(UNPRIVILEGED_USER)
    return entry.pw_uid, entry.pw_gid


def _battle_as_unprivileged_user(tmp: Path) -> Battle:
    uid, gid = _unprivileged_user()
    import codellama_lite
    from codellama_lite.evaluation.sandbox.isolation import closed_ancestor
    package = str(Path(codellama_lite.__file__).resolve().parent)
    closed = closed_ancestor(package, uid)
    if closed:  # e.g. root's checkout under a 0700 /root (Debian 12 makes homes 0700): the user cannot start it
        pytest.skip(f"user {UNPRIVILEGED_USER} cannot reach {package}: {closed} is closed to others")
    os.chown(tmp, uid, gid)
    script = AS_USER.format(tests=str(Path(__file__).parent), uid=uid, gid=gid, tmp=str(tmp))
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300, cwd="/")
    assert run.returncode == 0, run.stderr[-3000:]
    record = json.loads(run.stdout.strip().splitlines()[-1])
    if "refused" in record:
        pytest.skip(f"an unprivileged user gets no isolation at the minimum level here: {record['refused']}")
    return battle_from_json(record)


@pytest.fixture(scope="module", params=["invoking-user", "unprivileged-user"])
def battle(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Battle:
    """The whole battle at each isolation level this machine can produce: as whoever runs the tests (root in CI:
    uid nobody, namespaces, cgroups) and as an unprivileged user created for the purpose (user namespaces)."""
    tmp = Path(tempfile.mkdtemp(prefix="sbx-attacks-"))  # not under pytest's 0700 root-owned directory
    tmp.chmod(0o755)
    try:
        if request.param == "unprivileged-user":
            yield _battle_as_unprivileged_user(tmp)
            return
        with pytest.MonkeyPatch.context() as mp, Sandbox(timeout=2.0, workers=4, memory_mb=512) as sandbox:
            yield _run_battle(tmp, ATTACKS, sandbox, mp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def test_there_are_enough_attacks() -> None:
    assert len(ATTACKS) >= 25 and len({a.name for a in ATTACKS}) == len(ATTACKS)


def test_survivor_detector_sees_a_marked_process(tmp_path: Path) -> None:
    """The 'no survivors' checks are not vacuous: the attacks' marking code, run unsandboxed, is found."""
    import subprocess
    import sys
    marker = f"sbxprobe{secrets.token_hex(3)}"
    script = tmp_path / "marked.py"  # a file, not -c: the marker must not sit in our own command line
    script.write_text(MARK.format(marker=marker) + "_mark()\nimport time\ntime.sleep(30)\n")
    proc = subprocess.Popen([sys.executable, str(script)])
    try:
        import time
        deadline = time.monotonic() + 10
        while not _processes_with(marker) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert _processes_with(marker)
    finally:
        proc.kill()
        proc.wait()
    assert _processes_with(marker) == []


@pytest.mark.parametrize("a", ATTACKS, ids=lambda a: a.name)
def test_attack_is_contained(battle: Battle, a: Attack) -> None:
    verdict = battle.verdicts[a.name]
    assert verdict.status in a.expect, f"{a.name}: {verdict}"
    assert not verdict.passed
    assert verdict.isolation == battle.isolation
    assert battle.canary_text[a.name] == f"canary {a.name}\n", f"{a.name} touched its canary"
    assert sorted(p.name for p in battle.canary_dirs[a.name].iterdir()) == ["canary.txt"]
    assert battle.survivors[a.name] == [], f"{a.name} left processes behind"
    assert battle.secret not in verdict.output and battle.secret not in verdict.reason
    assert "FOUND-TEST-SOURCE" not in verdict.output


def test_no_connection_reached_the_host(battle: Battle) -> None:
    if "netns" not in battle.isolation:
        pytest.skip(f"no network namespace on this machine ({battle.isolation})")
    assert battle.connections == 0


def test_sandbox_still_scores_normally_after_the_attacks(battle: Battle) -> None:
    correct, wrong = battle.controls
    assert correct.status == "passed", correct
    assert wrong.status == "failed", wrong


def test_only_judges_and_slot_servers_remain_under_the_fork_servers(battle: Battle) -> None:
    assert battle.zygote_children <= battle.judge_pids | battle.server_pids
    assert battle.server_children == set()  # every candidate reaped


def test_isolation_level_is_recorded(battle: Battle) -> None:
    parts = set(battle.isolation.split("+"))
    assert "rlimits" in parts and {"pidns", "netns", "mntns"} <= parts  # at least the minimum level, or refused
    assert {v.level for v in battle.verdicts.values()} == {v.level for v in battle.controls}
    assert next(iter(battle.verdicts.values())).level in ("namespaces", "namespaces+cgroup")
    if "uid" not in parts:  # an unprivileged user: a user namespace whose capabilities are dropped
        assert "userns" in parts


def test_timeouts_kill_trees_without_a_pid_namespace(tmp_path: Path) -> None:
    """The fallback (no namespaces): the subreaper sweep still kills setsid / double-fork / fork-bomb trees."""
    names = {"setsid_survivor", "double_fork_daemon_exec", "survivor_outlives_timeout",
             "fork_bomb", "infinite_loop", "unlink_canary", "shell_background_job"}
    chosen = [a for a in ATTACKS if a.name in names]
    tmp_path.chmod(0o755)
    with pytest.MonkeyPatch.context() as mp, \
            Sandbox(timeout=1.0, workers=4, isolate=False, allow_weak_isolation=True) as sandbox:
        assert "pidns" not in sandbox.isolation
        result = _run_battle(tmp_path, chosen, sandbox, mp)
    for a in chosen:  # without a pids cgroup the fork bomb may starve the others' forks: any non-pass is right
        assert result.verdicts[a.name].status in NOT_PASSED, (a.name, result.verdicts[a.name])
        assert result.survivors[a.name] == [], a.name
        if os.geteuid() == 0:
            assert result.canary_text[a.name] == f"canary {a.name}\n", a.name
    assert [v.status for v in result.controls] == ["passed", "failed"]


def test_killing_the_parent_sandbox_kills_everything(tmp_path: Path) -> None:
    """If the process that owns the Sandbox dies, the fork server, judges and running candidates go with it."""
    import subprocess
    import sys
    import time
    half = secrets.token_hex(3)
    marker = f"sbxorphan{half}"  # spelled in two pieces below, so only the candidate's processes carry it whole
    script = tmp_path / "owner.py"
    script.write_text(textwrap.dedent(f"""
        from codellama_lite.evaluation.sandbox import Program, Sandbox
        sb = Sandbox(timeout=30)
        code = "import ctypes\\nctypes.CDLL(None).prctl(15, b'sbxorphan' + b'{half}', 0, 0, 0)\\n"
        code += "import os\\nos.fork()\\nwhile True: pass\\n"
        print(sb._zygote.proc.pid, flush=True)
        sb.run([Program(code, "f()", ("f",))])
    """))
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    zygote = int(proc.stdout.readline())
    deadline = time.monotonic() + 10
    while not _processes_with(marker) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _processes_with(marker)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    deadline = time.monotonic() + 10
    while (_processes_with(marker) or Path(f"/proc/{zygote}").exists()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _processes_with(marker) == []
    assert not Path(f"/proc/{zygote}").exists() or "Z" in Path(f"/proc/{zygote}/stat").read_text().split(") ")[-1][:1]
