"""The Hypothesis strategy that draws programs: which operations, on which nodes, with leaves of
which shapes and values (see the package docstring)."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import assume
from hypothesis import strategies as st

from autograd_conformance import references
from autograd_conformance.programs.operations import BINARY, LOSSES, OPS, ON_TENSORS, UNARY, WITH_FLOAT
from autograd_conformance.programs.program import Leaf, Program, Step


def _array(rng, shape, magnitude=2.0, away=0.0, nonnegative=False):
    """Values of both signs (or none negative) with |x| in [away, magnitude]."""
    values = rng.uniform(away, magnitude, size=shape)
    return values if nonnegative else values * rng.choice([-1.0, 1.0], size=shape)


SHAPES = [(3,), (4,), (2, 3), (3, 2), (3, 3), (2, 4)]
LARGEST = 1e3  # no value of a program grows beyond this
MARGIN = 1e-3  # relu's input and a pooling window's runner-up stay this far (relative) from the edge


class _Dropped(Exception):
    """A step whose result would leave the program's range: it is not taken."""


class _Builder:
    """A program under construction: the leaves and steps drawn so far, every node's float64 value."""

    def __init__(self, draw, operations, dtype):
        self.operations, self.dtype = operations, dtype
        # values, shapes and which operands meet come from a generator Hypothesis seeds (drawing
        # each through Hypothesis would cost most of a test's time); the program's length and its
        # operations are Hypothesis's to draw and shrink
        self.rng = np.random.default_rng(draw(st.integers(0, 2 ** 32 - 1), label="values seed"))
        self.leaves: list[Leaf] = []
        self.steps: list[Step] = []
        self.values: dict[str, np.ndarray] = {}
        self.pool: list[str] = []  # the nodes later steps draw from
        self.used: set[str] = set()  # the nodes steps have taken

    def leaf(self, shape, magnitude=2.0, away=0.0, tracked=None, classes=None, nonnegative=False,
             pooled=True) -> str:
        """A new leaf (pooled: later steps may use it again)."""
        name = f"x{len(self.leaves)}"
        if pooled and classes is None:
            self.pool.append(name)
        if classes is not None:
            value = self.rng.integers(0, classes, size=shape[0]).astype(np.float64)
            self.leaves.append(Leaf(name, value, False, integer=True))
        else:
            value = _array(self.rng, shape, magnitude, away, nonnegative)
            if tracked is None:  # mostly tracked: every operand's gradient is checked
                tracked = self.coin(0.75)
            self.leaves.append(Leaf(name, value, tracked))
        self.values[name] = value
        return name

    def step(self, op, args, const=None) -> str:
        value = np.asarray(OPS[op].value(*(self.values[a] for a in args), const), dtype=np.float64)
        if not np.all(np.isfinite(value)) or np.max(np.abs(value), initial=0.0) > LARGEST:
            raise _Dropped
        name = f"v{len(self.steps)}"
        self.used.update(args)
        broadcast = op in BINARY and self.values[args[0]].shape != self.values[args[1]].shape
        self.steps.append(Step(name, op, tuple(args), const, broadcast))
        self.values[name] = value
        return name

    def coin(self, p: float = 0.5) -> bool:
        return bool(self.rng.random() < p)

    def pick(self, options: list):
        return options[int(self.rng.integers(len(options)))]

    def between(self, low: int, high: int) -> int:
        return int(self.rng.integers(low, high + 1))

    def tensors(self):
        return [p for p in self.pool if self.values[p].ndim > 0]

    def scale(self) -> float:
        """The largest magnitude so far: float32 rounding errors are relative to it."""
        return max(1.0, max(float(np.max(np.abs(v), initial=0.0)) for v in self.values.values()))

    def clear_of_zero(self, v) -> bool:
        return v.size == 0 or float(np.min(np.abs(v))) > MARGIN * self.scale()


