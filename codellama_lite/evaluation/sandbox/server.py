"""Sandbox process server: the fork server that starts judges and candidates, and reaps them (docs/paper_facts.md §8).

**Threat.** A process that has run candidate or test code is no longer trustworthy to fork from (its memory, modules
and descriptors may have been tampered with), and a candidate's tree must never outlive its verdict. The **zygote**
is a fresh interpreter that never runs either: it probes once which isolation this machine allows (the strongest set
a trivial candidate can enter), then forks on request a judge, a slot server (its own copy, living in one worker slot's
cgroups, with the slot's shared empty network namespace and template mount namespace), or a candidate. It reaps
every child and reports each candidate's exit status on a pipe the parent waits on, so "reported" means "gone". A
candidate it cannot put in a PID namespace itself (as a non-root user) gets a trusted **supervisor** parent that makes
the user namespace and, without a PID namespace, kills the whole tree as a subreaper.

Run as ``python -I _child.py zygote FD`` by :mod:`codellama_lite.evaluation.sandbox`; imports only the
standard library and the other ``sandbox_*`` modules.
"""

from __future__ import annotations

import gc
import json
import math
import os
import select
import signal
import socket
import sys
import tempfile

# Modules HumanEval / MBPP programs commonly import; loading them once here makes every fork start warm.
import bisect  # noqa: F401
import collections  # noqa: F401
import copy  # noqa: F401
import fractions  # noqa: F401
import functools  # noqa: F401
import hashlib  # noqa: F401
import heapq  # noqa: F401
import itertools  # noqa: F401
import operator  # noqa: F401
import random  # noqa: F401
import re  # noqa: F401
import string  # noqa: F401
import typing  # noqa: F401

from codellama_lite.evaluation.sandbox.isolation import (CLONE_NEWNET, CLONE_NEWNS, CLONE_NEWPID, NOBODY,
                                                         PR_SET_CHILD_SUBREAPER, PR_SET_DUMPABLE, SETUP_FAILED,
                                                         base_filesystem, enter_user_namespace,
                                                         hidden_interpreter_paths, join_cgroups, prctl,
                                                         scratch_interpreter_paths,
                                                         set_oom_score, setns, unshare)
from codellama_lite.evaluation.sandbox.judge import candidate_main, judge_main
from codellama_lite.evaluation.sandbox.wire import ChannelClosed, recv_msg, send_msg


def _exit_code(status: int) -> int:
    """Exit code, or minus the signal number."""
    return os.waitstatus_to_exitcode(status)


def _children_of(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as fh:
            return [int(p) for p in fh.read().split()]
    except OSError:
        return []


def _kill_descendants(me: int) -> None:
    """Subreaper cleanup without a PID namespace: kill every child (orphans re-parent to us) until none is left."""
    while True:
        for pid in _children_of(me):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        try:
            os.waitpid(-1, 0)
        except ChildProcessError:
            return


def supervise(req: dict, chan_fd: int, out_fd: int) -> None:
    """The trusted parent of a candidate when the zygote cannot create the PID namespace itself: as a non-root user
    it makes the user (+PID, network, mount) namespaces; without a PID namespace it tracks the tree as a subreaper."""
    features = set(req["features"])
    if "userns" in features:
        try:
            enter_user_namespace(features)
        except OSError as exc:
            os.write(2, f"sandbox setup failed at user namespace: {exc}\n".encode())
            os._exit(SETUP_FAILED)
    if "pidns" not in features:
        prctl(PR_SET_CHILD_SUBREAPER, 1)
    prctl(PR_SET_DUMPABLE, 0)
    child = 0

    def stop(signum: int, frame: object) -> None:
        if child:
            for kill, target in ((os.killpg, child), (os.kill, child)):
                try:
                    kill(target, signal.SIGKILL)
                except OSError:
                    pass

    # handlers first: a stop request that arrives before we have forked (or right after) must not kill us and
    # orphan the candidate's tree
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGALRM, stop)  # backstop if the parent itself is gone
    signal.alarm(int(math.ceil(req["timeout"])) + 5)
    old_mask = signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGTERM])
    child = os.fork()
    if child == 0:
        signal.pthread_sigmask(signal.SIG_SETMASK, old_mask)
        candidate_main(req, chan_fd, out_fd)
        os._exit(0)
    signal.pthread_sigmask(signal.SIG_SETMASK, old_mask)  # a pending stop now finds ``child`` set
    os.close(chan_fd)
    os.close(out_fd)
    me = os.getpid()
    _, status = os.waitpid(child, 0)
    stop(0, None)
    _kill_descendants(me)
    code = _exit_code(status)
    os._exit(code if code >= 0 else 128 - code)


