"""Child side of the sandbox (Code Llama §3; REFERENCE.md §8): the zygote, the candidate runner and the judge.

This file runs as a script in a clean interpreter (``python -I _sandbox_child.py zygote FD``) and imports only the
standard library, so the processes it forks never hold the parent's state. Read it top to bottom:

1. **Wire format** — length-prefixed JSON messages over Unix sockets (file descriptors ride along with
   ``SCM_RIGHTS``), and a tagged value codec: JSON plus tags for tuples, sets, dicts with any keys, bytes, complex and
   non-finite floats. Decoding only ever builds builtin values, so nothing the candidate sends can run code in the
   judge (no pickle, no ``eval``).
2. **Isolation** — what a candidate process does to itself before running untrusted code: its own session, PID /
   network / mount namespaces (a read-only root, a fresh size-capped tmpfs for ``/tmp``, a fresh ``/proc``), resource
   limits, an unprivileged uid, no new privileges, stdin on ``/dev/null``, every inherited descriptor closed. As root,
   the parts that are the same for every candidate are made once per worker slot by its fork server (section 5): an
   empty network namespace its candidates are born in, and a template mount namespace each candidate copies.
3. **Candidate runner** — executes the candidate source, then answers calls from the judge, one at a time.
4. **Judge** — trusted: runs ``setup``, binds each entry point to a proxy that calls the candidate over the channel,
   runs ``test`` and reports a verdict to the parent. The candidate cannot reach it: another process, another uid,
   another PID namespace, not dumpable.
5. **Zygote** — a fork server that has never run candidate or test code; it forks candidates and judges on request
   and reaps them, reporting each candidate's exit status on a pipe the parent waits on.
"""

from __future__ import annotations

import ast
import base64
import gc
import builtins
import ctypes
import importlib
import importlib.util
import json
import math
import os
import resource
import select
import signal
import socket
import struct
import sys
import traceback

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

# ----------------------------------------------------------------------------------------------------------------
# 1. Wire format
# ----------------------------------------------------------------------------------------------------------------

_HEADER = struct.Struct("!I")
MAX_MESSAGE = 64 << 20  # bytes; a larger reply from a candidate is treated as an error, not buffered
MAX_DEPTH = 200  # nesting depth of an encoded value (two Python frames a level when coding)
NOBODY = 65534


class ChannelClosed(BaseException):
    """The peer went away (or broke the protocol) mid-conversation. A BaseException so test code cannot swallow it."""


def send_msg(sock: socket.socket, obj: object, fds: tuple[int, ...] = ()) -> None:
    data = json.dumps(obj, separators=(",", ":"), allow_nan=False).encode()
    payload = _HEADER.pack(len(data)) + data
    sent = socket.send_fds(sock, [payload], list(fds)) if fds else 0
    if sent < len(payload):
        sock.sendall(payload[sent:])


def _recv_exact(sock: socket.socket, n: int, max_fds: int = 0) -> tuple[bytes, list[int]]:
    buf = bytearray()
    fds: list[int] = []
    while len(buf) < n:
        if max_fds and not fds:
            chunk, fds, _, _ = socket.recv_fds(sock, n - len(buf), max_fds)
        else:
            chunk = sock.recv(min(n - len(buf), 1 << 20))
        if not chunk:
            for fd in fds:
                os.close(fd)
            raise ChannelClosed("peer closed the channel")
        buf += chunk
    return bytes(buf), fds


def _reject_constant(name: str) -> None:
    raise ValueError(f"non-standard JSON constant {name}")


def recv_msg(sock: socket.socket, max_bytes: int = MAX_MESSAGE, max_fds: int = 0) -> tuple[dict, list[int]]:
    """One message (a JSON object) and the descriptors sent with it; ChannelClosed on EOF or a malformed message."""
    header, fds = _recv_exact(sock, _HEADER.size, max_fds)
    (size,) = _HEADER.unpack(header)
    if size > max_bytes:
        raise ChannelClosed(f"message of {size} bytes exceeds the {max_bytes}-byte limit")
    data, _ = _recv_exact(sock, size)
    try:
        obj = json.loads(data, parse_constant=_reject_constant)
    except (ValueError, RecursionError, MemoryError) as exc:
        raise ChannelClosed(f"malformed message: {type(exc).__name__}") from None
    if not isinstance(obj, dict):
        raise ChannelClosed("malformed message: not an object")
    return obj, fds


