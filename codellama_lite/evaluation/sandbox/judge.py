"""Sandbox judge: the test runs in a trusted process, the candidate in an untrusted one, calls cross between them.

**Threat.** A candidate that shares a process with its test can forge its verdict: patch ``AssertionError`` or
``builtins``, walk frames to the harness, ``sys.exit(0)`` before the first assertion, or return an object equal to
everything. Here the verdict is decided only by the **judge**: it runs ``setup`` then ``test`` with each entry point
bound to a :class:`CandidateProxy`; a call is one round trip on a socket, carrying values as
:mod:`~codellama_lite.evaluation.sandbox.wire` encodes them. Nothing from the candidate is ever executed by the judge:
a candidate exception arrives as the judge's own class (which a test's ``except ValueError`` still catches), an
iterator or function it returns stays with it behind a handle, and a result the wire cannot carry makes the verdict
``error`` with that reason however the test goes on (it cannot be swallowed), never a silent difference.

What one process would share, the call protocol carries back: arguments the candidate mutated in place (a list it
sorted) are updated in the judge after the call, and the candidate's globals live on across calls.

The **candidate runner** (:func:`candidate_main`) is untrusted from the candidate's first line on: nothing in it is
relied upon for a verdict.
"""

from __future__ import annotations

import ast
import builtins
import importlib
import importlib.util
import os
import signal
import socket
import sys
import traceback
import types
from collections.abc import Iterator

from codellama_lite.evaluation.sandbox.isolation import PR_SET_DUMPABLE, RUNNER_BROKEN, enter_sandbox, prctl
from codellama_lite.evaluation.sandbox.wire import (MAX_GROUP_DEPTH, ChannelClosed, Unserializable, decode,
                                                    describe_exception, encode, recv_msg, send_msg)

CANNOT_CARRY = "cannot carry"  # in every reason for a result the channel refused
_MUTABLE = (list, dict, set, bytearray)
_FUNCTIONS = (types.FunctionType, types.BuiltinFunctionType, types.MethodType, types.BuiltinMethodType)

# ----------------------------------------------------------------------------------------------------------------
# Candidate side (untrusted process)
# ----------------------------------------------------------------------------------------------------------------


class _Handles:
    """What the candidate returned that is not a value (iterators, functions), kept here and named by number."""

    def __init__(self) -> None:
        self.objects: list[object] = []

    def ref(self, value: object) -> dict | None:
        tag = "it" if isinstance(value, Iterator) else "fn" if isinstance(value, _FUNCTIONS) else None
        if tag is None:
            return None
        self.objects.append(value)
        return {tag: len(self.objects) - 1}

    def resolve(self, tag: str, number: int) -> object:
        if tag != "h" or not 0 <= number < len(self.objects):
            raise ValueError(f"unknown handle {number}")
        return self.objects[number]


def candidate_main(req: dict, chan_fd: int, out_fd: int) -> None:
    chan = enter_sandbox(req, chan_fd, out_fd)
    try:
        _serve_candidate(req, chan)
    finally:  # only reached if candidate code sabotaged the runner (e.g. replaced builtins.isinstance)
        os._exit(RUNNER_BROKEN)


def _serve_candidate(req: dict, chan: socket.socket) -> None:
    source, entry_points = req["source"], req["entry_points"]
    del req
    module = types.ModuleType("__main__")  # as in a script of its own: dataclasses, pickle, doctest look it up
    sys.modules["__main__"] = module
    namespace = module.__dict__
    try:
        exec(compile(source, "<candidate>", "exec"), namespace)
    except BaseException as exc:
        _flush_output()
        send_msg(chan, {"load_error": describe_exception(exc)})
        os._exit(0)
    missing = [name for name in entry_points if not callable(namespace.get(name))]
    send_msg(chan, {"ready": True, "missing": missing})
    handles = _Handles()
    while True:
        try:
            request, _ = recv_msg(chan)
        except ChannelClosed:
            _flush_output()
            os._exit(0)
        reply = _answer(request, namespace, handles)
        _flush_output()
        send_msg(chan, reply)


def _answer(request: dict, namespace: dict, handles: _Handles) -> dict:
    """Run one call (or one ``next``) and describe its outcome as a reply."""
    try:
        target = request["target"]
        func = namespace[target] if isinstance(target, str) else handles.resolve("h", target)
        if request.get("next"):
            try:
                result = next(func)
            except StopIteration:
                return {"stop": True}
            args, kwargs = [], {}
        else:
            args = decode(request["args"], handles.resolve)
            kwargs = {k: decode(v, handles.resolve) for k, v in request["kwargs"]}
            result = func(*args, **kwargs)
    except BaseException as exc:
        return {"raised": describe_exception(exc)}
    try:
        reply = {"ok": encode(result, handles.ref)}
        mutated = _mutated(request, args, kwargs, handles)
        if mutated:
            reply["mutated"] = mutated
    except BaseException as exc:
        reply = {"unserializable": str(exc)[:300] if isinstance(exc, Unserializable) else
                 f"encoding the result raised {type(exc).__name__}"}
    return reply


