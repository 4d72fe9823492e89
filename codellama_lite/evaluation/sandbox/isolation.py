"""Sandbox isolation: what a candidate process does to itself before running untrusted code, and the levels that
result (docs/paper_facts.md §8).

**Threat.** The candidate is code nobody has read, running with the invoking user's rights unless something takes
them away: it can delete or overwrite files, read secrets, reach the network, kill or ptrace other processes, outlive
its timeout, or exhaust the machine's memory and process table. Each measure below removes one of those:

* own session and (where possible) PID namespace: nothing it starts survives it, and it sees no other process;
* network namespace with only a loopback that is down: no network;
* mount namespace: everything read-only, fresh size-capped tmpfs at ``/tmp``, ``/var/tmp``, ``/dev/shm`` and a fresh
  ``/proc``; the interpreter's own directories stay visible (behind a closed ``/root``, or under ``/tmp`` for a
  virtual environment made there), so whatever the interpreter can import, candidates can;
* resource limits (address space, CPU, file size, descriptors, processes), no core dumps;
* as root: uid/gid ``nobody``; as another user: a user namespace whose capabilities are then dropped;
  no new privileges, a parent-death signal, stdin on ``/dev/null``, a scrubbed environment;
* per worker slot, a cgroup (v2, or v1) capping memory and processes for the candidate's whole tree.

**Levels.** ``process`` (rlimits, own session, subreaper sweep; as root also ``nobody``) stops runaway time only;
``namespaces`` (PID + network + mount) adds the filesystem, network and process-table protection and is the
minimum a :class:`~codellama_lite.evaluation.sandbox.Sandbox` accepts unless told otherwise;
``namespaces+cgroup`` adds memory and process caps for whole trees. Runs in the fork server and its children, so it
imports only the standard library.
"""

from __future__ import annotations

import ctypes
import math
import os
import resource
import signal
import socket
import sys
import time

_libc = ctypes.CDLL(None, use_errno=True)
CLONE_NEWNS, CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET = 0x00020000, 0x10000000, 0x20000000, 0x40000000
MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REC, MS_PRIVATE = 0x2, 0x4, 0x8, 0x4000, 0x40000
PR_SET_PDEATHSIG, PR_SET_DUMPABLE, PR_SET_CHILD_SUBREAPER, PR_SET_NO_NEW_PRIVS = 1, 4, 36, 38
MOUNT_ATTR_RDONLY, MOUNT_ATTR_NOSUID, AT_FDCWD, AT_RECURSIVE, SYS_MOUNT_SETATTR = 0x1, 0x2, -100, 0x8000, 442
SYS_OPEN_TREE, SYS_MOVE_MOUNT, OPEN_TREE_CLONE, MOVE_MOUNT_F_EMPTY_PATH = 428, 429, 0x1, 0x4
NOBODY = 65534
SETUP_FAILED = 71  # candidate exit code: the sandbox could not be entered (never runs the candidate then)
RUNNER_BROKEN = 72  # candidate exit code: the candidate's code broke the runner it shares a process with
SCRATCH = ("/tmp", "/var/tmp", "/dev/shm")
CANDIDATE_PATH = "/usr/local/bin:/usr/bin:/bin"
# numeric libraries start a thread (and its buffers) per core unless told otherwise: on a large machine an honest
# numpy program would meet the memory and process limits
ONE_THREAD = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}

LEVELS = ("process", "namespaces", "namespaces+cgroup")
MINIMUM_LEVEL = "namespaces"
NAMESPACES = frozenset({"pidns", "netns", "mntns"})


def level_of(features: list[str]) -> str:
    """The isolation level a set of features reaches (see the module docstring)."""
    have = set(features)
    if not NAMESPACES <= have or not have & {"uid", "userns"}:
        return "process"
    return "namespaces+cgroup" if have & {"cgroup1", "cgroup2"} else "namespaces"


def below_minimum(level: str) -> bool:
    return LEVELS.index(level) < LEVELS.index(MINIMUM_LEVEL)


# -- system calls ------------------------------------------------------------------------------------------------