@st.composite
def programs(draw, operations: frozenset[str], dtype: str = "float32", max_steps: int = 6,
             output: str = "any", first: str | None = None, seeded: bool = False) -> Program:
    """A random program of max_steps steps (after first, where given) over the operations given
    (see the module docstring), less those its output does not depend on. output: "scalar", a loss of one number; "tensor", a tensor output weighted into one
    number by random weights (the seed a vjp of it takes); "any", either. first: an operation the
    program starts with, applied to new leaves (the claim a test is about). seeded: the output's
    weights are a vjp's seed (as the program prints)."""
    b = _Builder(draw, operations, dtype)
    # Every program as long as it may be: a test runs a few dozen, and Hypothesis draws its numbers
    # small first (a drawn length would be 1 or 2 in most). What a failing program prints is the
    # part its output depends on (_prune); Hypothesis shrinks the seed that draws it.
    wanted = max_steps
    if first is not None:
        _first_step(b, first)
    elif "convolve2d" in operations and b.coin(1 / 8):  # a LeNet-like start, now and then
        _first_step(b, "convolve2d")
    else:  # two leaves meet in the first step (+ - * /)
        op, shape = b.pick(sorted(set(operations) & set(BINARY))), b.pick(SHAPES)
        x = b.leaf(shape)
        b.pool.append(b.step(op, [x, b.leaf(shape, away=0.3 if op == "div" else 0.0)]))
    attempts = 0
    while len(b.steps) < wanted and attempts < 2 * max_steps:  # a step that does not fit is drawn again
        attempts += 1
        try:
            name = _draw_step(b)
        except _Dropped:
            continue
        if name is not None:
            b.pool.append(name)
    assume(b.steps)
    out = b.pool[-1] if b.pool[-1] in {s.name for s in b.steps} else b.steps[-1].name
    if first is None and b.coin(1 / 6):  # now and then, one of the seeds' losses at the end
        try:
            out = _loss_step(b, out) or out
        except _Dropped:
            pass
    if output == "scalar" and b.values[out].ndim != 0:
        try:
            out = b.step("sum", [out])
        except _Dropped:
            assume(False)
    if output == "tensor" and b.values[out].ndim == 0:
        tensors = [s.name for s in b.steps if b.values[s.name].ndim > 0]
        assume(tensors)
        out = tensors[-1]
    if output == "tensor" and b.values[out].ndim == 2 and "transpose" in operations and b.coin():
        out = b.step("transpose", [out])  # a non-contiguous output, as strided engines make it
    return _prune(b, out, None if b.values[out].ndim == 0 else _array(b.rng, b.values[out].shape, 1.0, 0.1),
                  seeded)


def _prune(b: _Builder, out: str, weights, seeded: bool = False) -> Program:
    """The program of the steps out depends on, and their leaves."""
    needed, steps = {out}, []
    for step in reversed(b.steps):
        if step.name in needed:
            needed.update(step.args)
            steps.append(step)
    leaves = tuple(leaf for leaf in b.leaves if leaf.name in needed)
    assume(any(leaf.tracked for leaf in leaves))
    return Program(b.dtype, leaves, tuple(reversed(steps)), weights, seeded and weights is not None)


def _first_step(b: _Builder, op: str) -> None:
    """op applied to new leaves of a shape it takes; every other time (a loss aside) applied again
    to its own result, so that an operation that cuts its input's history fails, with nothing but
    the operation itself involved."""
    again = op not in LOSSES + ("relu",) and b.coin()  # (relu's zeros are where its derivative is a convention)
    if op == "convolve2d":
        x = b.leaf((b.between(1, 2), b.between(1, 2), b.between(5, 7), b.between(5, 7)))
        current = x
        for _ in range(2 if again else 1):
            w = b.leaf((b.between(1, 2), b.values[current].shape[1], 3, 3))
            current = b.step("convolve2d", [current, w, b.leaf((b.values[w].shape[0],))])
    elif op == "max_pool2d":
        current = b.leaf((b.between(1, 2), b.between(1, 2), b.between(4, 6), b.between(4, 6)))
        for _ in range(2 if again else 1):
            assume(_unique_window_max(b, b.values[current]))
            current = b.step("max_pool2d", [current])
    elif op in LOSSES:
        current = _loss_step(b, b.leaf(b.pick([(2, 3), (3, 2), (4, 3)])), op)
    elif op == "broadcast":
        current = b.leaf(b.pick([(2, 3), (3, 2), (4, 3)]))
        for _ in range(2 if again else 1):
            kind = b.pick(BINARY)
            row = b.leaf(b.values[current].shape[1:], away=0.3 if kind == "div" else 0.0)
            current = b.step(kind, [current, row])
    else:
        current = b.leaf(b.pick([(2, 3), (3, 2), (3, 3)] + ([] if op == "transpose" else [(3,), (4,)])))
        for _ in range(2 if again else 1):
            current = _draw_step(b, op, current)
            assume(current is not None)
    b.pool.append(current)


