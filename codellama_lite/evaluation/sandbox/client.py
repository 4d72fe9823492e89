"""Running code nobody has read, with verdicts it cannot forge (Code Llama §3; docs/paper_facts.md §8).

The paper scores a model by executing its completions against unit tests (HumanEval, MBPP, infilling). The public
harnesses run that code in the harness's own process tree with a best-effort guard, so a completion can delete files,
outlive its timeout, open sockets, or walk into the harness's memory and mark itself "passed". This module is the
workbook's answer, in three processes per program:

* the **candidate** (untrusted) — forked from a clean fork server that has never run candidate or test code, in its
  own session and, where the OS allows, its own PID and mount namespaces (everything read-only but a fresh
  size-capped ``/tmp``, a fresh ``/proc``) and a network namespace with no usable interface (as root, one per worker
  slot, made once and entered by the slot's candidates one at a time; nothing in it outlives a candidate's PID
  namespace), with rlimits on address space, CPU, file size, open files and processes,
  stdin on ``/dev/null``, a scrubbed environment, capped stdout/stderr, and root dropped to ``nobody``;
* the **judge** (trusted) — runs ``setup`` then ``test`` with each entry point bound to a proxy; a proxy call crosses a
  socket as tagged JSON (never pickle), a candidate exception arrives as the judge's own
  ``CandidateError`` class, and only the judge reports the verdict, to us, on a socket the candidate never holds;
* this **parent** — hands out work, enforces the wall clock, and kills the candidate's whole tree (PID namespace
  teardown; a subreaper sweep where there is no PID namespace), waiting until the fork server reports it gone.

Candidate stdout/stderr are drained for as long as it writes (the head is kept, the rest discarded, so a program
that prints a lot runs as it would anywhere) but never parsed.

**Isolation levels** (``Sandbox.level``, recorded in every Verdict; see
:mod:`~codellama_lite.evaluation.sandbox.isolation`): ``namespaces+cgroup`` > ``namespaces`` (the minimum) >
``process``. Below the minimum no candidate runs unless the caller passes ``allow_weak_isolation=True``. Linux only.
The child side is split by the threat each part answers: ``wire``, ``isolation``, ``judge``,
``server`` (started through ``_child.py``); ``tests/test_evaluation_sandbox_attacks.py`` and
``tests/test_evaluation_sandbox_fidelity.py`` are the proof.
"""

from __future__ import annotations

import itertools
import json
import os
import queue
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import weakref
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from codellama_lite.evaluation.sandbox import _child, isolation
from codellama_lite.evaluation.sandbox.wire import ChannelClosed, recv_msg, send_msg

STATUSES = ("passed", "failed", "error", "timeout", "crashed")
_CHILD_SCRIPT = _child.__file__
_ZYGOTE_ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": "/tmp",
               "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
_OUTPUT_KEPT = 2000  # characters of candidate output kept in a Verdict (for a human; never parsed)


@dataclass(frozen=True)
class Program:
    """One thing to judge. ``candidate`` is untrusted and runs only inside the sandbox; ``setup`` and ``test`` are
    trusted and run in the judge, where each name in ``entry_points`` calls the candidate's object of that name."""

    candidate: str
    test: str
    entry_points: tuple[str, ...]
    setup: str = ""
    task_id: str = ""


@dataclass(frozen=True)
class Verdict:
    """``status`` is one of passed / failed (an assertion or a wrong answer) / error (the candidate raised, does not
    load, lacks an entry point or returned something unserializable) / timeout / crashed (killed by a limit or a
    signal, or exited early). ``output`` is the head of the candidate's stdout+stderr, for humans only. ``isolation``
lists the measures that were in force and ``level`` the isolation level they reach."""

    status: str
    reason: str
    seconds: float
    isolation: str
    output: str = ""
    level: str = ""

    @property
    def passed(self) -> bool:
        return self.status == "passed"


class IsolationError(RuntimeError):
    """The sandbox cannot run here (not Linux), or only below the minimum isolation level and nobody allowed it."""


def _describe_exit(code: int | None) -> str:
    if code is None:
        return "exit status unknown"
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    if code == isolation.SETUP_FAILED:
        return f"exit code {code}: the sandbox could not be entered"
    if code == isolation.RUNNER_BROKEN:
        return f"exit code {code}: its code broke the runner it shares a process with"
    return f"exited with code {code}"


