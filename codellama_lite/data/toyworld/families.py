"""The families of the toy code world: templated specs whose wording determines the body, step by step.

A problem is built from *steps*, each one English phrase, one name fragment and one line of code, so a model that
learns what each phrase means can write a body it has never seen (the compositional split, ``heldout``, tests exactly
that). Every family draws a :class:`Spec` from a ``random.Random``; :mod:`codellama_lite.data.toyworld.generator` runs
its code to get the tests. Families, easiest first:

* ``arithmetic``: one to three steps on an integer (``add 3``, ``multiply by 2``, ``square it``).
* ``conditional``: a label chosen by a condition, or one of two arithmetic steps chosen by a condition.
* ``string``: one to three steps on a string (``reverse it``, ``append 'ab'``, ``keep the first 3 characters``).
* ``list``: one or two filter/map steps on a list of integers, then an aggregate (sum, count, largest, the list).
* ``loop``: an accumulator loop over ``1..n`` or over a string's characters (sum, product or count, with a condition).

``Spec.structure`` names the template without its constants (e.g. ``("arithmetic", "add", "mul")``); the splits
reserve some compositions of steps for ``heldout`` by it.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

# Argument types; each has fixed probe inputs (dedup.py) and a sampler of test inputs (generator.py).
INT, COUNT, INTS, TEXT = "int", "count", "list[int]", "str"
PYTHON_TYPES = {INT: "int", COUNT: "int", INTS: "list[int]", TEXT: "str"}


@dataclass(frozen=True)
class Step:
    """One unit of a spec: its kind (the template, no constants), name fragment, English phrase and code."""

    kind: str
    name: str
    phrase: str
    code: str


@dataclass(frozen=True)
class Spec:
    """A problem before it is run: signature, one-sentence docstring, body lines, and its labels."""

    family: str
    difficulty: int
    name: str
    param: str
    param_type: str
    returns: str
    sentence: str
    body: tuple[str, ...]
    structure: tuple[str, ...]

    @property
    def signature(self) -> str:
        return f"def {self.name}({self.param}: {PYTHON_TYPES[self.param_type]}) -> {self.returns}:"


# -- the primitives -----------------------------------------------------------------------------------------------

def arithmetic_step(rng: random.Random, var: str = "x") -> Step:
    """An integer step on ``var``."""
    kind = rng.choice(("add", "sub", "mul", "div", "mod", "square", "negate", "abs"))
    k = rng.randint(2, 9)
    return {
        "add": lambda: Step("add", f"add_{k}", f"add {k}", f"{var} + {k}"),
        "sub": lambda: Step("sub", f"sub_{k}", f"subtract {k}", f"{var} - {k}"),
        "mul": lambda: Step("mul", f"times_{k}", f"multiply by {k}", f"{var} * {k}"),
        "div": lambda: Step("div", f"div_{k}", f"divide by {k} rounding down", f"{var} // {k}"),
        "mod": lambda: Step("mod", f"mod_{k}", f"take the remainder after dividing by {k}", f"{var} % {k}"),
        "square": lambda: Step("square", "square", "square it", f"{var} * {var}"),
        "negate": lambda: Step("negate", "negate", "negate it", f"-{var}"),
        "abs": lambda: Step("abs", "absolute", "take the absolute value", f"abs({var})"),
    }[kind]()


def condition(rng: random.Random, var: str, kinds: tuple[str, ...] = ("above", "below", "atleast", "atmost", "even",
                                                                        "odd", "mult", "negative", "positive")) -> Step:
    """A predicate on an integer ``var``; ``phrase`` completes "... that is/are ___"."""
    kind = rng.choice(kinds)
    k = rng.randint(2, 9) if kind in ("mult",) else rng.randint(-3, 9)
    return {
        "above": lambda: Step("above", f"above_{k}".replace("-", "minus_"), f"greater than {k}", f"{var} > {k}"),
        "below": lambda: Step("below", f"below_{k}".replace("-", "minus_"), f"less than {k}", f"{var} < {k}"),
        "atleast": lambda: Step("atleast", f"atleast_{k}".replace("-", "minus_"), f"at least {k}", f"{var} >= {k}"),
        "atmost": lambda: Step("atmost", f"atmost_{k}".replace("-", "minus_"), f"at most {k}", f"{var} <= {k}"),
        "even": lambda: Step("even", "even", "even", f"{var} % 2 == 0"),
        "odd": lambda: Step("odd", "odd", "odd", f"{var} % 2 == 1"),
        "mult": lambda: Step("mult", f"mult_{k}", f"a multiple of {k}", f"{var} % {k} == 0"),
        "negative": lambda: Step("negative", "negative", "negative", f"{var} < 0"),
        "positive": lambda: Step("positive", "positive", "positive", f"{var} > 0"),
    }[kind]()


WORDS = ("ab", "xy", "ok", "z", "!", "hi")
LETTERS = "abeost"


def string_step(rng: random.Random) -> Step:
    """A string step on ``s``."""
    kind = rng.choice(("upper", "lower", "reverse", "strip", "replace", "append", "prepend", "first", "drop",
                       "twice", "remove", "capitalize"))
    word, k = rng.choice(WORDS), rng.randint(1, 4)
    old, new = rng.sample(LETTERS, 2)
    return {
        "upper": lambda: Step("upper", "upper", "convert it to upper case", "s.upper()"),
        "lower": lambda: Step("lower", "lower", "convert it to lower case", "s.lower()"),
        "reverse": lambda: Step("reverse", "reverse", "reverse it", "s[::-1]"),
        "strip": lambda: Step("strip", "strip", "remove the spaces at both ends", "s.strip()"),
        "replace": lambda: Step("replace", f"{old}_to_{new}", f"replace every '{old}' with '{new}'",
                                f"s.replace({old!r}, {new!r})"),
        "append": lambda: Step("append", f"append_{_word_name(word)}", f"append '{word}'", f"s + {word!r}"),
        "prepend": lambda: Step("prepend", f"prepend_{_word_name(word)}", f"put '{word}' in front", f"{word!r} + s"),
        "first": lambda: Step("first", f"first_{k}", f"keep the first {k} characters", f"s[:{k}]"),
        "drop": lambda: Step("drop", f"drop_{k}", f"drop the first {k} characters", f"s[{k}:]"),
        "twice": lambda: Step("twice", "twice", "repeat it twice", "s + s"),
        "remove": lambda: Step("remove", f"remove_{old}", f"remove every '{old}'", f"s.replace({old!r}, '')"),
        "capitalize": lambda: Step("capitalize", "capitalize", "capitalize it", "s.capitalize()"),
    }[kind]()


def _word_name(word: str) -> str:
    return "bang" if word == "!" else word


def list_step(rng: random.Random) -> Step:
    """A step on the list ``xs``: a filter (by a condition), a map, a sort or a reversal."""
    kind = rng.choice(("filter", "filter", "filter", "add", "mul", "square", "negate", "abs", "sort", "reverse"))
    k = rng.randint(2, 9)
    if kind == "filter":
        cond = condition(rng, "v")
        return Step(cond.kind, f"keep_{cond.name}", f"keep the numbers that are {cond.phrase}",
                    f"[v for v in xs if {cond.code}]")
    return {
        "add": lambda: Step("add", f"plus_{k}", f"add {k} to each number", f"[v + {k} for v in xs]"),
        "mul": lambda: Step("mul", f"times_{k}", f"multiply each number by {k}", f"[v * {k} for v in xs]"),
        "square": lambda: Step("square", "squares", "square each number", "[v * v for v in xs]"),
        "negate": lambda: Step("negate", "negated", "negate each number", "[-v for v in xs]"),
        "abs": lambda: Step("abs", "absolute", "take the absolute value of each number", "[abs(v) for v in xs]"),
        "sort": lambda: Step("sort", "sort", "sort them", "sorted(xs)"),
        "reverse": lambda: Step("reverse", "reverse", "reverse their order", "xs[::-1]"),
    }[kind]()


# aggregate kind -> (name suffix, phrase, return expression, return type)
AGGREGATES = {
    "list": ("", "return them", "xs", "list[int]"),
    "sum": ("sum", "return their sum", "sum(xs)", "int"),
    "count": ("count", "return how many there are", "len(xs)", "int"),
    "max": ("max", "return the largest, or 0 if there are none", "max(xs, default=0)", "int"),
    "min": ("min", "return the smallest, or 0 if there are none", "min(xs, default=0)", "int"),
}
LABELS = (("big", "small"), ("yes", "no"), ("high", "low"), ("hot", "cold"), ("on", "off"), ("up", "down"))
# loop term kind -> (name fragment, phrase, code)
TERMS = {"numbers": ("numbers", "the numbers", "i"), "squares": ("squares", "the squares of the numbers", "i * i"),
         "doubles": ("doubles", "twice the numbers", "2 * i")}
CHARACTER_TESTS = {"vowel": ("vowels", "vowels", 'c in "aeiou"'),
                   "upper": ("upper", "upper case letters", "c.isupper()"),
                   "space": ("spaces", "spaces", 'c == " "')}


def _step_count(rng: random.Random) -> int:
    return rng.choices((1, 2, 3), weights=(4, 4, 2))[0]


def _pipeline_sentence(start: str, steps: list[Step], ending: str = "and return the result") -> str:
    phrases = [steps[0].phrase] + [f"then {step.phrase}" for step in steps[1:]]
    return f"Start with {start}, " + ", ".join(phrases) + f", {ending}."


# -- the families -------------------------------------------------------------------------------------------------

def _pipeline(family: str, var: str, inputs, returns: str, make_step, rng: random.Random) -> Spec:
    """One to three steps applied to ``var`` in turn, then ``return var`` (difficulty = steps)."""
    steps = [make_step(rng) for _ in range(_step_count(rng))]
    return Spec(family, len(steps), "_then_".join(s.name for s in steps), var, inputs, returns,
                _pipeline_sentence(var, steps), tuple(f"{var} = {s.code}" for s in steps) + (f"return {var}",),
                (family,) + tuple(s.kind for s in steps))


def arithmetic(rng: random.Random) -> Spec:
    """``x = x + 3`` / ``x = x * 2`` / ``return x``: one to three integer steps (difficulty = steps)."""
    return _pipeline("arithmetic", "x", INT, "int", arithmetic_step, rng)


def conditional(rng: random.Random) -> Spec:
    """A label chosen by a condition (difficulty 2), or one of two integer steps chosen by one (difficulty 3)."""
    cond = condition(rng, "x")
    if rng.random() < 0.5:
        yes, no = rng.choice(LABELS)
        return Spec("conditional", 2, f"{yes}_if_{cond.name}", "x", INT, "str",
                    f'Return "{yes}" if x is {cond.phrase}, otherwise return "{no}".',
                    (f"if {cond.code}:", f'    return "{yes}"', f'return "{no}"'), ("conditional", "label", cond.kind))
    then, other = arithmetic_step(rng), arithmetic_step(rng)
    return Spec("conditional", 3, f"{then.name}_if_{cond.name}_else_{other.name}", "x", INT, "int",
                f"If x is {cond.phrase}, {then.phrase}; otherwise {other.phrase}. Return the result.",
                (f"if {cond.code}:", f"    x = {then.code}", "else:", f"    x = {other.code}", "return x"),
                ("conditional", "branch", cond.kind, then.kind, other.kind))


def string(rng: random.Random) -> Spec:
    """``s = s[::-1]`` / ``s = s.upper()`` / ``return s``: one to three string steps (difficulty = steps)."""
    return _pipeline("string", "s", TEXT, "str", string_step, rng)


def lists(rng: random.Random) -> Spec:
    """One or two list steps, then an aggregate (difficulty = steps + 1)."""
    steps = [list_step(rng) for _ in range(rng.choice((1, 1, 2)))]
    aggregate = rng.choice(tuple(AGGREGATES))
    suffix, phrase, expression, returns = AGGREGATES[aggregate]
    name = "_then_".join(s.name for s in steps) + (f"_{suffix}" if suffix else "")
    return Spec("list", len(steps) + 1, name, "xs", INTS, returns, _pipeline_sentence("the list xs", steps, phrase),
                tuple(f"xs = {s.code}" for s in steps) + (f"return {expression}",),
                ("list",) + tuple(s.kind for s in steps) + (aggregate,))


def loop(rng: random.Random) -> Spec:
    """An accumulator loop: over ``1..n`` (difficulty 3, or 4 with a condition), or counting characters (3)."""
    if rng.random() < 0.2:
        return _count_characters(rng)
    kind = rng.choice(("sum", "sum", "product", "count"))
    cond = None if kind != "count" and rng.random() < 0.3 else condition(rng, "i", ("above", "below", "even", "odd",
                                                                                     "mult"))
    term_name, term_phrase, term_code = TERMS[rng.choice(tuple(TERMS))]
    which = f" that are {cond.phrase}" if cond else ""
    if kind == "count":
        name, sentence, start, update = (f"count_{cond.name}",
                                         f"Return how many numbers from 1 to n are {cond.phrase}.", "0", "total += 1")
        term_name = "count"
    else:
        name = f"{kind}_{term_name}" + (f"_{cond.name}" if cond else "")
        sentence = f"Return the {kind} of {term_phrase} from 1 to n{which}."
        start, update = ("0", f"total += {term_code}") if kind == "sum" else ("1", f"total *= {term_code}")
    inner = (f"if {cond.code}:", f"    {update}") if cond else (update,)
    loop = tuple(f"    {line}" for line in inner)
    body = (f"total = {start}", "for i in range(1, n + 1):") + loop + ("return total",)
    return Spec("loop", 4 if cond else 3, name, "n", COUNT, "int", sentence, body,
                ("loop", kind, term_name, cond.kind if cond else "all"))


def _count_characters(rng: random.Random) -> Spec:
    key = rng.choice(tuple(CHARACTER_TESTS) + tuple(LETTERS))
    name, phrase, test = CHARACTER_TESTS.get(key, (key, f"the letter '{key}'", f"c == {key!r}"))
    return Spec("loop", 3, f"count_{name}", "s", TEXT, "int", f"Return how many characters of s are {phrase}.",
                ("total = 0", "for c in s:", f"    if {test}:", "        total += 1", "return total"),
                ("loop", "characters", "count", "letter" if key in LETTERS else key))


FAMILIES: dict[str, Callable[[random.Random], Spec]] = {
    "arithmetic": arithmetic, "conditional": conditional, "string": string, "list": lists, "loop": loop}
# How often each family is drawn: the easier, more compositional ones a little more.
WEIGHTS = {"arithmetic": 3, "conditional": 2, "string": 3, "list": 3, "loop": 2}


def draw_spec(rng: random.Random) -> Spec:
    """One spec from a family drawn by :data:`WEIGHTS`."""
    family = rng.choices(tuple(WEIGHTS), weights=tuple(WEIGHTS.values()))[0]
    return FAMILIES[family](rng)