class Unserializable(Exception):
    """A value outside what the channel carries (None, bool, int, float, complex, str, bytes, list, tuple, set,
    frozenset, dict, and numpy scalars / arrays via ``tolist``)."""


def encode(value: object, depth: int = 0) -> object:
    """A JSON-ready form of ``value``: JSON scalars and lists as themselves, everything else as a one-key tag object."""
    if depth > MAX_DEPTH:
        raise Unserializable("value nested too deeply")
    if value is None or value is True or value is False:
        return value
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        value = float(value)
        return value if math.isfinite(value) else {"f": repr(value)}
    if isinstance(value, str):
        return str(value)
    if isinstance(value, complex):
        return {"c": [encode(value.real), encode(value.imag)]}
    if isinstance(value, (bytes, bytearray)):
        return {"b" if isinstance(value, bytes) else "ba": base64.b64encode(bytes(value)).decode("ascii")}
    if isinstance(value, tuple):
        return {"t": [encode(v, depth + 1) for v in value]}
    if isinstance(value, list):
        return [encode(v, depth + 1) for v in value]
    if isinstance(value, dict):
        return {"d": [[encode(k, depth + 1), encode(v, depth + 1)] for k, v in value.items()]}
    if isinstance(value, frozenset):
        return {"fs": [encode(v, depth + 1) for v in value]}
    if isinstance(value, set):
        return {"s": [encode(v, depth + 1) for v in value]}
    if type(value).__module__ == "numpy" and hasattr(value, "tolist"):
        return encode(value.tolist(), depth + 1)
    raise Unserializable(f"a value of type {type(value).__name__}")


_NONFINITE = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}


def decode(obj: object, depth: int = 0) -> object:
    """Inverse of :func:`encode`; builds only builtin values and raises ValueError on anything else."""
    if depth > MAX_DEPTH:
        raise ValueError("value nested too deeply")
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    if isinstance(obj, list):
        return [decode(v, depth + 1) for v in obj]
    if not isinstance(obj, dict) or len(obj) != 1:
        raise ValueError("malformed value")
    ((tag, body),) = obj.items()
    if tag == "f" and body in _NONFINITE:
        return _NONFINITE[body]
    if tag in ("b", "ba") and isinstance(body, str):
        raw = base64.b64decode(body.encode("ascii"), validate=True)
        return raw if tag == "b" else bytearray(raw)
    if not isinstance(body, list):
        raise ValueError(f"malformed value with tag {tag!r}")
    items = [decode(v, depth + 1) for v in body]
    if tag == "t":
        return tuple(items)
    if tag == "s":
        return set(items)
    if tag == "fs":
        return frozenset(items)
    if tag == "d" and all(isinstance(p, list) and len(p) == 2 for p in items):
        return {k: v for k, v in items}
    if tag == "c" and len(items) == 2 and all(isinstance(p, (int, float)) for p in items):
        return complex(items[0], items[1])
    raise ValueError(f"malformed value with tag {tag!r}")


def describe_exception(exc: BaseException) -> dict:
    """How a candidate exception crosses the channel: its class name and a bounded message, nothing executable."""
    try:
        message = str(exc)
    except BaseException:  # a candidate's __str__ may itself raise
        message = "<unprintable>"
    return {"type": type(exc).__name__[:100], "message": message[:500]}


# ----------------------------------------------------------------------------------------------------------------
# 2. Isolation (runs in the candidate process, as root or as the invoking user, before any untrusted code)
# ----------------------------------------------------------------------------------------------------------------

_libc = ctypes.CDLL(None, use_errno=True)
CLONE_NEWNS, CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET = 0x00020000, 0x10000000, 0x20000000, 0x40000000
MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REC, MS_PRIVATE = 0x2, 0x4, 0x8, 0x4000, 0x40000
PR_SET_PDEATHSIG, PR_SET_DUMPABLE, PR_SET_CHILD_SUBREAPER, PR_SET_NO_NEW_PRIVS = 1, 4, 36, 38
MOUNT_ATTR_RDONLY, MOUNT_ATTR_NOSUID, AT_FDCWD, AT_RECURSIVE, SYS_MOUNT_SETATTR = 0x1, 0x2, -100, 0x8000, 442
SETUP_FAILED = 71  # candidate exit code: the sandbox could not be entered (never runs the candidate then)
RUNNER_BROKEN = 72  # candidate exit code: the candidate's code broke the runner it shares a process with