def _mutated(request: dict, args: list, kwargs: dict, handles: _Handles) -> list:
    """``[[position or keyword, new value], ...]`` for the mutable arguments the call changed in place."""
    changed = []
    for key, value, wire in [*zip(range(len(args)), args, request.get("args", [])),
                             *((k, kwargs[k], w) for k, w in request.get("kwargs", []))]:
        if isinstance(value, _MUTABLE):
            now = encode(value, handles.ref)
            if now != wire:
                changed.append([key, now])
    return changed


def _flush_output() -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except BaseException:
            pass


# ----------------------------------------------------------------------------------------------------------------
# Judge side (trusted process; one per worker slot, reused across programs)
# ----------------------------------------------------------------------------------------------------------------

class CandidateError(Exception):
    """The judge's own exception for 'the candidate raised'. Subclasses mirror builtin exception names so a test's
    ``except ValueError`` still works, yet no class or object from the candidate ever exists in the judge."""


class Uncarried(BaseException):
    """The candidate returned what the channel cannot carry (or a malformed reply): the program cannot be judged.
    A BaseException, and recorded on the channel as well, so a test that catches everything cannot hide it."""


class HarnessError(Exception):
    """The program itself is malformed (setup fails, the test uses a name nobody defines, ...)."""


_candidate_errors: dict[str, type] = {}
# Never mirrored: a StopIteration escaping a call inside ``all(map(candidate, ...))`` would end the iteration early
# and let an empty ``all`` pass.
_CONTROL_FLOW = frozenset({"StopIteration", "StopAsyncIteration"})


def candidate_exception(info: dict, depth: int = 0) -> CandidateError:
    """The judge's mirror of a candidate's exception: a :class:`CandidateError` that is also the builtin class of
    the same name; an exception group holds the mirrors of its sub-exceptions (``except*`` works on it)."""
    name = str(info.get("type", "Exception"))
    text = f"{name}: {info.get('message', '')}"
    subs = info.get("group")
    if isinstance(subs, list) and subs and depth < MAX_GROUP_DEPTH and name in _GROUPS:
        mirrored = [candidate_exception(sub if isinstance(sub, dict) else {}, depth + 1) for sub in subs]
        return _candidate_class(name)(text, mirrored)
    cls = _candidate_class(name if name not in _GROUPS else "Exception")
    try:
        exc = cls.__new__(cls)  # builtins whose __init__ wants more (UnicodeDecodeError) are set up by hand
    except TypeError:  # builtins with their own allocator (MemoryError) refuse that: construct them whole
        return cls(text)
    Exception.__init__(exc, text)
    return exc


_GROUPS = frozenset({"ExceptionGroup", "BaseExceptionGroup"})


def _candidate_class(name: str) -> type:
    cls = _candidate_errors.get(name)
    if cls is None:
        builtin = getattr(builtins, name, None)
        bases: tuple = (CandidateError,)
        if name in _GROUPS:  # mirrored sub-exceptions are all Exceptions: an ExceptionGroup holds them
            bases = (CandidateError, ExceptionGroup)
        elif (isinstance(builtin, type) and issubclass(builtin, Exception) and builtin is not Exception
                and name not in _CONTROL_FLOW):
            bases = (CandidateError, builtin)
        namespace = {} if name in _GROUPS else {"__str__": BaseException.__str__}
        try:
            cls = type(f"Candidate{name}", bases, namespace)
        except TypeError:  # incompatible layouts: keep the judge's base class only
            cls = type(f"Candidate{name}", (CandidateError,), {})
        _candidate_errors[name] = cls
    return cls


