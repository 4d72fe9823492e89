"""Splits that measure generalization, not memory: ``train``, ``valid``, ``test``, ``heldout``, and a ``control``.

* A problem's split is decided by its *behaviour*: the hash of its
  :func:`~codellama_lite.data.toyworld.dedup.fingerprint` picks a bucket (70% train, 10% valid, 10% test,
  10% heldout), whatever the seed. Two problems that behave alike on the probe inputs — including any two with the
  same normalized code — therefore always fall in the same split, and every seed's test set is disjoint from every
  seed's training set.
* ``valid`` and ``test`` hold unseen *instances* (other constants, other step orders) of templates seen in training.
* ``heldout`` holds unseen *compositions*: problems with an adjacent pair of steps listed in :data:`RESERVED`, which
  no other split contains; each step of such a pair still appears in training, in other company (ExeDec's
  compositional split: Shi et al. 2023, arXiv 2302.01424).
* ``control`` is ``test`` with the specs (name, docstring, examples) swapped between problems of the same signature:
  the tests stay, so a model that reads the spec must drop to about zero there.
"""

from __future__ import annotations

import random
from collections.abc import Iterator

from codellama_lite.data.toyworld.families import draw_spec
from codellama_lite.data.toyworld.generator import Problem, behaviour, build_problem

SPLITS = ("train", "valid", "test", "heldout")
CONTROL = "control"
# Bucket ranges out of 100, by the hash of a problem's behaviour.
BUCKETS = {"train": range(0, 70), "valid": range(70, 80), "test": range(80, 90), "heldout": range(90, 100)}
# Pairs of adjacent step kinds (in Spec.structure, per family) never seen in train, valid or test.
RESERVED: dict[str, frozenset[tuple[str, str]]] = {
    "arithmetic": frozenset({("square", "add"), ("mul", "sub"), ("negate", "mul"), ("add", "mod"), ("abs", "sub"),
                             ("sub", "square")}),
    "string": frozenset({("reverse", "upper"), ("strip", "first"), ("append", "reverse"), ("lower", "replace"),
                         ("twice", "drop")}),
    "list": frozenset({("even", "square"), ("positive", "mul"), ("abs", "max"), ("odd", "count"), ("below", "add"),
                       ("negate", "sum"), ("mul", "min"), ("sort", "reverse")}),
    "conditional": frozenset({("mult", "add"), ("negative", "negate"), ("label", "mult")}),
    "loop": frozenset({("squares", "odd"), ("product", "doubles"), ("doubles", "above")}),
}
MAX_DRAWS_PER_PROBLEM = 2000


def is_reserved(structure: tuple[str, ...]) -> bool:
    """Whether a template composes a reserved pair of steps (and so belongs to ``heldout`` only)."""
    family, steps = structure[0], structure[1:]
    return any(pair in RESERVED.get(family, ()) for pair in zip(steps, steps[1:]))


def bucket_split(behaviour: str) -> str:
    """The split whose bucket a behaviour fingerprint hashes into."""
    bucket = int(behaviour, 16) % 100
    return next(split for split, span in BUCKETS.items() if bucket in span)


def check_split(split: str) -> None:
    if split not in SPLITS + (CONTROL,):
        raise ValueError(f"unknown toy-world split {split!r}; choose one of {', '.join(SPLITS + (CONTROL,))}")


def iter_problems(split: str, seed: int = 0) -> Iterator[Problem]:
    """Distinct problems of ``split`` (no two alike in behaviour), in a fixed order for each ``seed``; endless
    unless the split runs out of new problems (it stops after :data:`MAX_DRAWS_PER_PROBLEM` fruitless draws of its
    templates)."""
    check_split(split)
    if split == CONTROL:
        raise ValueError("the control split is made from test problems: use problems('control', ...)")
    rng = random.Random(f"toyworld/{split}/{seed}")
    seen: set[str] = set()
    misses = 0
    while misses < MAX_DRAWS_PER_PROBLEM:
        spec = draw_spec(rng)
        if is_reserved(spec.structure) != (split == "heldout"):
            continue
        misses += 1
        _, behaviour_hash = behaviour(spec)
        if behaviour_hash in seen or bucket_split(behaviour_hash) != split:
            continue
        problem = build_problem(spec, rng, f"Toy/{split}/{len(seen)}")
        if problem is not None:
            seen.add(behaviour_hash)
            misses = 0
            yield problem


def problems(split: str, seed: int = 0, count: int = 200) -> list[Problem]:
    """The first ``count`` problems of ``split`` for ``seed`` (``control``: ``test``'s with specs swapped)."""
    if count < 1:
        raise ValueError(f"count must be at least 1, got {count}")
    check_split(split)
    if split == CONTROL:
        return shuffled_specs(problems("test", seed, count), seed)
    found = []
    for problem in iter_problems(split, seed):
        found.append(problem)
        if len(found) == count:
            return found
    raise ValueError(f"the toy world's {split!r} split has only {len(found)} distinct problems for this seed; "
                     f"asked for {count}")


def signature_shape(problem: Problem) -> str:
    """The signature without the function's name, e.g. ``(x: int) -> str``."""
    first_line = problem.prompt.split("\n", 1)[0]
    return first_line[first_line.index("("):]


def shuffled_specs(originals: list[Problem], seed: int = 0) -> list[Problem]:
    """The control: each problem keeps its tests and body but shows another same-signature problem's spec.

    Within each signature, specs move one place along a shuffled cycle, so no problem keeps its own (a signature
    held by a single problem keeps it, and is dropped). The canonical solution still passes — the parameter is the
    same — while a model that writes what the spec says fails.
    """
    rng = random.Random(f"toyworld/control/{seed}")
    groups: dict[str, list[int]] = {}
    for index, problem in enumerate(originals):
        groups.setdefault(signature_shape(problem), []).append(index)
    donor: dict[int, int] = {}
    for members in groups.values():
        if len(members) > 1:
            order = rng.sample(members, len(members))
            donor.update(zip(order, order[1:] + order[:1]))
    control = []
    for index in sorted(donor):
        own, spec = originals[index], originals[donor[index]]
        control.append(Problem(f"Toy/control/{len(control)}", spec.prompt, own.canonical_solution, own.test,
                               spec.entry_point, own.family, own.difficulty, own.structure, own.fingerprint))
    return control