class _MountAttr(ctypes.Structure):
    _fields_ = [("attr_set", ctypes.c_uint64), ("attr_clr", ctypes.c_uint64),
                ("propagation", ctypes.c_uint64), ("userns_fd", ctypes.c_uint64)]


def _check(ret: int, what: str) -> None:
    if ret != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def unshare(flags: int) -> None:
    _check(_libc.unshare(ctypes.c_int(flags)), "unshare")


def _prctl(option: int, arg: int) -> None:
    _check(_libc.prctl(ctypes.c_int(option), ctypes.c_ulong(arg), ctypes.c_ulong(0), ctypes.c_ulong(0),
                       ctypes.c_ulong(0)), f"prctl({option})")


def _mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    enc = (lambda s: None if s is None else s.encode())
    _check(_libc.mount(enc(source), enc(target), enc(fstype), ctypes.c_ulong(flags), enc(data)), f"mount {target}")


def _make_root_readonly() -> None:
    attr = _MountAttr(MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID, 0, 0, 0)
    ret = _libc.syscall(ctypes.c_long(SYS_MOUNT_SETATTR), ctypes.c_int(AT_FDCWD), b"/", ctypes.c_uint(AT_RECURSIVE),
                        ctypes.byref(attr), ctypes.c_size_t(ctypes.sizeof(attr)))
    _check(ret, "mount_setattr /")


SYS_OPEN_TREE, SYS_MOVE_MOUNT, OPEN_TREE_CLONE, MOVE_MOUNT_F_EMPTY_PATH = 428, 429, 0x1, 0x4


def hidden_interpreter_paths(uid: int = NOBODY) -> dict[str, list[str]]:
    """Directories the interpreter needs (prefix, sys.path) that ``uid`` cannot reach because an ancestor is closed
    to others (pyenv under a 0700 /root), grouped by that closed ancestor."""
    needed = {os.path.realpath(p) for p in (sys.prefix, sys.exec_prefix, sys.base_prefix, sys.base_exec_prefix,
                                            *sys.path) if p and os.path.isdir(p)}
    needed = {p for p in needed if not any(p != q and p.startswith(q + os.sep) for q in needed)}
    blocked: dict[str, list[str]] = {}
    for path in sorted(needed):
        parts = path.split(os.sep)
        for i in range(2, len(parts)):
            ancestor = os.sep.join(parts[:i])
            st = os.stat(ancestor)
            if st.st_uid != uid and not st.st_mode & 0o001:
                blocked.setdefault(ancestor, []).append(path)
                break
    return blocked


def _expose_interpreter(blocked: dict[str, list[str]]) -> None:
    """Cover each closed ancestor with an empty tmpfs (hiding, say, root's home) and bind back only the interpreter's
    own directories, so the unprivileged candidate can import the standard library and site-packages."""
    for ancestor, paths in blocked.items():
        trees = []
        for path in paths:
            fd = _libc.syscall(ctypes.c_long(SYS_OPEN_TREE), ctypes.c_int(AT_FDCWD), path.encode(),
                               ctypes.c_uint(OPEN_TREE_CLONE | AT_RECURSIVE | os.O_CLOEXEC))
            if fd < 0:
                _check(-1, f"open_tree {path}")
            trees.append((path, fd))
        _mount("tmpfs", ancestor, "tmpfs", MS_NOSUID | MS_NODEV, "size=1m,mode=755")
        for path, fd in trees:
            os.makedirs(path, 0o755, exist_ok=True)
            ret = _libc.syscall(ctypes.c_long(SYS_MOVE_MOUNT), ctypes.c_int(fd), b"", ctypes.c_int(AT_FDCWD),
                                path.encode(), ctypes.c_uint(MOVE_MOUNT_F_EMPTY_PATH))
            _check(ret, f"move_mount {path}")
            os.close(fd)


def _base_filesystem(blocked: dict[str, list[str]]) -> None:
    """In a new mount namespace: cut propagation to the host, expose the interpreter, make everything read-only."""
    _mount(None, "/", None, MS_REC | MS_PRIVATE)
    _expose_interpreter(blocked)
    _make_root_readonly()