class _MountAttr(ctypes.Structure):
    _fields_ = [("attr_set", ctypes.c_uint64), ("attr_clr", ctypes.c_uint64),
                ("propagation", ctypes.c_uint64), ("userns_fd", ctypes.c_uint64)]


def check(ret: int, what: str) -> None:
    if ret != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def unshare(flags: int) -> None:
    check(_libc.unshare(ctypes.c_int(flags)), "unshare")


def setns(fd: int, kind: int) -> None:
    check(_libc.setns(ctypes.c_int(fd), ctypes.c_int(kind)), "setns")


def prctl(option: int, arg: int) -> None:
    check(_libc.prctl(ctypes.c_int(option), ctypes.c_ulong(arg), ctypes.c_ulong(0), ctypes.c_ulong(0),
                      ctypes.c_ulong(0)), f"prctl({option})")


def mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    enc = (lambda s: None if s is None else s.encode())
    check(_libc.mount(enc(source), enc(target), enc(fstype), ctypes.c_ulong(flags), enc(data)), f"mount {target}")


def _make_root_readonly() -> None:
    attr = _MountAttr(MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID, 0, 0, 0)
    ret = _libc.syscall(ctypes.c_long(SYS_MOUNT_SETATTR), ctypes.c_int(AT_FDCWD), b"/", ctypes.c_uint(AT_RECURSIVE),
                        ctypes.byref(attr), ctypes.c_size_t(ctypes.sizeof(attr)))
    check(ret, "mount_setattr /")


def _clone_tree(path: str) -> int:
    """A detached copy of the mounts at ``path`` (with their read-only flags), to attach again after a cover."""
    fd = _libc.syscall(ctypes.c_long(SYS_OPEN_TREE), ctypes.c_int(AT_FDCWD), path.encode(),
                       ctypes.c_uint(OPEN_TREE_CLONE | AT_RECURSIVE | os.O_CLOEXEC))
    if fd < 0:
        check(-1, f"open_tree {path}")
    return fd


def _attach_tree(fd: int, path: str) -> None:
    os.makedirs(path, 0o755, exist_ok=True)
    ret = _libc.syscall(ctypes.c_long(SYS_MOVE_MOUNT), ctypes.c_int(fd), b"", ctypes.c_int(AT_FDCWD), path.encode(),
                        ctypes.c_uint(MOVE_MOUNT_F_EMPTY_PATH))
    check(ret, f"move_mount {path}")
    os.close(fd)


# -- the interpreter's directories -------------------------------------------------------------------------------

def interpreter_paths() -> list[str]:
    """The directories the interpreter needs (prefixes, ``sys.path``), outermost only."""
    needed = {os.path.realpath(p) for p in (sys.prefix, sys.exec_prefix, sys.base_prefix, sys.base_exec_prefix,
                                            *sys.path) if p and os.path.isdir(p)}
    return sorted(p for p in needed if not any(p != q and p.startswith(q + os.sep) for q in needed))


def hidden_interpreter_paths(uid: int = NOBODY) -> dict[str, list[str]]:
    """Interpreter directories ``uid`` cannot reach because an ancestor is closed to others (pyenv under a 0700
    /root), grouped by that closed ancestor."""
    blocked: dict[str, list[str]] = {}
    for path in interpreter_paths():
        ancestor = closed_ancestor(path, uid)
        if ancestor is not None:
            blocked.setdefault(ancestor, []).append(path)
    return blocked


def closed_ancestor(path: str, uid: int = NOBODY) -> str | None:
    """The outermost directory above ``path`` that ``uid`` may not enter (not its own, no search bit for others)."""
    parts = path.split(os.sep)
    for i in range(2, len(parts)):
        ancestor = os.sep.join(parts[:i])
        st = os.stat(ancestor)
        if st.st_uid != uid and not st.st_mode & 0o001:
            return ancestor
    return None


def scratch_interpreter_paths() -> list[str]:
    """Interpreter directories under a scratch path (a virtual environment in ``/tmp``), which the candidate's
    fresh tmpfs would otherwise hide."""
    return [p for p in interpreter_paths() if any(p.startswith(s + os.sep) for s in SCRATCH)]