class Channel:
    """The judge's end of one candidate's socket: round trips, and the first result it could not carry."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.uncarried: str | None = None

    def ask(self, request: dict, what: str) -> dict:
        try:
            send_msg(self.sock, request)
        except OSError:
            raise ChannelClosed("candidate process went away") from None
        reply, _ = recv_msg(self.sock)
        if "raised" in reply and isinstance(reply["raised"], dict):
            raise candidate_exception(reply["raised"])
        if "unserializable" in reply:
            self.refuse(f"{what} returned {str(reply['unserializable'])[:200]}, which the sandbox {CANNOT_CARRY} "
                        "to the judge")
        return reply

    def value(self, wire: object, what: str) -> object:
        try:
            return decode(wire, self.resolve)
        except (ValueError, TypeError, RecursionError, MemoryError) as exc:
            self.refuse(f"{what} sent a malformed result ({exc}), which the sandbox {CANNOT_CARRY}")

    def refuse(self, reason: str) -> None:
        self.uncarried = self.uncarried or reason
        raise Uncarried(reason)

    def resolve(self, tag: str, number: int) -> object:
        if tag == "it":
            return CandidateIterator(self, number)
        if tag == "fn":
            return CandidateProxy(self, number, f"a function returned by the candidate (#{number})")
        raise ValueError(f"unexpected handle {tag!r}")


def _ref(value: object) -> dict | None:
    """A proxy the test passes back to the candidate travels as its handle."""
    if isinstance(value, (CandidateProxy, CandidateIterator)) and isinstance(value._target, int):
        return {"h": value._target}
    return None


class CandidateProxy:
    """Stands in the judge's namespace for a candidate function (an entry point by name, or a returned function by
    handle); each call is one round trip, after which mutated arguments are updated in place."""

    def __init__(self, chan: Channel, target: str | int, name: str | None = None) -> None:
        self._chan, self._target = chan, target
        self.__name__ = name or str(target)

    def __call__(self, *args: object, **kwargs: object) -> object:
        try:
            request = {"target": self._target, "args": encode(list(args), _ref),
                       "kwargs": [[k, encode(v, _ref)] for k, v in kwargs.items()]}
        except Unserializable as exc:
            raise HarnessError(f"the test passed {exc} to {self.__name__}, which the channel cannot carry") from None
        reply = self._chan.ask(request, self.__name__)
        if "ok" not in reply:
            raise ChannelClosed("candidate broke the protocol")
        result = self._chan.value(reply["ok"], self.__name__)
        for key, wire in reply.get("mutated", []) if isinstance(reply.get("mutated"), list) else []:
            original = args[key] if isinstance(key, int) and 0 <= key < len(args) else kwargs.get(key)
            if isinstance(original, _MUTABLE):
                update_in_place(original, self._chan.value(wire, self.__name__))
        return result

    def __repr__(self) -> str:
        return f"<candidate function {self.__name__}>"


class CandidateIterator:
    """An iterator (or generator) the candidate returned; each ``next`` is one round trip, so it stays lazy."""

    def __init__(self, chan: Channel, target: int) -> None:
        self._chan, self._target = chan, target

    def __iter__(self) -> CandidateIterator:
        return self

    def __next__(self) -> object:
        what = f"an iterator returned by the candidate (#{self._target})"
        reply = self._chan.ask({"target": self._target, "next": True}, what)
        if reply.get("stop") is True:
            raise StopIteration
        if "ok" not in reply:
            raise ChannelClosed("candidate broke the protocol")
        return self._chan.value(reply["ok"], what)

    def __repr__(self) -> str:
        return f"<candidate iterator #{self._target}>"


def update_in_place(old: object, new: object) -> None:
    """Make ``old`` equal to ``new`` without replacing it (nested lists and dicts keep their identity where the
    shape allows), as if the candidate had mutated the judge's own object."""
    if type(old) is not type(new):
        return
    if isinstance(old, list) and len(old) == len(new):
        for i, (a, b) in enumerate(zip(old, new)):
            if isinstance(a, (list, dict)) and type(a) is type(b):
                update_in_place(a, b)
            else:
                old[i] = b
    elif isinstance(old, dict) and old.keys() == new.keys():
        for key, b in new.items():
            if isinstance(old[key], (list, dict)) and type(old[key]) is type(b):
                update_in_place(old[key], b)
            else:
                old[key] = b
    elif isinstance(old, (list, bytearray)):
        old[:] = new
    else:
        old.clear()
        old.update(new)


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


def _await_candidate(chan: Channel) -> tuple[str, str] | None:
    """None once the candidate has loaded with every entry point; else the verdict."""
    try:
        hello, _ = recv_msg(chan.sock)
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
    return None


def _run_test(code: object, namespace: dict, test: str, chan: Channel) -> tuple[str, str]:
    try:
        exec(code, namespace)
    except ChannelClosed as exc:
        return "crashed", f"candidate process ended mid-test ({exc})"
    except Uncarried as exc:
        return "error", str(exc)[:300]
    except AssertionError as exc:
        detail = f": {exc}" if str(exc) else ""
        return "failed", f"assertion failed{_failing_line(exc, test)}{detail}"[:300]
    except CandidateError as exc:
        return "error", f"candidate raised {exc}{_failing_line(exc, test)}"[:300]
    except HarnessError as exc:
        return "error", str(exc)[:300]
    except NameError as exc:
        return "error", (f"test uses {exc.name!r}, which neither setup, the entry points nor an importable module "
                         f"defines{_failing_line(exc, test)}")[:300]
    except BaseException as exc:
        return "failed", f"test raised {type(exc).__name__}: {exc}{_failing_line(exc, test)}"[:300]
    return "passed", "all tests passed"


def judge_one(program: dict, sock: socket.socket) -> tuple[str, str]:
    """(status, reason) for one program; the candidate is already starting on the other end of ``sock``."""
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
    chan = Channel(sock)
    early = _await_candidate(chan)
    if early is not None:
        return early
    for name in program["entry_points"]:
        namespace[name] = CandidateProxy(chan, name)
    _import_missing_modules(free_names, namespace)
    status, reason = _run_test(code, namespace, program["test"], chan)
    if chan.uncarried is not None and status != "crashed":  # the test swallowed it: still not a verdict to trust
        return "error", chan.uncarried[:300]
    return status, reason


def judge_main(parent: socket.socket) -> None:
    prctl(PR_SET_DUMPABLE, 0)
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