def _private_filesystem(tmpfs_mb: int, fresh_proc: bool, blocked: dict[str, list[str]] | None) -> str:
    """A private mount namespace: everything read-only except fresh size-capped tmpfs at the usual scratch paths.
    ``blocked`` None: the namespace is a copy of the slot's template, where :func:`_base_filesystem` already ran."""
    if blocked is not None:
        _base_filesystem(blocked)
    for path in ("/tmp", "/var/tmp", "/dev/shm"):
        if os.path.isdir(path):
            _mount("tmpfs", path, "tmpfs", MS_NOSUID | MS_NODEV, f"size={tmpfs_mb}m,mode=1777")
    if fresh_proc:
        _mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    return "/tmp"


def _set_oom_score(adj: int) -> None:
    try:  # raw descriptors: a text file object costs a fresh candidate a tenth of a millisecond in page faults
        fd = os.open("/proc/self/oom_score_adj", os.O_WRONLY)
        try:
            os.write(fd, str(adj).encode())
        finally:
            os.close(fd)
    except OSError:  # lowering needs privilege; raising never fails in practice
        pass


def join_cgroups(paths: list[str]) -> None:
    """Move this process into each cgroup (v1 ``cgroup.procs``; "0" is the writer); its children are born there."""
    for path in paths:
        with open(os.path.join(path, "cgroup.procs"), "w") as fh:
            fh.write("0")


def _drop_capabilities() -> None:
    """No capabilities left, even inside a user namespace the candidate's creator owns (capset v3, all zero)."""
    header = (ctypes.c_uint32 * 2)(0x20080522, 0)
    data = (ctypes.c_uint32 * 6)()
    _check(_libc.capset(header, data), "capset")


def _close_descriptors(keep: dict[int, int]) -> None:
    """Move each ``keep`` source fd to its target number and close everything else (pidfds of other runs included)."""
    staged = {target: os.dup(src) for src, target in keep.items()}
    top = max(list(staged.values()) + list(keep.values()) + [3]) + 1
    for target, fd in staged.items():
        os.dup2(fd, top + target)
    os.closerange(0, top)
    for target in staged:
        os.dup2(top + target, target, inheritable=True)
    os.closerange(max(keep.values()) + 1, 1 << 30)


def enter_sandbox(req: dict, chan_fd: int, out_fd: int) -> socket.socket:
    """Everything a candidate process does before it runs untrusted code; returns the channel to the judge."""
    features = set(req["features"])
    step = "setsid"
    try:
        os.setsid()
        for sig in (signal.SIGCHLD, signal.SIGTERM, signal.SIGINT, signal.SIGALRM):
            signal.signal(sig, signal.SIG_DFL)
        _set_oom_score(1000)  # if memory runs out, the candidate is the one to go
        step = "namespaces"
        fresh_net = "netns" in features and not req.get("in_empty_netns")
        flags = (CLONE_NEWNET if fresh_net else 0) | (CLONE_NEWNS if "mntns" in features else 0)
        template = req.get("template_mntns") if {"mntns", "uid"} <= features else None
        if template is not None:  # our own copy of the slot's template namespace, made by the unshare below
            _check(_libc.setns(ctypes.c_int(template), ctypes.c_int(CLONE_NEWNS)), "setns")
        if flags and "userns" not in features:  # with a user namespace the supervisor already unshared them
            unshare(flags)
        step = "filesystem"
        if "mntns" in features:
            work = _private_filesystem(req["tmpfs_mb"], "pidns" in features, None if template is not None else
                                       req.get("hidden_paths", {}) if "uid" in features else {})
        else:
            work = req["workdir"]
        os.chdir(work)
        step = "descriptors"
        devnull = os.open("/dev/null", os.O_RDWR)
        _close_descriptors({devnull: 0, out_fd: 1, chan_fd: 3})
        os.dup2(1, 2)
        step = "rlimits"
        cpu = int(math.ceil(req["timeout"])) + 1
        # RLIMIT_NPROC counts every process of the uid machine-wide, so one run's fork bomb would starve the others;
        # with a pids cgroup per slot the cgroup is the bound and the rlimit only a generous backstop.
        nproc = req["nproc"] * 64 if req.get("in_cgroup") else req["nproc"]
        for limit, value in ((resource.RLIMIT_AS, req["memory_mb"] << 20), (resource.RLIMIT_CPU, cpu),
                             (resource.RLIMIT_FSIZE, req["file_mb"] << 20), (resource.RLIMIT_NOFILE, 64),
                             (resource.RLIMIT_NPROC, nproc), (resource.RLIMIT_CORE, 0)):
            resource.setrlimit(limit, (value, value))
        step = "credentials"
        if "uid" in features:
            os.setgroups([])
            os.setresgid(NOBODY, NOBODY, NOBODY)
            os.setresuid(NOBODY, NOBODY, NOBODY)
        if "userns" in features:
            _drop_capabilities()
        _prctl(PR_SET_NO_NEW_PRIVS, 1)
        _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        if "pidns" in features:  # changing uid made us undumpable (root-owned /proc/self); alone in our namespace,
            _prctl(PR_SET_DUMPABLE, 1)  # being an ordinary process exposes nothing
        os.environ.clear()
        os.environ.update({"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": work, "TMPDIR": work,
                           "LANG": "C.UTF-8"})
        sys.argv = ["candidate"]
        return socket.socket(fileno=3)
    except BaseException as exc:  # report on the inherited stderr, then die without running anything
        try:
            os.write(2, f"sandbox setup failed at {step}: {exc}\n".encode())
        finally:
            os._exit(SETUP_FAILED)


