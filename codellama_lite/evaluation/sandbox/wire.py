"""Sandbox wire format: framed JSON messages and a codec that carries values, never behaviour (docs/paper_facts.md §8).

**Threat.** Every byte the candidate sends is chosen by code nobody has read. A message must not be able to run code
in the judge (no pickle, no ``eval``, no class the candidate defines), exhaust its memory (a size cap per message, a
depth cap per value), or decide its own comparison (an object whose ``__eq__`` always answers ``True``).

**Messages** are a 4-byte length and a JSON object; descriptors ride along with ``SCM_RIGHTS``.

**Values** are JSON scalars and lists as themselves, everything else a one-key tag object. Decoding builds only
builtin values, standard-library value types the judge rebuilds as its own instances, and numpy arrays of numeric or
text dtype; so an honest program's result compares in the judge exactly as it would in its own process:

======  ==========================================  ======  ==========================================
tag     value                                       tag     value
======  ==========================================  ======  ==========================================
f       non-finite float                            fr, dec Fraction, Decimal
c       complex                                     od, ctr OrderedDict, Counter
b, ba   bytes, bytearray                            dd      defaultdict with a builtin factory
t       tuple                                       dq      deque (with its maxlen)
s, fs   set, frozenset                              nt      namedtuple (rebuilt as the judge's own class)
d       dict (any keys)                             rg      range
ty      a builtin class (``int``)                   dk, dv, di  dict keys / values / items views
np, npv numpy array / scalar                        it, fn, h   handles (below)
======  ==========================================  ======  ==========================================

A subclass of a builtin that adds nothing (no methods, no attributes) crosses as its base value. **Handles** keep
what is not a value where it lives: an iterator, generator or function the candidate returns stays in the candidate,
and the judge gets a proxy whose every use is one round trip (``it`` / ``fn``); a proxy passed back is named by its
handle (``h``). Laziness, infinite generators and state across calls behave as in one process. Anything else (an
instance of a class the candidate defined, an object with its own ``__eq__``) raises :class:`Unserializable`, whose
message names the type: the judge reports that it cannot carry it, never a verdict that silently differs.
"""

from __future__ import annotations

import base64
import builtins
import collections
import decimal
import fractions
import json
import math
import os
import socket
import struct
from collections.abc import Callable

HEADER = struct.Struct("!I")
MAX_MESSAGE = 64 << 20  # bytes; a larger reply from a candidate is an error, never buffered
MAX_DEPTH = 200  # nesting depth of a value (two Python frames a level when coding)
_FACTORIES = {name: getattr(builtins, name) for name in ("int", "float", "str", "bytes", "list", "dict", "set",
                                                          "frozenset", "tuple", "bool", "complex")}
_NONFINITE = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}
_BASES = (int, float, complex, str, bytes, bytearray, list, tuple, dict, set, frozenset)
_NEUTRAL = frozenset({"__module__", "__qualname__", "__doc__", "__dict__", "__weakref__", "__slots__",
                      "__annotations__", "__orig_bases__", "__parameters__", "__firstlineno__",
                      "__static_attributes__"})
_COMPARISONS = ("__eq__", "__ne__", "__lt__", "__le__", "__gt__", "__ge__", "__hash__", "__bool__", "__len__",
                "__iter__", "__getitem__", "__contains__")
_DICT_VIEWS = (type({}.keys()), type({}.values()), type({}.items()))


class ChannelClosed(BaseException):
    """The peer went away or broke the protocol. A BaseException, so test code cannot swallow it."""


class Unserializable(Exception):
    """A value the channel does not carry; the message names it for the verdict's reason."""


# -- messages ----------------------------------------------------------------------------------------------------

def send_msg(sock: socket.socket, obj: object, fds: tuple[int, ...] = ()) -> None:
    data = json.dumps(obj, separators=(",", ":"), allow_nan=False).encode()
    payload = HEADER.pack(len(data)) + data
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
    header, fds = _recv_exact(sock, HEADER.size, max_fds)
    (size,) = HEADER.unpack(header)
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


MAX_GROUP = 20  # sub-exceptions of an exception group carried, per level
MAX_GROUP_DEPTH = 4  # nesting of exception groups carried


