"""The oracle, no engine: a program interpreted in numpy float64 with its own reverse mode; and how
an engine's results are held to it (tolerances by the program's size and dtype)."""

from __future__ import annotations

import numpy as np

from autograd_conformance.programs.operations import OPS
from autograd_conformance.programs.program import Program

EPS = {"float32": float(np.finfo(np.float32).eps), "float64": float(np.finfo(np.float64).eps)}


def held(B, t) -> np.ndarray:
    """A tensor's values as the engine holds them, in float64."""
    return np.asarray(B.to_numpy(t), dtype=np.float64)


def held_values(B, leaves: dict[str, object]) -> dict[str, np.ndarray]:
    """The leaves' values as the engine holds them (rounded to its dtype), in float64."""
    return {name: held(B, t) for name, t in leaves.items()}


def rounded(values, dtype: str) -> np.ndarray:
    """values rounded to dtype, as an engine holds them, in float64."""
    return np.asarray(values, dtype=np.dtype(dtype)).astype(np.float64)


def evaluate(program: Program, values: dict[str, np.ndarray] | None = None, cut=frozenset(),
           weights: np.ndarray | None = None):
    """(the output's value, every node's value, the gradient of the loss with respect to every
    tracked leaf) in numpy float64, by its own reverse mode. values: the leaves' values (default:
    as drawn). cut: nodes no gradient flows back through (detached). weights: the output's seed
    (default the program's, rounded to its dtype as the engine holds them; a one-number output's is 1)."""
    env: dict[str, np.ndarray] = {}
    for leaf in program.leaves:
        held = leaf.value if values is None else values[leaf.name]
        env[leaf.name] = np.asarray(held, dtype=np.float64)
    for step in program.steps:
        env[step.name] = np.asarray(OPS[step.op].value(*(env[a] for a in step.args), step.const), dtype=np.float64)
    out = env[program.output]
    seed = (None if program.weights is None else rounded(program.weights, program.dtype)) if weights is None else weights
    grads = {program.output: np.ones_like(out) if seed is None else np.asarray(seed, dtype=np.float64)}
    for step in reversed(program.steps):
        g = grads.pop(step.name, None)
        if g is None or step.name in cut:
            continue
        for name, ga in zip(step.args, OPS[step.op].vjp(g, env[step.name], *(env[a] for a in step.args),
                                                         step.const)):
            if ga is not None:
                grads[name] = grads[name] + ga if name in grads else np.asarray(ga, dtype=np.float64)
    return out, env, {leaf.name: grads.get(leaf.name, np.zeros_like(env[leaf.name])) for leaf in program.tracked}



def tolerance(B, program: Program, dtype: str | None = None) -> float:
    """The relative tolerance a program's results are held to: a few units of the dtype's rounding
    per operation (factor 256, for long reductions and cancellations), so that a float64 program
    computed in float32 anywhere fails whatever its size; or the backend's own tolerance for the
    dtype where it declares a looser one."""
    dtype = dtype or program.dtype
    declared = getattr(B, "tolerances", None) or {}
    own = declared[dtype].rtol if dtype in declared else 0.0
    return max(256 * program.size() * EPS[dtype], own)


def compare(B, program: Program, got, want, what: str, *, scale: float = 1.0, dtype: str | None = None) -> None:
    """got (an engine tensor or numpy data) equals want (float64) within tolerance(program) times
    the largest magnitude of want (and at least 1) times scale, compared by value; the message
    carries the program."""
    dtype = dtype or program.dtype
    array = np.asarray(got if isinstance(got, np.ndarray) else B.to_numpy(got), dtype=np.float64)
    want = np.asarray(want, dtype=np.float64)
    if array.size == want.size:
        array = array.reshape(want.shape)
    assert array.shape == want.shape, f"{what}: expected shape {want.shape}, got {array.shape}"
    bound = tolerance(B, program, dtype) * max(1.0, float(np.max(np.abs(want), initial=0.0))) * scale
    worst = float(np.max(np.abs(array - want), initial=0.0))
    assert worst <= bound and not np.any(np.isnan(array)), (
        f"{what}: differs by {worst:.3g}, more than {bound:.2g} ({program.size()} operations in {dtype})\n"
        f"  expected: {np.array2string(want, precision=8, threshold=50)}\n"
        f"  got:      {np.array2string(array, precision=8, threshold=50)}")


def assert_dtype(B, program: Program, t, what: str) -> None:
    """t holds at least the program's precision: a float64 program's result returned in float32
    fails; a float32 program's result promoted to float64 (as an engine that takes a Python float
    for a float64 array does) is no loss, and no claim of the seeds' is about promotion."""
    got = np.asarray(B.to_numpy(t)).dtype
    assert got.kind == "f" and got.itemsize >= np.dtype(program.dtype).itemsize, \
        f"{what}: a {program.dtype} program's result reads as {got.name}"