def _kill(pidfd: int, sig: int) -> None:
    try:
        signal.pidfd_send_signal(pidfd, sig)
    except ProcessLookupError:
        pass


class _Zygote:
    """A fork server process and the (locked) request/reply conversation with it. The first one is a fresh
    interpreter; each worker slot gets its own, forked from the first (so never touched by candidate or test code)
    and living in the slot's cgroups, so its candidates are born there."""

    def __init__(self, sock: socket.socket, proc: subprocess.Popen | None = None, pidfd: int | None = None) -> None:
        self.sock, self.proc, self.pidfd = sock, proc, pidfd
        self.pid = proc.pid if proc is not None else None
        self.lock = threading.Lock()
        sock.settimeout(60)
        try:
            hello, _ = recv_msg(sock)
        except (ChannelClosed, OSError) as exc:
            self.close()
            raise RuntimeError(f"a sandbox fork server failed to start: {exc}") from None
        self.features: list[str] = hello["isolation"]

    @classmethod
    def start(cls) -> _Zygote:
        mine, theirs = socket.socketpair()
        proc = subprocess.Popen(
            [sys.executable, "-I", _CHILD_SCRIPT, "zygote", str(theirs.fileno())], pass_fds=(theirs.fileno(),),
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, env=_ZYGOTE_ENV, cwd="/", start_new_session=True)
        theirs.close()
        return cls(mine, proc=proc)

    def fork_server(self, cgroups: list[str]) -> _Zygote:
        mine, theirs = socket.socketpair()
        try:
            reply, pidfd = self.request({"op": "zygote", "cgroups": cgroups}, (theirs.fileno(),))
        finally:
            theirs.close()
        server = _Zygote(mine, pidfd=pidfd)
        server.pid = reply["pid"]
        return server

    def request(self, req: dict, fds: tuple[int, ...]) -> tuple[dict, int]:
        with self.lock:
            send_msg(self.sock, req, fds)
            reply, got = recv_msg(self.sock, max_fds=1)
        if len(got) != 1:
            raise ChannelClosed("fork server reply without a process handle")
        return reply, got[0]

    def close(self) -> None:
        self.sock.close()  # the server exits on end of file; its candidates die with it (parent-death signal)
        if self.proc is not None:
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        elif self.pidfd is not None:
            if not select.select([self.pidfd], [], [], 5)[0]:
                _kill(self.pidfd, signal.SIGKILL)
            os.close(self.pidfd)
            self.pidfd = None


@dataclass
class _Judge:
    """A trusted judge process (one per worker slot, reused while it behaves) and our socket to it."""

    sock: socket.socket
    pidfd: int
    pid: int

    def close(self) -> None:
        _kill(self.pidfd, signal.SIGKILL)
        self.sock.close()
        os.close(self.pidfd)


@dataclass
class _Slot:
    judge: _Judge | None = None
    server: _Zygote | None = None
    cgroups: list[str] | None = None