def describe_exception(exc: BaseException, depth: int = 0) -> dict:
    """How a candidate exception crosses: its class name and a bounded message, nothing executable; an exception
    group also its (bounded) sub-exceptions, so ``except*`` in a test sees what the candidate raised."""
    try:
        message = str(exc.message if isinstance(exc, BaseExceptionGroup) else exc)
    except BaseException:  # a candidate's __str__ may itself raise
        message = "<unprintable>"
    described = {"type": type(exc).__name__[:100], "message": message[:500]}
    if isinstance(exc, BaseExceptionGroup) and depth < MAX_GROUP_DEPTH:
        described["group"] = [describe_exception(sub, depth + 1) for sub in exc.exceptions[:MAX_GROUP]]
    return described


# -- encoding ----------------------------------------------------------------------------------------------------

Refs = Callable[[object], "dict | None"]


def encode(value: object, refs: Refs | None = None, depth: int = 0) -> object:
    """A JSON-ready form of ``value``. ``refs`` turns what is not a value into a handle (or returns None)."""
    if depth > MAX_DEPTH:
        raise Unserializable(f"a value nested more than {MAX_DEPTH} levels deep")
    kind = type(value)
    if value is None or kind is bool or kind is int or kind is str:
        return value
    if kind is float:
        return value if math.isfinite(value) else {"f": repr(value)}
    if kind is list:
        return [encode(v, refs, depth + 1) for v in value]
    coder = _ENCODERS.get(kind)
    if coder is not None:
        return coder(value, lambda v: encode(v, refs, depth + 1))
    return _encode_other(value, refs, depth)


def _pairs(mapping: dict, enc: Callable) -> list:
    return [[enc(k), enc(v)] for k, v in mapping.items()]


def _b64(value: bytes | bytearray) -> str:
    return base64.b64encode(bytes(value)).decode("ascii")


def _factory(value: collections.defaultdict, enc: Callable) -> dict:
    name = getattr(value.default_factory, "__name__", None)
    if value.default_factory is not None and _FACTORIES.get(name) is not value.default_factory:
        raise Unserializable(f"a defaultdict whose default_factory is {value.default_factory!r}")
    return {"dd": [name if value.default_factory is not None else None, _pairs(value, enc)]}


_ENCODERS: dict[type, Callable[[object, Callable], object]] = {
    tuple: lambda v, enc: {"t": [enc(x) for x in v]},
    dict: lambda v, enc: {"d": _pairs(v, enc)},
    set: lambda v, enc: {"s": [enc(x) for x in v]},
    frozenset: lambda v, enc: {"fs": [enc(x) for x in v]},
    complex: lambda v, enc: {"c": [enc(v.real), enc(v.imag)]},
    bytes: lambda v, enc: {"b": _b64(v)},
    bytearray: lambda v, enc: {"ba": _b64(v)},
    fractions.Fraction: lambda v, enc: {"fr": [v.numerator, v.denominator]},
    decimal.Decimal: lambda v, enc: {"dec": str(v)},
    collections.OrderedDict: lambda v, enc: {"od": _pairs(v, enc)},
    collections.Counter: lambda v, enc: {"ctr": _pairs(v, enc)},
    collections.defaultdict: _factory,
    collections.deque: lambda v, enc: {"dq": [[enc(x) for x in v], v.maxlen]},
    range: lambda v, enc: {"rg": [v.start, v.stop, v.step]},
    _DICT_VIEWS[0]: lambda v, enc: {"dk": [enc(x) for x in v]},
    _DICT_VIEWS[1]: lambda v, enc: {"dv": [enc(x) for x in v]},
    _DICT_VIEWS[2]: lambda v, enc: {"di": [[enc(k), enc(x)] for k, x in v]},
}


