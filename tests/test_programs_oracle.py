"""The generated programs' oracle (autograd_conformance/programs/) is itself checked: its gradients
against float64 central finite differences of its own forward pass, on programs over every
operation; its printed form runs as the Python it claims to be; the strategy draws every operation
and both signs."""

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from autograd_conformance.programs import operations, oracle, strategy
from autograd_conformance.contracts import ContractView
from autograd_conformance.backends.torch_backend import TorchBackend

EVERY_OPERATION = frozenset(operations.OPS) | {"broadcast"}
SETTINGS = dict(deadline=None, database=None, suppress_health_check=list(HealthCheck))


def _loss(program, values):
    out, _, _ = oracle.evaluate(program, values)
    return float(np.sum(out * program.weights)) if program.weights is not None else float(out)


@settings(max_examples=150, **SETTINGS)
@given(program=strategy.programs(EVERY_OPERATION, dtype="float64", max_steps=7))
def test_oracle_gradients_match_finite_differences(program):
    values = {leaf.name: leaf.value for leaf in program.leaves}
    _, _, grads = oracle.evaluate(program, values)
    eps = 1e-6
    for leaf in program.tracked:
        numeric = np.zeros(leaf.value.size)
        for i in range(leaf.value.size):
            step = np.zeros(leaf.value.size)
            step[i] = eps
            plus = {**values, leaf.name: leaf.value + step.reshape(leaf.value.shape)}
            minus = {**values, leaf.name: leaf.value - step.reshape(leaf.value.shape)}
            numeric[i] = (_loss(program, plus) - _loss(program, minus)) / (2 * eps)
        scale = max(1.0, float(np.max(np.abs(numeric))))
        assert np.allclose(grads[leaf.name].reshape(-1), numeric, rtol=1e-4, atol=1e-4 * scale), \
            f"{leaf.name}: oracle {grads[leaf.name].reshape(-1)} vs differences {numeric}\n{program.code()}"


@settings(max_examples=40, **SETTINGS)
@given(program=strategy.programs(EVERY_OPERATION, dtype="float64"))
def test_a_program_prints_as_the_code_it_runs(program):
    """exec of the printed program (B the reference adapter) gives the oracle's loss and gradients."""
    scope = {"B": ContractView(TorchBackend()), "device": "cpu", "np": np}
    exec(program.code(), scope)
    out, _, grads = oracle.evaluate(program)
    want = float(np.sum(out * program.weights)) if program.weights is not None else float(out)
    assert np.allclose(float(np.asarray(scope["B"].to_numpy(scope["value"])).reshape(())), want, rtol=1e-9)
    for leaf, got in zip(program.tracked, scope["grads"]):
        assert np.allclose(scope["B"].to_numpy(got), grads[leaf.name], rtol=1e-8, atol=1e-10)


def test_the_strategy_covers_the_program_space():
    """Over a few hundred programs, every operation appears, on inputs of both signs, with leaves or
    results used more than once (branches join) and several leaves tracked."""
    seen = {"operations": set(), "signs": {}, "programs": 0, "shared": 0, "several tracked": 0}

    @settings(max_examples=300, derandomize=True, **SETTINGS)
    @given(data=st.data())
    def draw(data):
        first = data.draw(st.none() | st.sampled_from(sorted(operations.ABOUT.values())))
        program = data.draw(strategy.programs(EVERY_OPERATION, dtype="float64", first=first,
                                              max_steps=0 if first else 6))
        seen["operations"].update(step.op for step in program.steps)
        seen["operations"].update(op for step in program.steps for op in step.operations)
        _, values, _ = oracle.evaluate(program)
        for step in program.steps:
            operand = values[step.args[0]]
            seen["signs"].setdefault(step.op, set()).update(np.sign(operand[operand != 0]).astype(int).tolist())
        uses = [a for step in program.steps for a in step.args]
        if first is None:
            seen["programs"] += 1
            seen["shared"] += any(uses.count(name) > 1 for name in set(uses))  # a leaf or a result, twice
            seen["several tracked"] += len(program.tracked) > 1

    draw()
    missing = (EVERY_OPERATION | set(operations.PSEUDO_OPERATIONS)) - seen["operations"] - {"** 3"}
    assert not missing, f"operations never drawn: {missing}"
    subjects = set(operations.ABOUT.values()) | set(operations.BINARY)  # what claims are about, and + - * /
    one_signed = {op for op, signs in seen["signs"].items() if signs != {-1, 1} and op in subjects}
    assert not one_signed, f"operations only ever drawn on inputs of one sign: {one_signed}"
    assert seen["shared"] > seen["programs"] / 3 and seen["several tracked"] > seen["programs"] * 0.4, \
        {k: v for k, v in seen.items() if k not in ("operations", "signs")}