def expose_interpreter(blocked: dict[str, list[str]]) -> None:
    """Cover each closed ancestor with an empty tmpfs (hiding, say, root's home) and bind back only the interpreter's
    own directories, so an unprivileged candidate can import the standard library and site-packages."""
    for ancestor, paths in blocked.items():
        trees = [(path, _clone_tree(path)) for path in paths]
        mount("tmpfs", ancestor, "tmpfs", MS_NOSUID | MS_NODEV, "size=1m,mode=755")
        for path, fd in trees:
            _attach_tree(fd, path)


def base_filesystem(blocked: dict[str, list[str]]) -> None:
    """In a new mount namespace: cut propagation to the host, expose the interpreter, make everything read-only."""
    mount(None, "/", None, MS_REC | MS_PRIVATE)
    expose_interpreter(blocked)
    _make_root_readonly()


def _private_filesystem(tmpfs_mb: int, fresh_proc: bool, blocked: dict[str, list[str]] | None,
                        scratch_paths: list[str]) -> str:
    """Everything read-only except fresh size-capped tmpfs at the scratch paths, through which the interpreter's own
    directories there (read-only) show again. ``blocked`` None: the namespace is a copy of the slot's template, where
    :func:`base_filesystem` already ran."""
    if blocked is not None:
        base_filesystem(blocked)
    trees = [(path, _clone_tree(path)) for path in scratch_paths]
    for path in SCRATCH:
        if os.path.isdir(path):
            mount("tmpfs", path, "tmpfs", MS_NOSUID | MS_NODEV, f"size={tmpfs_mb}m,mode=1777")
    for path, fd in trees:
        _attach_tree(fd, path)
    if fresh_proc:
        mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    return "/tmp"


# -- the candidate process ---------------------------------------------------------------------------------------

def set_oom_score(adj: int) -> None:
    try:  # raw descriptors: a text file object costs a fresh candidate a tenth of a millisecond in page faults
        fd = os.open("/proc/self/oom_score_adj", os.O_WRONLY)
        try:
            os.write(fd, str(adj).encode())
        finally:
            os.close(fd)
    except OSError:  # lowering needs privilege; raising never fails in practice
        pass


def _drop_capabilities() -> None:
    """No capabilities left, even inside a user namespace the candidate's creator owns (capset v3, all zero)."""
    header = (ctypes.c_uint32 * 2)(0x20080522, 0)
    data = (ctypes.c_uint32 * 6)()
    check(_libc.capset(header, data), "capset")


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


def _enter_namespaces(req: dict, features: set[str]) -> None:
    fresh_net = "netns" in features and not req.get("in_empty_netns")
    flags = (CLONE_NEWNET if fresh_net else 0) | (CLONE_NEWNS if "mntns" in features else 0)
    template = req.get("template_mntns") if {"mntns", "uid"} <= features else None
    if template is not None:  # our own copy of the slot's template namespace, made by the unshare below
        setns(template, CLONE_NEWNS)
    if flags and "userns" not in features:  # with a user namespace the supervisor already unshared them
        unshare(flags)


def _set_limits(req: dict) -> None:
    cpu = int(math.ceil(req["timeout"])) + 1
    # RLIMIT_NPROC counts every process of the uid machine-wide, so one run's fork bomb would starve the others;
    # with a pids cgroup per slot the cgroup is the bound and the rlimit only a generous backstop.
    nproc = req["nproc"] * 64 if req.get("in_cgroup") else req["nproc"]
    for limit, value in ((resource.RLIMIT_AS, req["memory_mb"] << 20), (resource.RLIMIT_CPU, cpu),
                         (resource.RLIMIT_FSIZE, req["file_mb"] << 20), (resource.RLIMIT_NOFILE, 64),
                         (resource.RLIMIT_NPROC, nproc), (resource.RLIMIT_CORE, 0)):
        resource.setrlimit(limit, (value, value))


def _drop_privileges(features: set[str]) -> None:
    if "uid" in features:
        os.setgroups([])
        os.setresgid(NOBODY, NOBODY, NOBODY)
        os.setresuid(NOBODY, NOBODY, NOBODY)
    if "userns" in features:
        _drop_capabilities()
    prctl(PR_SET_NO_NEW_PRIVS, 1)
    prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if "pidns" in features:  # changing uid made us undumpable (root-owned /proc/self); alone in our namespace,
        prctl(PR_SET_DUMPABLE, 1)  # being an ordinary process exposes nothing