def _encode_other(value: object, refs: Refs | None, depth: int) -> object:
    """Numpy values, namedtuples, builtin classes, handles and behaviour-free subclasses; else Unserializable."""
    kind = type(value)
    enc = (lambda v: encode(v, refs, depth + 1))
    if kind.__module__ == "numpy" and hasattr(value, "dtype") and hasattr(value, "tolist"):
        return _encode_numpy(value, enc)
    if isinstance(value, tuple) and _is_namedtuple(kind):
        return {"nt": [kind.__name__, list(kind._fields), [enc(v) for v in value]]}
    if isinstance(value, type) and getattr(builtins, value.__name__, None) is value:
        return {"ty": value.__name__}
    handle = refs(value) if refs is not None else None
    if handle is not None:
        return handle
    for base in _BASES:
        if isinstance(value, base) and _adds_nothing(value, base):
            return encode(base(value), refs, depth)
    raise Unserializable(_describe_type(kind))


def _encode_numpy(value: object, enc: Callable) -> dict:
    dtype = value.dtype
    if dtype.kind not in "biufcU" or dtype.fields is not None:
        raise Unserializable(f"a numpy value of dtype {dtype}")
    if type(value).__name__ != "ndarray":
        return {"npv": [dtype.str, enc(value.item())]}
    return {"np": [dtype.str, list(value.shape), enc(value.tolist())]}


def _is_namedtuple(kind: type) -> bool:
    fields = getattr(kind, "_fields", None)
    return (kind.__bases__ == (tuple,) and isinstance(fields, tuple) and all(isinstance(f, str) for f in fields)
            and not any(name in vars(kind) for name in _COMPARISONS))


def _adds_nothing(value: object, base: type) -> bool:
    """Whether ``value``'s class, up to the builtin ``base``, defines nothing of its own (nor does the instance)."""
    for cls in type(value).__mro__:
        if cls is base:
            return not getattr(value, "__dict__", None)
        if not set(vars(cls)) <= _NEUTRAL:
            return False
    return False


def _describe_type(kind: type) -> str:
    if kind.__module__ in ("__candidate__", "__main__"):
        return (f"an instance of {kind.__qualname__[:80]}, a class the candidate defined (only values cross to the "
                "judge: a comparison must not run the candidate's own methods)")
    return f"a value of type {kind.__module__}.{kind.__qualname__}"[:200]


# -- decoding ----------------------------------------------------------------------------------------------------

Resolve = Callable[[str, object], object]


def decode(obj: object, resolve: Resolve | None = None, depth: int = 0) -> object:
    """Inverse of :func:`encode`; builds only values (and, through ``resolve``, handles); ValueError otherwise."""
    if depth > MAX_DEPTH:
        raise ValueError("value nested too deeply")
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    if isinstance(obj, list):
        return [decode(v, resolve, depth + 1) for v in obj]
    if not isinstance(obj, dict) or len(obj) != 1:
        raise ValueError("malformed value")
    ((tag, body),) = obj.items()
    if tag in ("it", "fn", "h"):
        if resolve is None or type(body) is not int:
            raise ValueError(f"unexpected handle {tag!r}")
        return resolve(tag, body)
    decoder = _DECODERS.get(tag)
    if decoder is None:
        raise ValueError(f"malformed value with tag {tag!r}")
    try:
        return decoder(body, lambda v: decode(v, resolve, depth + 1))
    except (TypeError, KeyError, IndexError, ArithmeticError, decimal.InvalidOperation) as exc:
        raise ValueError(f"malformed value with tag {tag!r}: {type(exc).__name__}") from None


def _items(body: object, dec: Callable) -> list:
    if not isinstance(body, list):
        raise TypeError("body is not a list")
    return [dec(v) for v in body]


def _pair_list(body: object, dec: Callable) -> list[tuple]:
    pairs = _items(body, dec)
    if not all(isinstance(p, list) and len(p) == 2 for p in pairs):
        raise TypeError("not a list of pairs")
    return [(k, v) for k, v in pairs]


def _ints(body: object, n: int) -> list[int]:
    if not (isinstance(body, list) and len(body) == n and all(type(x) is int for x in body)):
        raise TypeError(f"expected {n} integers")
    return body


def _text(body: object, limit: int = 100_000) -> str:
    if not isinstance(body, str) or len(body) > limit:
        raise TypeError("expected a short string")
    return body


def _nonfinite(body: object, dec: Callable) -> float:
    return _NONFINITE[_text(body)]