class Sandbox:
    """Judge programs in isolated processes, ``workers`` at a time; a context manager (``close()`` kills everything).

    ``timeout`` is the wall-clock limit per program (candidate start-up, every call and the test together);
    ``memory_mb`` caps the candidate's address space, ``file_mb`` any file it writes, ``tmpfs_mb`` its private
    ``/tmp``, ``nproc`` the processes (and threads) it may have. Its stdout+stderr are read as it writes them; the
    head is kept in the Verdict. ``isolation`` says what this machine allowed (probed at start) and ``level`` the
    isolation level it reaches; both are recorded in every Verdict. Below ``namespaces`` (no PID, network and mount
    namespaces: the candidate could touch the user's files and network) the constructor raises
    :class:`IsolationError` unless ``allow_weak_isolation=True``; ``isolate=False`` forces the weakest level (for
    tests of the fallback, so it needs ``allow_weak_isolation`` too). Linux only: elsewhere, IsolationError.
    """

    def __init__(self, timeout: float = 3.0, workers: int | None = None, memory_mb: int = 1024, *,
                 file_mb: int = 16, tmpfs_mb: int = 64, nproc: int = 64,
                 isolate: bool = True, allow_weak_isolation: bool = False) -> None:
        if not sys.platform.startswith("linux"):
            raise IsolationError(f"the sandbox runs only on Linux (it needs namespaces, cgroups and pidfds); this is "
                                 f"{sys.platform}: score on a Linux machine or in a Linux container")
        if not timeout > 0:
            raise ValueError(f"timeout must be positive seconds, got {timeout!r}")
        workers = workers if workers is not None else max(2, 2 * (os.cpu_count() or 1))
        if workers < 1:
            raise ValueError(f"workers must be at least 1, got {workers!r}")
        for name, value in (("memory_mb", memory_mb), ("file_mb", file_mb), ("tmpfs_mb", tmpfs_mb),
                            ("nproc", nproc)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        self.timeout, self.workers = float(timeout), workers
        self._limits = {"timeout": self.timeout, "memory_mb": memory_mb, "file_mb": file_mb, "tmpfs_mb": tmpfs_mb,
                        "nproc": nproc}
        self._isolate = isolate
        self._seq = itertools.count(1)
        self._closed = False
        self._zygote_lock = threading.Lock()
        cgroup_bytes = (memory_mb + 3 * tmpfs_mb + 256) << 20
        self._cgroups = isolation.SlotCgroups.create(workers, nproc, cgroup_bytes) if isolate else None
        self._zygote = _Zygote.start()
        self._all_slots = [_Slot(cgroups=self._cgroups.slots[i] if self._cgroups else None) for i in range(workers)]
        self._slots: queue.SimpleQueue[_Slot] = queue.SimpleQueue()
        for slot in self._all_slots:
            self._slots.put(slot)
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="sandbox")
        self._finalizer = weakref.finalize(self, Sandbox._shutdown, self._pool, self._zygote, self._all_slots,
                                           self._cgroups)
        if isolation.below_minimum(self.level) and not allow_weak_isolation:
            self.close()
            raise IsolationError(
                f"this machine only allows isolation level {self.level!r} ({self.isolation}), below the minimum "
                f"{isolation.MINIMUM_LEVEL!r}: untrusted code could read and change your files and reach the network. "
                "Run as root or where unprivileged user namespaces are allowed, or accept the risk explicitly with "
                "allow_weak_isolation=True (command line: --allow-weak-isolation)")

    # -- public API ------------------------------------------------------------------------------------------------
    @property
    def isolation(self) -> str:
        """The isolation measures in force, e.g. ``pidns+netns+mntns+rlimits+uid+cgroup1``."""
        return "+".join(self._features())

    @property
    def level(self) -> str:
        """The isolation level they reach: ``process``, ``namespaces`` or ``namespaces+cgroup``."""
        return isolation.level_of(self._features())

    def run(self, programs: Sequence[Program], progress: bool = False, *,
            timeout: float | None = None) -> list[Verdict]:
        """Verdicts in the programs' order, judged in parallel; a tqdm progress bar when ``progress``;
        ``timeout`` overrides the Sandbox's wall-clock limit for these programs."""
        programs = list(programs)
        for program in programs:
            self._check_program(program)
        futures = [self._pool.submit(self.run_one, program, timeout=timeout) for program in programs]
        if progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=len(futures), desc="sandbox", unit="program")
            for future in futures:
                future.add_done_callback(lambda _: bar.update())
            try:
                return [future.result() for future in futures]
            finally:
                bar.close()
        return [future.result() for future in futures]

    def run_one(self, program: Program, *, timeout: float | None = None) -> Verdict:
        """Judge one program (thread-safe; blocks until a worker slot is free)."""
        self._check_program(program)
        if timeout is not None and not timeout > 0:
            raise ValueError(f"timeout must be positive seconds, got {timeout!r}")
        if self._closed:
            raise RuntimeError("this Sandbox is closed")
        slot = self._slots.get()
        try:
            return self._judge(slot, program, self.timeout if timeout is None else float(timeout))
        finally:
            self._slots.put(slot)

    def close(self) -> None:
        """Stop the workers, kill every judge and the fork server (candidates die with it)."""
        if not self._closed:
            self._closed = True
            self._finalizer()

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- internals -------------------------------------------------------------------------------------------------
    @staticmethod
    def _check_program(program: Program) -> None:
        if not isinstance(program, Program):
            raise ValueError(f"expected a Program, got {type(program).__name__}")
        for field in ("candidate", "test", "setup", "task_id"):
            if not isinstance(getattr(program, field), str):
                raise ValueError(f"Program.{field} must be a str (task {program.task_id!r})")
        if not isinstance(program.entry_points, tuple) or not all(
                isinstance(n, str) and n.isidentifier() for n in program.entry_points):
            raise ValueError(f"Program.entry_points must be a tuple of identifiers, got {program.entry_points!r} "
                             f"(task {program.task_id!r})")

    def _features(self) -> list[str]:
        if not self._isolate:
            return ["rlimits", "uid"] if os.geteuid() == 0 else ["rlimits"]
        return self._zygote.features + ([self._cgroups.version] if self._cgroups is not None else [])

    @staticmethod
    def _shutdown(pool: ThreadPoolExecutor, zygote: _Zygote, slots: list[_Slot],
                  cgroups: isolation.SlotCgroups | None) -> None:
        pool.shutdown(wait=True, cancel_futures=True)
        for slot in slots:
            if slot.server is not None:
                slot.server.close()
                slot.server = None
            if slot.judge is not None:
                slot.judge.close()
                slot.judge = None
        zygote.close()
        if cgroups is not None:
            cgroups.close()

    def _main_zygote(self, failed: _Zygote | None = None) -> _Zygote:
        """The first fork server, restarted if ``failed`` is it (it died)."""
        with self._zygote_lock:
            if failed is not None and self._zygote is failed:
                failed.close()
                self._zygote = _Zygote.start()
                self._finalizer.detach()
                self._finalizer = weakref.finalize(self, Sandbox._shutdown, self._pool, self._zygote,
                                                   self._all_slots, self._cgroups)
            return self._zygote

    def _ask_main(self, req: dict, fds: tuple[int, ...]) -> tuple[dict, int]:
        zygote = self._main_zygote()
        try:
            return zygote.request(req, fds)
        except (ChannelClosed, OSError):
            return self._main_zygote(failed=zygote).request(req, fds)

    def _spawn_candidate(self, slot: _Slot, req: dict, fds: tuple[int, ...]) -> tuple[dict, int]:
        """Ask the slot's fork server (starting or replacing it as needed) for a candidate process."""
        for attempt in range(2):
            if slot.server is None:
                zygote = self._main_zygote()
                try:
                    slot.server = zygote.fork_server(slot.cgroups or [])
                except (ChannelClosed, OSError):
                    slot.server = self._main_zygote(failed=zygote).fork_server(slot.cgroups or [])
            try:
                return slot.server.request(req, fds)
            except (ChannelClosed, OSError):
                slot.server.close()
                slot.server = None
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def _judge_for(self, slot: _Slot) -> _Judge:
        if slot.judge is None:
            mine, theirs = socket.socketpair()
            try:
                reply, pidfd = self._ask_main({"op": "judge"}, (theirs.fileno(),))
            finally:
                theirs.close()
            slot.judge = _Judge(mine, pidfd, reply["pid"])
        return slot.judge

    def _retire_judge(self, slot: _Slot) -> None:
        if slot.judge is not None:
            slot.judge.close()
            slot.judge = None

    def _judge(self, slot: _Slot, program: Program, timeout: float) -> Verdict:
        start = time.monotonic()
        deadline = start + timeout
        features = self._features()
        measures, level = "+".join(features), isolation.level_of(features)
        judge = self._judge_for(slot)
        workdir = None
        if "mntns" not in features:  # no private tmpfs: a private directory, owned by whoever the candidate runs as
            workdir = tempfile.mkdtemp(prefix="codellama-sandbox-")
            if "uid" in features:
                os.chown(workdir, isolation.NOBODY, isolation.NOBODY)
        chan_judge, chan_candidate = socket.socketpair()
        out_r, out_w = os.pipe()
        status_r, status_w = os.pipe()
        req = {"op": "candidate", "source": program.candidate, "entry_points": list(program.entry_points),
               "workdir": workdir, **self._limits, "timeout": timeout}
        if not self._isolate:
            req["force_features"] = features
        try:
            reply, pidfd = self._spawn_candidate(slot, req, (chan_candidate.fileno(), out_w, status_w))
        finally:
            chan_candidate.close()
            os.close(out_w)
            os.close(status_w)
        seq = next(self._seq)
        try:
            send_msg(judge.sock, {"seq": seq, "setup": program.setup, "test": program.test,
                                        "entry_points": list(program.entry_points)}, fds=(chan_judge.fileno(),))
            judge_alive = True
        except OSError:
            judge_alive = False
        chan_judge.close()
        output = bytearray()
        try:
            result = self._wait(judge.sock if judge_alive else None, seq, out_r, deadline, output)
            _kill(pidfd, reply["kill_signal"])
            code = self._wait_status(status_r, pidfd)
            os.close(pidfd)
            os.set_blocking(out_r, False)  # what the candidate wrote just before the verdict
            self._read_output(out_r, output)
        finally:
            os.close(out_r)
        if result is None or result.get("judge_died"):
            if not judge_alive or result is not None or not self._drain_judge(judge.sock, seq):
                self._retire_judge(slot)
        if workdir is not None:
            shutil.rmtree(workdir, ignore_errors=True)
        text = output.decode("utf-8", "replace")[:_OUTPUT_KEPT]
        seconds = time.monotonic() - start
        if result is None:
            return Verdict("timeout", f"wall-clock limit of {timeout:g} s exceeded", seconds, measures, text, level)
        if result.get("judge_died"):
            return Verdict("error",
                           f"the judge process died ({result['judge_died']}); candidate {_describe_exit(code)}",
                           seconds, measures, text, level)
        status, reason = result["status"], result["reason"]
        if status == "crashed":
            reason = f"{reason}; candidate {_describe_exit(code)}"
        return Verdict(status, reason, seconds, measures, text, level)

    def _wait(self, judge_sock: socket.socket | None, seq: int, out_r: int, deadline: float,
              output: bytearray) -> dict | None:
        """Until the judge's verdict for ``seq`` or the deadline; drain the candidate's output meanwhile (keeping its
        head), so it never blocks or breaks on a full pipe. Returns the judge's message (None on timeout)."""
        result = None
        watch = [out_r] + ([judge_sock] if judge_sock is not None else [])
        while result is None and judge_sock is not None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            ready, _, _ = select.select(watch, [], [], remaining)
            if out_r in ready and self._read_output(out_r, output) == 0:
                watch.remove(out_r)  # end of file: the candidate closed its output
            if judge_sock in ready:
                try:
                    msg, _ = recv_msg(judge_sock)
                except (ChannelClosed, OSError) as exc:
                    return {"judge_died": str(exc)}
                if msg.get("seq") == seq:
                    result = msg
        if judge_sock is None:
            result = {"judge_died": "its socket was closed"}
        return result

    @staticmethod
    def _read_output(out_r: int, output: bytearray) -> int:
        """Read what is there (up to 64 KiB); keep only the head. Returns bytes read (0 at end of file, -1 if none)."""
        try:
            chunk = os.read(out_r, 1 << 16)
        except BlockingIOError:
            return -1
        room = _OUTPUT_KEPT * 4 - len(output)
        if room > 0:
            output += chunk[:room]
        return len(chunk)

    @staticmethod
    def _wait_status(status_r: int, pidfd: int) -> int | None:
        """The candidate's exit code once the fork server has reaped it (so its whole tree is gone)."""
        data = b""
        try:
            for attempt in range(2):
                ready, _, _ = select.select([status_r], [], [], 2.0)
                if ready:  # one small write from the fork server, or end of file if it died
                    data = os.read(status_r, 256)
                    break
                _kill(pidfd, signal.SIGKILL)  # the polite signal was not enough
        finally:
            os.close(status_r)
        try:
            return int(json.loads(data)["code"])
        except (ValueError, KeyError, TypeError):
            return None

    @staticmethod
    def _drain_judge(sock: socket.socket, seq: int) -> bool:
        """After a timeout the judge is still inside the program; with the candidate gone it should report at once."""
        end = time.monotonic() + 0.5
        while (remaining := end - time.monotonic()) > 0:
            ready, _, _ = select.select([sock], [], [], remaining)
            if not ready:
                return False
            try:
                msg, _ = recv_msg(sock)
            except (ChannelClosed, OSError):
                return False
            if msg.get("seq") == seq:
                return True
        return False