# ----------------------------------------------------------------------------------------------------------------
# 3. Candidate runner (untrusted from the first line of candidate code on: nothing here is relied upon for verdicts)
# ----------------------------------------------------------------------------------------------------------------

def candidate_main(req: dict, chan_fd: int, out_fd: int) -> None:
    chan = enter_sandbox(req, chan_fd, out_fd)
    try:
        _serve_candidate(req, chan)
    finally:  # only reached if candidate code sabotaged the runner (e.g. replaced builtins.isinstance)
        os._exit(RUNNER_BROKEN)


def _serve_candidate(req: dict, chan: socket.socket) -> None:
    source, entry_points = req["source"], req["entry_points"]
    del req
    namespace: dict = {"__name__": "__candidate__", "__builtins__": builtins}
    try:
        exec(compile(source, "<candidate>", "exec"), namespace)
    except BaseException as exc:
        _flush_output()
        send_msg(chan, {"load_error": describe_exception(exc)})
        os._exit(0)
    missing = [name for name in entry_points if not callable(namespace.get(name))]
    send_msg(chan, {"ready": True, "missing": missing})
    while True:
        try:
            call, _ = recv_msg(chan)
        except ChannelClosed:
            _flush_output()
            os._exit(0)
        try:
            args = decode(call["args"])
            kwargs = {k: decode(v) for k, v in call["kwargs"]}
            result = namespace[call["call"]](*args, **kwargs)
        except BaseException as exc:
            _flush_output()
            send_msg(chan, {"raised": describe_exception(exc)})
            continue
        try:
            reply = {"ok": encode(result)}
        except BaseException as exc:
            reply = {"unserializable": str(exc)[:200] if isinstance(exc, Unserializable) else
                     f"encoding the result raised {type(exc).__name__}"}
        _flush_output()
        send_msg(chan, reply)


def _flush_output() -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except BaseException:
            pass


# ----------------------------------------------------------------------------------------------------------------
# 4. Judge (trusted; one per worker slot, reused across programs; it never executes what the candidate sends)
# ----------------------------------------------------------------------------------------------------------------

class CandidateError(Exception):
    """The judge's own exception for 'the candidate raised'. Subclasses mirror builtin exception names so a test's
    ``except ValueError`` still works, yet no class or object from the candidate ever exists in the judge."""


class CandidateResultError(CandidateError):
    """The candidate returned something the channel cannot carry (or sent a malformed reply)."""


_candidate_errors: dict[str, type] = {}
# Never mirrored: a StopIteration escaping a call inside ``all(map(candidate, ...))`` would end the iteration early
# and let an empty ``all`` pass.
_CONTROL_FLOW = frozenset({"StopIteration", "StopAsyncIteration"})


def candidate_exception(info: dict) -> CandidateError:
    name = str(info.get("type", "Exception"))
    cls = _candidate_errors.get(name)
    if cls is None:
        builtin = getattr(builtins, name, None)
        bases: tuple = (CandidateError,)
        if (isinstance(builtin, type) and issubclass(builtin, Exception) and builtin is not Exception
                and name not in _CONTROL_FLOW):
            bases = (CandidateError, builtin)
        try:
            cls = type(f"Candidate{name}", bases, {"__str__": BaseException.__str__})
        except TypeError:  # incompatible layouts: keep the judge's base class only
            cls = type(f"Candidate{name}", (CandidateError,), {})
        _candidate_errors[name] = cls
    exc = cls.__new__(cls)
    Exception.__init__(exc, f"{name}: {info.get('message', '')}")
    return exc