def _base64(body: object) -> bytes:
    try:
        return base64.b64decode(_text(body, MAX_MESSAGE).encode("ascii"), validate=True)
    except ValueError:
        raise TypeError("bad base64") from None


def _complex(body: object, dec: Callable) -> complex:
    real, imag = _items(body, dec)
    if not all(type(p) in (int, float) for p in (real, imag)):
        raise TypeError("complex parts must be numbers")
    return complex(real, imag)


def _decimal(body: object, dec: Callable) -> decimal.Decimal:
    return decimal.Decimal(_text(body))


def _defaultdict(body: object, dec: Callable) -> collections.defaultdict:
    name, pairs = body
    if name is not None and name not in _FACTORIES:
        raise TypeError("unknown factory")
    return collections.defaultdict(_FACTORIES.get(name), _pair_list(pairs, dec))


def _deque(body: object, dec: Callable) -> collections.deque:
    items, maxlen = body
    if maxlen is not None and (type(maxlen) is not int or maxlen < 0):
        raise TypeError("bad maxlen")
    return collections.deque(_items(items, dec), maxlen)


_namedtuples: dict[tuple, type] = {}


def _namedtuple(body: object, dec: Callable) -> tuple:
    name, fields, items = body
    key = (_text(name, 200), tuple(_text(f, 200) for f in fields))
    cls = _namedtuples.get(key)
    if cls is None:  # namedtuple() itself refuses names that are not identifiers
        cls = _namedtuples[key] = collections.namedtuple(*key)
    return cls(*_items(items, dec))


def _builtin_class(body: object, dec: Callable) -> type:
    value = getattr(builtins, _text(body, 100), None)
    if not isinstance(value, type):
        raise TypeError("not a builtin class")
    return value


def _numpy_dtype(name: object) -> object:
    import numpy  # only a numpy value needs it, and only then is it loaded

    dtype = numpy.dtype(_text(name, 16))
    if dtype.kind not in "biufcU" or dtype.fields is not None or dtype.subdtype is not None:
        raise TypeError(f"numpy dtype {dtype} is not carried")
    return numpy, dtype


def _numpy_array(body: object, dec: Callable) -> object:
    name, shape, data = body
    numpy, dtype = _numpy_dtype(name)
    if not (isinstance(shape, list) and all(type(n) is int and n >= 0 for n in shape)):
        raise TypeError("bad shape")
    return numpy.array(dec(data), dtype=dtype).reshape(shape)


def _numpy_scalar(body: object, dec: Callable) -> object:
    name, value = body
    numpy, dtype = _numpy_dtype(name)
    return numpy.array(dec(value), dtype=dtype)[()]


def _view(build: Callable[[list], object]) -> Callable[[object, Callable], object]:
    return lambda body, dec: build(_items(body, dec))


_DECODERS: dict[str, Callable[[object, Callable], object]] = {
    "f": _nonfinite,
    "c": _complex,
    "b": lambda body, dec: _base64(body),
    "ba": lambda body, dec: bytearray(_base64(body)),
    "t": lambda body, dec: tuple(_items(body, dec)),
    "s": lambda body, dec: set(_items(body, dec)),
    "fs": lambda body, dec: frozenset(_items(body, dec)),
    "d": lambda body, dec: dict(_pair_list(body, dec)),
    "fr": lambda body, dec: fractions.Fraction(*_ints(body, 2)),
    "dec": _decimal,
    "od": lambda body, dec: collections.OrderedDict(_pair_list(body, dec)),
    "ctr": lambda body, dec: collections.Counter(dict(_pair_list(body, dec))),
    "dd": _defaultdict,
    "dq": _deque,
    "nt": _namedtuple,
    "rg": lambda body, dec: range(*_ints(body, 3)),
    "ty": _builtin_class,
    "dk": _view(lambda items: dict.fromkeys(items).keys()),
    "dv": _view(lambda items: dict(enumerate(items)).values()),
    "di": lambda body, dec: dict(_pair_list(body, dec)).items(),
    "np": _numpy_array,
    "npv": _numpy_scalar,
}