def enter_sandbox(req: dict, chan_fd: int, out_fd: int) -> socket.socket:
    """Everything a candidate process does before it runs untrusted code; returns the channel to the judge.
    On any failure it reports on the inherited stderr and exits with SETUP_FAILED, having run nothing."""
    features = set(req["features"])
    step = "setsid"
    try:
        os.setsid()
        for sig in (signal.SIGCHLD, signal.SIGTERM, signal.SIGINT, signal.SIGALRM):
            signal.signal(sig, signal.SIG_DFL)
        set_oom_score(1000)  # if memory runs out, the candidate is the one to go
        step = "namespaces"
        _enter_namespaces(req, features)
        step = "filesystem"
        if "mntns" in features:
            template = req.get("template_mntns") is not None and {"mntns", "uid"} <= features
            blocked = None if template else req.get("hidden_paths", {}) if "uid" in features else {}
            work = _private_filesystem(req["tmpfs_mb"], "pidns" in features, blocked, req.get("scratch_paths", []))
        else:
            work = req["workdir"]
        os.chdir(work)
        step = "descriptors"
        devnull = os.open("/dev/null", os.O_RDWR)
        _close_descriptors({devnull: 0, out_fd: 1, chan_fd: 3})
        os.dup2(1, 2)
        step = "rlimits"
        _set_limits(req)
        step = "credentials"
        _drop_privileges(features)
        os.environ.clear()
        os.environ.update({"PATH": CANDIDATE_PATH, "HOME": work, "TMPDIR": work, "LANG": "C.UTF-8", **ONE_THREAD})
        sys.argv = ["candidate"]
        return socket.socket(fileno=3)
    except BaseException as exc:
        try:
            os.write(2, f"sandbox setup failed at {step}: {exc}\n".encode())
        finally:
            os._exit(SETUP_FAILED)


def enter_user_namespace(features: set[str]) -> None:
    """As a non-root user: a user namespace mapping us to ourselves, with the PID, network and mount namespaces
    asked for (they need the user namespace's capabilities)."""
    uid, gid = os.geteuid(), os.getegid()
    flags = CLONE_NEWUSER | sum(flag for name, flag in (("pidns", CLONE_NEWPID), ("netns", CLONE_NEWNET),
                                                        ("mntns", CLONE_NEWNS)) if name in features)
    unshare(flags)
    for name, text in (("setgroups", "deny"), ("uid_map", f"{uid} {uid} 1"), ("gid_map", f"{gid} {gid} 1")):
        with open(f"/proc/self/{name}", "w") as fh:
            fh.write(text)


# -- cgroups -----------------------------------------------------------------------------------------------------

def join_cgroups(paths: list[str]) -> None:
    """Move this process into each cgroup ("0" is the writer, in v1 and v2); its children are born there."""
    for path in paths:
        with open(os.path.join(path, "cgroup.procs"), "w") as fh:
            fh.write("0")


def cgroup_version(fs_root: str = "/sys/fs/cgroup") -> str | None:
    """``cgroup2`` (a unified hierarchy at ``fs_root``), ``cgroup1`` (separate pids and memory hierarchies) or None."""
    if os.path.isfile(os.path.join(fs_root, "cgroup.controllers")):
        return "cgroup2"
    if all(os.path.isdir(os.path.join(fs_root, c)) for c in SlotCgroups.CONTROLLERS):
        return "cgroup1"
    return None