class CandidateProxy:
    """Stands in the judge's namespace for the candidate's function ``name``; each call is one round trip."""

    def __init__(self, chan: socket.socket, name: str) -> None:
        self._chan, self.__name__ = chan, name

    def __call__(self, *args: object, **kwargs: object) -> object:
        try:
            message = {"call": self.__name__, "args": encode(list(args)),
                       "kwargs": [[k, encode(v)] for k, v in kwargs.items()]}
        except Unserializable as exc:
            raise HarnessError(f"the test passed {exc} to {self.__name__}, which the channel cannot carry") from None
        try:
            send_msg(self._chan, message)
        except OSError:
            raise ChannelClosed("candidate process went away") from None
        reply, _ = recv_msg(self._chan)
        if "ok" in reply:
            try:
                return decode(reply["ok"])
            except (ValueError, TypeError, RecursionError, MemoryError) as exc:
                raise CandidateResultError(f"malformed result from {self.__name__}: {exc}") from None
        if "raised" in reply and isinstance(reply["raised"], dict):
            raise candidate_exception(reply["raised"])
        if "unserializable" in reply:
            raise CandidateResultError(f"{self.__name__} returned {str(reply['unserializable'])[:200]}, "
                                       "which the channel cannot carry")
        raise ChannelClosed("candidate broke the protocol")

    def __repr__(self) -> str:
        return f"<candidate function {self.__name__}>"


class HarnessError(Exception):
    """The program itself is malformed (setup fails, the test uses a name nobody defines, ...)."""


def _free_names(tree: ast.AST) -> set[str]:
    """Names a test reads but never binds anywhere (a rough, conservative scan: any binding anywhere counts)."""
    loaded, bound = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            (loaded if isinstance(node.ctx, ast.Load) else bound).add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound.add(node.name)
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            bound.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            bound.add(node.name)
    return loaded - bound


def _import_missing_modules(free_names: list[str], namespace: dict) -> None:
    """MBPP-style tests may use a module (``math``, ``re``) their setup never imported: import it in the judge."""
    for name in free_names:
        if name in namespace or hasattr(builtins, name):
            continue
        try:
            if importlib.util.find_spec(name) is not None:
                namespace[name] = importlib.import_module(name)
        except (ImportError, ValueError):
            pass


def _failing_line(exc: BaseException, source: str) -> str:
    lines = source.splitlines()
    for frame in reversed(traceback.extract_tb(exc.__traceback__)):
        if frame.filename == "<test>" and frame.lineno and 0 < frame.lineno <= len(lines):
            return f" at test line {frame.lineno}: {lines[frame.lineno - 1].strip()[:200]}"
    return ""


_COMPILED_MAX = 512  # trusted sources kept compiled per judge (a benchmark's tasks, each judged n times)
_compiled: dict[tuple[str, str], tuple] = {}


def _compiled_trusted(kind: str, source: str) -> tuple:
    """``(code, names the test reads but never binds)`` of a trusted ``setup`` or ``test`` source, or ``(None, (error
    type name, message))`` if it does not compile. Compiled once per judge: the n samples of a task share them, code
    objects are immutable, and every program still runs them in a fresh namespace."""
    key = (kind, source)
    entry = _compiled.get(key)
    if entry is None:
        try:
            tree = ast.parse(source, f"<{kind}>")
            entry = (compile(tree, f"<{kind}>", "exec"), sorted(_free_names(tree)) if kind == "test" else [])
        except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
            entry = (None, (type(exc).__name__, str(exc)))
        if len(_compiled) >= _COMPILED_MAX:
            del _compiled[next(iter(_compiled))]
        _compiled[key] = entry
    return entry