class Zygote:
    """Serves spawn requests from the parent on one socket; never runs candidate or test code itself."""

    def __init__(self, ctl: socket.socket, features: list[str] | None = None, in_cgroup: bool = False,
                 in_empty_netns: bool = False) -> None:
        self.ctl = ctl
        self.root = os.geteuid() == 0
        self.pid = os.getpid()
        self.in_cgroup, self.in_empty_netns = in_cgroup, in_empty_netns
        self.host_pidns = os.open("/proc/self/ns/pid", os.O_RDONLY | os.O_CLOEXEC)
        self.children: dict[int, tuple[int, int | None, bool]] = {}  # pidfd -> (pid, status fd, via supervisor)
        self.hidden_paths = hidden_interpreter_paths() if self.root else {}
        self.scratch_paths = scratch_interpreter_paths()
        self.features = features if features is not None else self.probe()
        self.template_mntns: int | None = None

    # -- isolation probe: try the strongest set first, keep the first that a trivial candidate can enter ----------
    def candidate_levels(self) -> list[list[str]]:
        if self.root:
            return [["pidns", "netns", "mntns", "rlimits", "uid"], ["pidns", "netns", "rlimits", "uid"],
                    ["rlimits", "uid"]]
        return [["userns", "pidns", "netns", "mntns", "rlimits"], ["userns", "pidns", "netns", "rlimits"],
                ["rlimits"]]

    def probe(self) -> list[str]:
        for features in self.candidate_levels():
            chan_parent, chan_child = socket.socketpair()
            workdir = tempfile.mkdtemp(prefix="sbx-probe-")
            if "uid" in features:
                os.chown(workdir, NOBODY, NOBODY)
            # with a private mount namespace the unprivileged candidate must also be able to import the stdlib
            source = "import subprocess" if "mntns" in features else ""
            req = {"features": features, "source": source, "entry_points": [], "timeout": 2.0,
                   "memory_mb": 512, "hidden_paths": self.hidden_paths, "scratch_paths": self.scratch_paths,
                   "file_mb": 1, "nproc": 64, "tmpfs_mb": 1, "workdir": workdir}
            devnull = os.open("/dev/null", os.O_WRONLY)
            pid, _ = self.fork_candidate(req, chan_child.fileno(), devnull)
            chan_child.close()
            os.close(devnull)
            try:
                chan_parent.settimeout(5)
                hello, _ = recv_msg(chan_parent)
                ok = hello.get("ready") is True
            except (ChannelClosed, OSError):
                ok = False
            chan_parent.close()
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            os.rmdir(workdir)
            if ok:
                return features
        return ["none"]

    def fork_candidate(self, req: dict, chan_fd: int, out_fd: int) -> tuple[int, bool]:
        """Fork the candidate's top process; returns (pid, whether it is a supervisor rather than the candidate)."""
        features = req["features"]
        direct = self.root and "pidns" in features
        if direct:  # the zygote points its next child at a fresh PID namespace, then points itself back
            unshare(CLONE_NEWPID)
        try:
            pid = os.fork()
        finally:
            if direct and os.getpid() == self.pid:
                setns(self.host_pidns, CLONE_NEWPID)
        if pid == 0:
            try:
                self.forget_children()
                if direct or features == ["none"]:
                    candidate_main(req, chan_fd, out_fd)
                else:
                    supervise(req, chan_fd, out_fd)
            finally:
                os._exit(SETUP_FAILED)
        return pid, not direct

    def enter_empty_netns(self) -> bool:
        """In a new slot server (as root): move into a network namespace of our own that has no interface but a
        loopback that is down and that nobody can bring up (candidates hold no capability). The slot's candidates are
        born in it, one at a time, so they skip the costliest part of their set-up: creating and tearing down a
        network namespace each costs close to a millisecond of CPU (half of it in a kernel worker, after the
        candidate is gone). They still have no network, and nothing in it outlives a candidate: its sockets die with
        its PID namespace, and changing the namespace needs privilege no candidate has."""
        if not (self.root and "netns" in self.features):
            return False
        try:
            unshare(CLONE_NEWNET)
        except OSError:
            return False  # each candidate makes its own, as before
        return True

    def make_template_mntns(self) -> None:
        """In a new slot server (as root): a mount namespace with the part of every candidate's filesystem that is
        the same for all (no propagation to the host, the interpreter exposed, everything read-only), held open by a
        descriptor. A candidate enters it and at once unshares its own copy, then adds its fresh ``/tmp`` and
        ``/proc`` as before; the template itself is never a candidate's, and nothing a candidate mounts reaches it."""
        if not (self.root and {"mntns", "uid"} <= set(self.features)):
            return
        ready_r, ready_w = os.pipe()
        hold_r, hold_w = os.pipe()
        pid = os.fork()
        if pid == 0:  # the builder: prepare the namespace, then stay in it until the server holds it
            try:
                os.close(ready_r)
                os.close(hold_w)
                unshare(CLONE_NEWNS)
                base_filesystem(self.hidden_paths)
                os.write(ready_w, b"1")
                os.read(hold_r, 1)
            finally:
                os._exit(0)
        os.close(ready_w)
        os.close(hold_r)
        try:
            if os.read(ready_r, 1) == b"1":
                self.template_mntns = os.open(f"/proc/{pid}/ns/mnt", os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            self.template_mntns = None  # each candidate builds its filesystem from scratch, as before
        finally:
            os.close(ready_r)
            os.close(hold_w)
            os.waitpid(pid, 0)

    def forget_children(self) -> None:
        """In a freshly forked child: drop the zygote's handles on every other run (a held status pipe would delay
        another run's end-of-tree report; a held pidfd could signal another run)."""
        self.ctl.close()
        os.close(self.host_pidns)
        for pidfd, (_, status_fd, _) in self.children.items():
            os.close(pidfd)
            if status_fd is not None:
                os.close(status_fd)
        self.children.clear()

    def spawn(self, req: dict, fds: list[int]) -> None:
        if req["op"] == "zygote":  # a fork server for one worker slot, living in that slot's cgroups
            pid = os.fork()
            if pid == 0:
                try:
                    self.forget_children()
                    set_oom_score(-1000)
                    join_cgroups(req.get("cgroups", []))
                    server = Zygote(socket.socket(fileno=fds[0]), self.features, bool(req.get("cgroups")),
                                    self.enter_empty_netns())
                    server.make_template_mntns()
                    server.serve()
                finally:
                    os._exit(0)
            status_fd, supervised = None, False
        elif req["op"] == "judge":
            pid = os.fork()
            if pid == 0:
                try:
                    self.forget_children()
                    judge_main(socket.socket(fileno=fds[0]))
                finally:
                    os._exit(1)
            status_fd, supervised = None, False
        else:
            req["features"] = req.get("force_features") or self.features
            req["hidden_paths"] = self.hidden_paths
            req["scratch_paths"] = self.scratch_paths
            req["in_cgroup"] = self.in_cgroup
            req["in_empty_netns"] = self.in_empty_netns
            req["template_mntns"] = self.template_mntns
            chan_fd, out_fd, status_fd = fds
            pid, supervised = self.fork_candidate(req, chan_fd, out_fd)
        pidfd = os.pidfd_open(pid)
        for fd in fds:
            if fd != status_fd:
                os.close(fd)
        self.children[pidfd] = (pid, status_fd, supervised)
        send_msg(self.ctl, {"pid": pid, "kill_signal": int(signal.SIGTERM if supervised else signal.SIGKILL)},
                 fds=(pidfd,))

    def reap(self, pidfd: int) -> None:
        pid, status_fd, supervised = self.children.pop(pidfd)
        _, status = os.waitpid(pid, 0)
        os.close(pidfd)
        if status_fd is not None:
            code = _exit_code(status)
            if supervised and code > 128:
                code = 128 - code
            try:
                os.write(status_fd, json.dumps({"code": code}).encode())
            except OSError:
                pass
            os.close(status_fd)

    def serve(self) -> None:
        send_msg(self.ctl, {"isolation": self.features, "pid": os.getpid()})
        while True:
            ready, _, _ = select.select([self.ctl, *self.children], [], [])
            for fd in ready:
                if fd is self.ctl:
                    try:
                        req, fds = recv_msg(self.ctl, max_fds=3)
                    except ChannelClosed:
                        return
                    self.spawn(req, fds)
                else:
                    self.reap(fd)


def zygote_main(ctl_fd: int) -> None:
    os.chdir("/")
    sys.set_int_max_str_digits(0)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent's Ctrl-C is the parent's business; it closes us
    zygote = Zygote(socket.socket(fileno=ctl_fd))
    gc.freeze()  # forked children then never touch (copy) the zygote's objects when they collect garbage
    zygote.serve()


def main(argv: list[str]) -> None:
    if len(argv) != 3 or argv[1] != "zygote":
        raise SystemExit("usage: _child.py zygote CONTROL_FD (started by codellama_lite.evaluation.sandbox)")
    zygote_main(int(argv[2]))