class SlotCgroups:
    """A pids + memory cgroup per worker slot, under this process's own cgroup: a fork bomb or a memory-hungry tree
    in one slot cannot exhaust the others' process budget or the machine's memory. (A cpu cgroup per slot would also
    share CPU fairly under a fork bomb, but cost a quarter of the throughput; a bomb's neighbours may run slower and
    time out, never pass.) v2: one group per slot with both controllers, which the parent must be able to delegate
    (it is the root, or its ``cgroup.subtree_control`` already lists them, or it holds no process); v1: one group per
    slot in each controller's hierarchy. :meth:`create` returns None where neither works."""

    CONTROLLERS = ("pids", "memory")

    def __init__(self, workers: int, nproc: int, memory_bytes: int, version: str, fs_root: str = "/sys/fs/cgroup",
                 own: dict[str, str] | None = None) -> None:
        self.version = version
        own = own if own is not None else _own_cgroups()
        parents = ([f"{fs_root}{own.get('', '/').rstrip('/')}"] if version == "cgroup2" else
                   [f"{fs_root}/{c}{own.get(c, '/').rstrip('/')}" for c in self.CONTROLLERS])
        self.roots: list[str] = []
        self.slots: list[list[str]] = [[] for _ in range(workers)]
        limits = {"pids": ("pids.max", nproc), "memory": ("memory.max" if version == "cgroup2" else
                                                          "memory.limit_in_bytes", memory_bytes)}
        try:
            for i, parent in enumerate(parents):
                _sweep_stale(parent)
                root = f"{parent}/codellama-sandbox-{os.getpid()}-{id(self):x}"
                if version == "cgroup2":
                    _delegate(parent, root)
                else:
                    os.mkdir(root)
                self.roots.append(root)
                controllers = self.CONTROLLERS if version == "cgroup2" else self.CONTROLLERS[i:i + 1]
                for slot, paths in enumerate(self.slots):
                    path = f"{root}/slot{slot}"
                    os.mkdir(path)
                    paths.append(path)
                    for ctrl in controllers:
                        _write(path, *limits[ctrl])
        except OSError:
            self.close(attempts=1)
            raise

    @classmethod
    def create(cls, workers: int, nproc: int, memory_bytes: int) -> SlotCgroups | None:
        version = cgroup_version()
        if version is None:
            return None
        try:
            return cls(workers, nproc, memory_bytes, version)
        except OSError:
            return None

    def close(self, attempts: int = 50) -> None:
        for root in self.roots:
            _remove_group(root, attempts)
        self.roots = []


def _own_cgroups() -> dict[str, str]:
    """This process's cgroup path per v1 controller, and under "" its v2 path."""
    own = {}
    with open("/proc/self/cgroup") as fh:
        for line in fh.read().splitlines():
            _, controllers, path = line.split(":", 2)
            for name in controllers.split(",") if controllers else [""]:
                own[name] = path
    return own


def _write(path: str, name: str, value: object) -> None:
    with open(os.path.join(path, name), "w") as fh:
        fh.write(str(value))


def _delegate(parent: str, root: str) -> None:
    """v2: make ``root`` under ``parent`` with the pids and memory controllers enabled for its slots."""
    wanted = set(SlotCgroups.CONTROLLERS)
    with open(os.path.join(parent, "cgroup.controllers")) as fh:
        if not wanted <= set(fh.read().split()):
            raise OSError(f"{parent} does not offer the pids and memory controllers")
    with open(os.path.join(parent, "cgroup.subtree_control")) as fh:
        enabled = set(fh.read().split())
    if not wanted <= enabled:  # refused (EBUSY) where the parent holds processes and is not the root
        _write(parent, "cgroup.subtree_control", " ".join(f"+{c}" for c in sorted(wanted - enabled)))
    os.mkdir(root)
    _write(root, "cgroup.subtree_control", " ".join(f"+{c}" for c in SlotCgroups.CONTROLLERS))


def _sweep_stale(parent: str) -> None:
    """Remove empty groups left by sandboxes whose owner was killed before it could close them."""
    for name in os.listdir(parent):
        parts = name.split("-")
        if name.startswith("codellama-sandbox-") and len(parts) == 4 and parts[2].isdigit() \
                and not os.path.exists(f"/proc/{parts[2]}"):
            _remove_group(os.path.join(parent, name), attempts=1)


def _remove_group(root: str, attempts: int) -> None:
    for _ in range(attempts):  # a just-killed tree may take a moment to leave its cgroup
        try:
            for entry in os.listdir(root):
                if entry.startswith("slot"):
                    os.rmdir(f"{root}/{entry}")
            os.rmdir(root)
            return
        except FileNotFoundError:
            return
        except OSError:
            time.sleep(0.02)