def judge_one(program: dict, chan: socket.socket) -> tuple[str, str]:
    """(status, reason) for one program; the candidate is already starting on the other end of ``chan``."""
    namespace: dict = {"__name__": "__judge__", "__builtins__": builtins}
    setup, error = _compiled_trusted("setup", program["setup"])
    if setup is None:
        return "error", f"setup raised {error[0]}: {error[1]}"[:300]
    try:
        exec(setup, namespace)
    except BaseException as exc:
        return "error", f"setup raised {type(exc).__name__}: {exc}"[:300]
    code, free_names = _compiled_trusted("test", program["test"])
    if code is None:
        return "error", f"test does not compile: {free_names[1]}"[:300]
    try:
        hello, _ = recv_msg(chan)
    except ChannelClosed:
        return "crashed", "candidate process ended before it finished loading"
    if "load_error" in hello:
        info = hello["load_error"] if isinstance(hello["load_error"], dict) else {}
        return "error", f"candidate raised {info.get('type')} while loading: {info.get('message')}"[:300]
    missing = [n for n in hello.get("missing", []) if isinstance(n, str)] if hello.get("ready") is True else None
    if missing is None:
        return "crashed", "candidate broke the protocol while loading"
    if missing:
        return "error", f"entry point {', '.join(missing)} not defined (or not callable) by the candidate"[:300]
    for name in program["entry_points"]:
        namespace[name] = CandidateProxy(chan, name)
    _import_missing_modules(free_names, namespace)
    try:
        exec(code, namespace)
    except ChannelClosed as exc:
        return "crashed", f"candidate process ended mid-test ({exc})"
    except AssertionError as exc:
        detail = f": {exc}" if str(exc) else ""
        return "failed", f"assertion failed{_failing_line(exc, program['test'])}{detail}"[:300]
    except CandidateError as exc:
        return "error", f"candidate raised {exc}{_failing_line(exc, program['test'])}"[:300]
    except HarnessError as exc:
        return "error", str(exc)[:300]
    except NameError as exc:
        return "error", (f"test uses {exc.name!r}, which neither setup, the entry points nor an importable module "
                         f"defines{_failing_line(exc, program['test'])}")[:300]
    except BaseException as exc:
        return "failed", f"test raised {type(exc).__name__}: {exc}{_failing_line(exc, program['test'])}"[:300]
    return "passed", "all tests passed"


def judge_main(parent: socket.socket) -> None:
    _prctl(PR_SET_DUMPABLE, 0)
    for sig in (signal.SIGCHLD, signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, signal.SIG_DFL)
    devnull = os.open("/dev/null", os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    while True:
        try:
            program, fds = recv_msg(parent, max_fds=1)
        except ChannelClosed:
            os._exit(0)
        chan = socket.socket(fileno=fds[0])
        try:
            status, reason = judge_one(program, chan)
        finally:
            chan.close()
        send_msg(parent, {"seq": program["seq"], "status": status, "reason": reason})


# ----------------------------------------------------------------------------------------------------------------
# 5. Zygote (fork server): forks judges and candidates, reaps them, reports candidate exit statuses
# ----------------------------------------------------------------------------------------------------------------

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
        uid, gid = os.geteuid(), os.getegid()
        flags = CLONE_NEWUSER | sum(flag for name, flag in (("pidns", CLONE_NEWPID), ("netns", CLONE_NEWNET),
                                                            ("mntns", CLONE_NEWNS)) if name in features)
        try:
            unshare(flags)
            for name, text in (("setgroups", "deny"), ("uid_map", f"{uid} {uid} 1"), ("gid_map", f"{gid} {gid} 1")):
                with open(f"/proc/self/{name}", "w") as fh:
                    fh.write(text)
        except OSError as exc:
            os.write(2, f"sandbox setup failed at user namespace: {exc}\n".encode())
            os._exit(SETUP_FAILED)
    if "pidns" not in features:
        _prctl(PR_SET_CHILD_SUBREAPER, 1)
    _prctl(PR_SET_DUMPABLE, 0)
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
        import tempfile
        for features in self.candidate_levels():
            chan_parent, chan_child = socket.socketpair()
            workdir = tempfile.mkdtemp(prefix="sbx-probe-")
            if "uid" in features:
                os.chown(workdir, NOBODY, NOBODY)
            # with a private mount namespace the unprivileged candidate must also be able to import the stdlib
            source = "import subprocess" if "mntns" in features else ""
            req = {"features": features, "source": source, "entry_points": [], "timeout": 2.0,
                   "memory_mb": 512, "hidden_paths": self.hidden_paths,
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
                _check(_libc.setns(self.host_pidns, CLONE_NEWPID), "setns")
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
                _base_filesystem(self.hidden_paths)
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
                    _set_oom_score(-1000)
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


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] != "zygote":
        raise SystemExit("usage: _sandbox_child.py zygote CONTROL_FD (started by codellama_lite.evaluation.sandbox)")
    zygote_main(int(sys.argv[2]))