def _draw_step(b: _Builder, op: str | None = None, a: str | None = None) -> str | None:
    """One more step, of op or a drawn operation, on a (default: a node of the pool); None where it
    does not fit."""
    values = b.values
    tensors = b.tensors()
    if op is None:  # + - * / between tensors (where operands meet), with a float or unary, on tensors
        groups = [sorted(set(b.operations) & set(group)) for group in (BINARY, WITH_FLOAT + UNARY, ON_TENSORS)]
        groups = [group for group in groups[:2] + ([groups[2]] if tensors else []) if group]
        op = b.pick(b.pick(groups))
    if a is None:
        candidates = tensors if op in ON_TENSORS else b.pool
        a = candidates[-1] if b.coin(2 / 3) else b.pick(candidates)  # mostly, a chain
    av = values[a]
    if op in BINARY:
        return _binary_step(b, op, a)
    if op in WITH_FLOAT:
        if op == "rdiv" and not float(np.min(np.abs(av))) >= 0.3:
            a = b.leaf(av.shape, away=0.3)  # a denominator clear of zero
        return b.step(op, [a], float(_array(b.rng, (), 2.0, 0.25)))
    if op == "relu" and not b.clear_of_zero(av):
        return None  # at 0 relu's derivative is a convention
    if op in UNARY or op in ("sum", "mean"):
        return b.step(op, [a])
    if op == "matmul":
        return _matmul_step(b, a)
    if op == "transpose" and av.ndim == 2:
        return b.step("transpose", [a])
    if op == "reshape":
        return b.step("reshape", [a], b.pick(_reshapes(av.shape)))
    if op == "max_pool2d" and _unique_window_max(b, av):
        return b.step("max_pool2d", [a])
    return None


def _binary_step(b: _Builder, op: str, a: str) -> str:
    """a op b for a partner b of a's shape (or a row, where broadcasting is drawn from): a node
    of the pool (leaves and results meet again) or a new leaf; either operand first."""
    av = b.values[a]
    rows = "broadcast" in b.operations and av.ndim == 2
    partners = [p for p in b.pool if b.values[p].shape == av.shape or rows and b.values[p].shape == av.shape[1:]]
    if op == "div":
        partners = [p for p in partners if b.values[p].size and float(np.min(np.abs(b.values[p]))) >= 0.3]
    again = [p for p in partners if p in b.used or p == a]  # nodes used before: leaves and results meet again
    if again and b.coin(1 / 3):
        other = b.pick(again)
    elif partners and b.coin(1 / 3):
        other = b.pick(partners)
    else:
        other = b.leaf(av.shape[1:] if rows and b.coin() else av.shape, away=0.3 if op == "div" else 0.0)
    if b.values[other].shape == av.shape and op != "div" and b.coin():
        a, other = other, a
    return b.step(op, [a, other])


def _reshapes(shape):
    size = math.prod(shape)
    options = [(size,)] + [(n, size // n) for n in range(1, size + 1) if size % n == 0]
    return [s for s in options if s != tuple(shape)] or [(size,)]


def _unique_window_max(b: _Builder, x) -> bool:
    """Every 2 x 2 window's maximum stands out (max pooling's gradient is then unambiguous)."""
    if x.ndim != 4 or x.shape[2] < 2 or x.shape[3] < 2:
        return False
    windows = np.sort(references.numpy_max_pool2d_windows(x, 2), axis=-1)
    return bool(np.all(windows[..., -1] - windows[..., -2] > MARGIN * b.scale()))


def _matmul_step(b: _Builder, a: str):
    """a @ other or other @ a, other a vector or matrix that fits: of the pool or a new leaf."""
    av = b.values[a]
    if av.ndim not in (1, 2):
        return None
    if b.coin():  # a is the right operand
        inner = av.shape[0]
        partners = [p for p in b.pool if b.values[p].ndim in (1, 2) and b.values[p].shape[-1] == inner and p != a]
        other = b.pick(partners) if partners and b.coin() else b.leaf(b.pick([(inner,), (2, inner), (3, inner)]))
        return b.step("matmul", [other, a])
    inner = av.shape[-1]
    shape = b.pick([(inner,), (inner, 1), (inner, 2), (inner, 3)])
    partners = [p for p in b.pool if b.values[p].shape == shape and p != a]
    other = b.pick(partners) if partners and b.coin() else b.leaf(shape)
    return b.step("matmul", [a, other])


def _loss_step(b: _Builder, out: str, op: str | None = None):
    """One of the seeds' losses of out against a new target (None where none fits out's shape)."""
    v = b.values[out]
    options = [o for o in LOSSES if o in b.operations and (v.ndim == 2 or o == "mse" and v.ndim >= 1)]
    if op is None:
        if not options:
            return None
        op = b.pick(options)
    if op == "mse":
        return b.step("mse", [out, b.leaf(v.shape, tracked=False, pooled=False)])
    if op == "cross_entropy":
        return b.step("cross_entropy", [out, b.leaf((v.shape[0],), classes=v.shape[1])])
    return b.step("bce", [out, b.leaf(v.shape, magnitude=1.0, tracked=False, nonnegative=True, pooled=False)])
