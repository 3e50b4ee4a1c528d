"""The seeds' claims checked on generated programs, module trees and optimizer trajectories
(autograd_conformance/programs/, module_trees.py), not only on the seeds' scenarios: every operand
tracked or not, values of both signs, leaves shared and branches joined, several backward passes,
several applications.

Each law is tied to the claim it generalises. A value is compared with an oracle that is no engine
(numpy float64 with its own reverse mode, the numpy update rules), or, where the claim relates two
of the engine's answers (k passes and one, no_grad and tracked, detach and a constant), with the
engine's own other answer. Programs draw from the core vocabulary plus the one operation a claim is
about (the ops claims), or from every operation the engine has (tests marked ``programs``): the
operations a failing program called are then its prerequisites (prerequisites.py), so a program
that fails because of an operation whose own claim fails is blocked, the cause reported once.

Tolerances (oracle.tolerance): 256 units of the dtype's rounding per operation, relative to the
program's largest value, so that a float64 program computed in float32 anywhere fails; the
backend's own tolerance where it declares a looser one. A failure prints the program (the part of
it the output depends on) as code to paste (B the adapter) and the blob that draws it again; the
message says what was compared. The generated laws run three times the profile's examples."""

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from autograd_conformance import gradients, module_trees, references
from autograd_conformance.programs import operations, oracle, running, strategy
from autograd_conformance.programs.program import Program
from autograd_conformance.assertions import assert_close
from autograd_conformance.gradients import KeptGradients
from autograd_conformance.protocol import Capability

claim = pytest.mark.claim
generated = pytest.mark.programs  # draws from every operation the engine has (see the module docstring)
random_inputs = pytest.mark.inputs("random")
F64 = pytest.mark.needs(Capability.FLOAT64.value)

# The ops claims and the operation (programs' name) each is about, by the adapter operation the
# prerequisite check knows it by (@pytest.mark.checks).
OPERATION_CLAIMS = {
    "** 3": "ops.powers-match-numpy", "broadcast": "ops.broadcast-matches-numpy", "relu": "ops.relu-matches-numpy",
    "sum": "ops.sum-mean-match-numpy", "mean": "ops.sum-mean-match-numpy", "matmul": "ops.matmul-matches-numpy",
    "transpose": "ops.transpose-matches-numpy", "reshape": "ops.reshape-matches-numpy",
    "max_pool2d": "ops.max-pool2d-matches-numpy", "convolve2d": "ops.conv2d-matches-numpy",
    "mse_loss": "ops.losses-match-numpy", "cross_entropy": "ops.losses-match-numpy",
    "bce_with_logits": "ops.losses-match-numpy",
}
DTYPES = [pytest.param("float32"), pytest.param("float64", marks=F64)]
# Three times the profile's examples (the profile: --hypothesis-profile, loaded before this module is
# imported): an example costs a few milliseconds, and a fault that shows on one program shape in
# twenty needs that many to be found.
many = settings(max_examples=3 * settings.default.max_examples)


def _program(data, B, allowed=None, dtype=None, **kwargs) -> Program:
    """A program over the operations allowed (default: every one the engine has) in dtype
    (default: the engine's default float)."""
    allowed = operations.operations_of(B) if allowed is None else allowed
    return data.draw(strategy.programs(allowed, dtype or B.default_float, **kwargs), label="program")


def _fresh(B) -> None:
    """Forget the operations earlier examples called: a failing example's own are its prerequisites."""
    B.called.clear()


def _check_with_oracle(B, device, program: Program) -> None:
    """The program's loss and the gradient of every tracked leaf, through B.vjp, equal the oracle's,
    and hold at least the program's precision."""
    leaves, value, grads = running.gradients(B, device, program)
    out, _, want = oracle.evaluate(program, oracle.held_values(B, leaves))
    loss = out if program.weights is None else np.sum(out * oracle.rounded(program.weights, program.dtype))
    oracle.compare(B, program, value, loss, "the loss")
    oracle.assert_dtype(B, program, value, "the loss")
    for name, got in grads.items():
        oracle.compare(B, program, got, want[name], f"the gradient of {name}")
        oracle.assert_dtype(B, program, got, f"the gradient of {name}")


# ------------------------------------------------------------------ each operation, inside programs
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("operation", [
    pytest.param(operations.ABOUT[method], marks=[claim(cid), pytest.mark.checks(method)], id=method)
    for method, cid in OPERATION_CLAIMS.items()])
@random_inputs
@given(data=st.data())
def test_operation_on_generated_inputs(B, device, dtype, operation, data):
    """The operation on new leaves of random shapes and both signs, any subset of them tracked, its
    output weighted into one number by random weights: the value, the gradient of every tracked
    input and the dtype, as the oracle's. Nothing else runs (sum(out * weights) aside), so that
    these claims, the prerequisites of the rest, depend on nothing the rest checks."""
    _fresh(B)
    _check_with_oracle(B, device, _program(data, B, operations.CORE | {operation}, dtype, first=operation,
                                           max_steps=0))


# ------------------------------------------------------------------ gradients: the chain rule, float64
@generated
@pytest.mark.parametrize("dtype", [
    pytest.param("float32", marks=claim("backward.chain-rule-40")),
    pytest.param("float64", marks=claim("backward.matches-finite-differences"))])
@random_inputs
@many
@given(data=st.data())
def test_gradients_of_generated_programs(B, device, dtype, data):
    """The gradient of every tracked leaf of a program of every operation the engine has equals the
    oracle's: in float32 to float32's accuracy, in float64 to float64's (a float64 program computed
    in float32 anywhere fails), no result in less precision than asked for."""
    _fresh(B)
    _check_with_oracle(B, device, _program(data, B, dtype=dtype, max_steps=8))


# ------------------------------------------------------------------ vjp with a seed
@generated
@claim("backward.vjp-seed-vector")
@random_inputs
@many
@given(data=st.data())
def test_vjp_seed_on_generated_outputs(B, device, data):
    """vjp of a tensor output (a matrix, a transposed view, a reshaped one) with a cotangent s gives
    s^T J for every tracked leaf: the gradient the engine gives sum(output * s), a function of one
    number (so that what is compared is how the cotangent is taken, not the operations)."""
    _fresh(B)
    program = _program(data, B, output="tensor", seeded=True)
    leaves = running.make_leaves(B, device, program)
    tracked = [leaves[leaf.name] for leaf in program.tracked]
    cotangent = B.tensor(program.weights, device=device, dtype=program.dtype)
    _, grads = B.vjp(running.loss_fn(B, program, leaves), tracked, cotangent)
    _, want = B.vjp(running.loss_fn(B, program, leaves, cotangent), tracked)
    for leaf, got, expected in zip(program.tracked, grads, want):
        oracle.compare(B, program, got, oracle.held(B, expected),
                         f"the gradient of {leaf.name}: vjp with the cotangent vs of sum(output * cotangent)")


@generated
@claim("backward.vjp-linear-in-seed")
@random_inputs
@many
@given(data=st.data(), a=st.floats(-2, 2, allow_subnormal=False), b=st.floats(-2, 2, allow_subnormal=False))
def test_vjp_linear_in_seed_on_generated_outputs(B, device, data, a, b):
    """VJP(a u + b v) = a VJP(u) + b VJP(v) for random seeds u, v of a generated tensor output."""
    _fresh(B)
    program = _program(data, B, output="tensor", seeded=True)
    rng = np.random.default_rng(data.draw(st.integers(0, 2 ** 32 - 1), label="seeds' seed"))
    u, v = rng.uniform(-1, 1, program.weights.shape), rng.uniform(-1, 1, program.weights.shape)
    leaves = running.make_leaves(B, device, program)
    tracked = [leaves[leaf.name] for leaf in program.tracked]
    fn = running.loss_fn(B, program, leaves)

    def vjp(cotangent):
        return [oracle.held(B, g) for g in B.vjp(fn, tracked, B.tensor(cotangent, device=device, dtype=program.dtype))[1]]

    combined = vjp(a * u + b * v)
    for leaf, got, gu, gv in zip(program.tracked, combined, vjp(u), vjp(v)):
        oracle.compare(B, program, got, a * gu + b * gv, f"VJP({a} u + {b} v) vs {a} VJP(u) + {b} VJP(v) for "
                         f"{leaf.name}", scale=abs(a) + abs(b) + 1)


# ------------------------------------------------------------------ several backward passes, zeroing
@generated
@claim("accumulation.retain-twice-equals-double")
@random_inputs
@many
@given(data=st.data(), k=st.integers(2, 4))
def test_k_backward_passes_on_generated_programs(B, device, data, k):
    """k backward passes through one kept graph leave k times the first pass's gradient on every
    tracked leaf (leaves that meet in one operation included)."""
    _fresh(B)
    program = _program(data, B, output="scalar")
    leaves = running.make_leaves(B, device, program)
    tracked = [leaves[leaf.name] for leaf in program.tracked]
    kept = KeptGradients(B, tracked)
    loss = running.loss_fn(B, program, leaves)(*tracked)
    kept.backward(loss, retain_graph=True)
    once = [_held_grad(B, kept, t) for t in tracked]
    for i in range(1, k):
        kept.backward(loss, retain_graph=i < k - 1)
    for leaf, t, first in zip(program.tracked, tracked, once):
        oracle.compare(B, program, _held_grad(B, kept, t), k * first,
                         f"{leaf.name}'s gradient after {k} passes vs {k} x after one", scale=k)


@generated
@claim("accumulation.manual-zero-resets")
@random_inputs
@many
@given(data=st.data())
def test_zeroing_resets_on_generated_programs(B, device, data):
    """Two backward passes, zero_ on every tracked leaf's stored gradient, one more pass: the
    gradients are one pass's, exactly as the first."""
    _fresh(B)
    program = _program(data, B, output="scalar")
    leaves = running.make_leaves(B, device, program)
    tracked = [leaves[leaf.name] for leaf in program.tracked]
    fn = running.loss_fn(B, program, leaves)
    B.backward(fn(*tracked))
    first = [oracle.held(B, B.grad(t)) for t in tracked]
    B.backward(fn(*tracked))
    for t in tracked:
        B.zero_(B.grad(t))
    B.backward(fn(*tracked))
    for leaf, t, want in zip(program.tracked, tracked, first):
        oracle.compare(B, program, B.grad(t), want, f"{leaf.name}'s gradient after zero_ and one more pass "
                         "vs after the first pass")


def _held_grad(B, kept, t) -> np.ndarray:
    g = kept.grad(t)
    assert g is not None, "backward must give every tracked leaf of the program a gradient"
    return oracle.held(B, g)


# ------------------------------------------------------------------ no_grad and detach
@generated
@claim("tracking.no-grad-same-values")
@random_inputs
@many
@given(data=st.data())
def test_no_grad_values_on_generated_programs(B, device, data):
    """Every node of a program computed inside no_grad equals the same node computed tracked."""
    _fresh(B)
    program = _program(data, B)
    leaves = running.make_leaves(B, device, program)
    tracked = running.run(B, program, leaves)
    with B.no_grad():
        quiet = running.run(B, program, leaves)
    for step in program.steps:
        oracle.compare(B, program, quiet[step.name], oracle.held(B, tracked[step.name]),
                         f"{step.name} = {operations.OPS[step.op].code(step)} inside no_grad vs tracked")


@generated
@claim("tracking.no-grad-untracked")
@pytest.mark.optional("graph_nodes")
@random_inputs
@many
@given(data=st.data())
def test_no_grad_records_nothing_on_generated_programs(B, device, data):
    """Inside no_grad, no node of a program over tracked leaves is tracked (nor has a graph node,
    where the engine has them). Programs without transposes and reshapes: PyTorch marks a view
    of a tracked tensor made in no_grad as requiring grad (with no node, and no gradient reaching
    the tensor), which the seeds' claim, about computed results, does not speak of."""
    _fresh(B)
    program = _program(data, B, operations.operations_of(B) - {"transpose", "reshape"})
    leaves = running.make_leaves(B, device, program)
    with B.no_grad():
        quiet = running.run(B, program, leaves)
    for step in program.steps:
        what = f"{step.name} = {operations.OPS[step.op].code(step)} inside no_grad"
        assert not B.requires_grad(quiet[step.name]), f"{what} requires grad"
        if Capability.GRAPH_NODES in B.capabilities:
            assert B.grad_fn(quiet[step.name]) is None, f"{what} has a graph node"


@generated
@claim("tracking.detach-untracked-equal")
@random_inputs
@many
@given(data=st.data())
def test_detach_cuts_exactly_its_paths(B, device, data):
    """Detaching some nodes of a program gives every tracked leaf the gradient of the same program
    with those nodes replaced by untracked tensors of their values: the paths through them, and
    only those, carry nothing; the detached values are the nodes' values. (The loss adds
    sum(x * 0.0) of a tracked leaf x, so that it stays tracked whatever is cut.)"""
    _fresh(B)
    program = _program(data, B, output="scalar")
    cut = set(data.draw(st.lists(st.sampled_from([s.name for s in program.steps]), min_size=1, unique=True),
                        label="detached"))
    leaves = running.make_leaves(B, device, program)
    tracked = [leaves[leaf.name] for leaf in program.tracked]

    def anchored(fn):
        return lambda *ts: fn(*ts) + B.sum(ts[0] * 0.0)

    _, grads = B.vjp(anchored(running.loss_fn(B, program, leaves, detach=cut)), tracked)
    env = running.run(B, program, leaves, detach=cut)
    plain = running.run(B, program, leaves)
    constants = {}
    for name in sorted(cut):
        oracle.compare(B, program, env[name], oracle.held(B, plain[name]), f"detach({name})'s values")
        constants[name] = B.tensor(oracle.held(B, plain[name]), device=device, dtype=program.dtype)
    _, want = B.vjp(anchored(running.loss_fn(B, program, leaves, given=constants)), tracked)
    for leaf, got, expected in zip(program.tracked, grads, want):
        oracle.compare(B, program, got, oracle.held(B, expected),
                         f"the gradient of {leaf.name} with {sorted(cut)} detached vs with them constants")


# ------------------------------------------------------------------ custom functions, applied several times
@claim("custom.residuals-reach-backward")
@random_inputs
@many
@given(data=st.data())
def test_custom_function_applied_several_times(B, device, data):
    """Custom Functions (forward saves its inputs, backward uses them) in place of every * and ** 2
    of a program: a product of two tensors, a square of one (also for t * t), so that they are
    applied several times in one graph, each application saving other tensors: the gradients are
    the oracle's."""
    _fresh(B)
    program = _program(data, B, frozenset({"add", "sub", "mul", "square", "neg"}), first="mul", output="scalar")
    assume(sum(step.op in ("mul", "square") for step in program.steps) >= 2)
    product = B.custom_function(lambda a, b: (a * b, (a, b)), lambda saved, g: (g * saved[1], g * saved[0]))
    square = B.custom_function(lambda a: (a * a, (a,)), lambda saved, g: (g * saved[0] * 2.0,))
    custom = {"mul": lambda B, a, b, c: square(a) if a is b else product(a, b), "square": lambda B, a, c: square(a)}
    leaves = running.make_leaves(B, device, program)
    tracked = [leaves[leaf.name] for leaf in program.tracked]
    value, grads = B.vjp(running.loss_fn(B, program, leaves, ops=custom), tracked)
    out, _, want = oracle.evaluate(program, oracle.held_values(B, leaves))
    oracle.compare(B, program, value, out, "the loss through the custom product")
    for leaf, got in zip(program.tracked, grads):
        oracle.compare(B, program, got, want[leaf.name], f"the gradient of {leaf.name} through the custom product")


# ------------------------------------------------------------------ module trees
@claim("modules.parameter-registered")
@pytest.mark.optional("requires_grad")
@random_inputs
@many
@given(tree=module_trees.trees())
def test_generated_module_trees_list_each_parameter_once(B, device, tree):
    """named_parameters of the root lists every parameter of the tree once, under the first dotted
    name it is reached by (a module registered under two names counts once), depth first in
    assignment order, as the module's own tensors, each requiring grad (where the engine has the
    flag). (Plain tensors listed too are left to modules.plain-tensor-not-registered.)"""
    root = module_trees.build(B, device, tree)[-1]
    plain = tree.plain_tensor_paths()
    named = [(name, p) for name, p in B.named_parameters(root) if name not in plain]
    expected = tree.expected_parameters()
    assert [name for name, _ in named] == [name for name, _ in expected], (
        f"expected parameters {[n for n, _ in expected]}, got {[n for n, _ in named]}")
    for (name, p), (_, where) in zip(named, expected):
        assert p is module_trees.resolve(root, name), f"{name}: named_parameters must give the module's own tensor"
        if Capability.REQUIRES_GRAD in B.capabilities:
            assert B.requires_grad(p), f"{name}: a registered parameter must require grad"
        np.testing.assert_array_equal(np.asarray(B.to_numpy(p), dtype=np.float64),
                                      np.asarray(tree.values[where], dtype=np.float32),
                                      err_msg=f"{name}: not the tensor assigned there")


def _tree_loss(B, device, root, seed):
    """(loss, x, w): loss() = sum(root(x) * w) for random x and w, which are returned as the engine
    holds them."""
    rng = np.random.default_rng(seed)
    x = B.tensor(rng.uniform(-1, 1, module_trees.N), device=device)
    w = B.tensor(rng.uniform(0.1, 1, module_trees.N), device=device)
    return (lambda: B.sum(root(x) * w)), oracle.held(B, x), oracle.held(B, w)


@claim("accumulation.zero-grad-each-step-fresh")
@random_inputs
@many
@given(tree=module_trees.trees(), seed=st.integers(0, 2 ** 32 - 1))
def test_zero_grad_reaches_every_level_of_generated_trees(B, device, tree, seed):
    """After two backward passes, optimizer.zero_grad() and one more, every parameter at every level
    of the tree holds one pass's gradient."""
    root = module_trees.build(B, device, tree)[-1]
    loss, _, _ = _tree_loss(B, device, root, seed)
    params = [(name, module_trees.resolve(root, name)) for name, _ in tree.expected_parameters()]
    kept = KeptGradients(B, [p for _, p in params], B.sgd(root, lr=0.1))
    kept.backward(loss())
    first = {name: _held_grad(B, kept, p) for name, p in params}
    kept.backward(loss())
    kept.zero()
    kept.backward(loss())
    for name, p in params:
        assert_close(B, _held_grad(B, kept, p), first[name],
                     what=f"{name}'s gradient after zero_grad and one more pass vs after the first pass")


@claim("optim.sgd-update-rule")
@pytest.mark.needs(Capability.MODULES.value)
@random_inputs
@many
@given(tree=module_trees.trees(), seed=st.integers(0, 2 ** 32 - 1), lr=st.sampled_from([0.1, 0.5]))
def test_sgd_steps_each_parameter_of_generated_trees_once(B, device, tree, seed, lr):
    """One SGD step over the tree's parameters moves each once, by lr times its gradient (the sum
    over a module's uses, from float64 differences of the tree's own forward in numpy), however
    many names it is registered under."""
    root = module_trees.build(B, device, tree)[-1]
    loss, x, w = _tree_loss(B, device, root, seed)
    expected = tree.expected_parameters()
    before = {name: oracle.held(B, module_trees.resolve(root, name)) for name, _ in expected}
    held = {key: oracle.rounded(v, B.default_float) for key, v in tree.values.items()}
    held.update({where: before[name] for name, where in expected})
    grads = tree.numpy_gradients(x, w, held)
    gradients.module_step(B, B.sgd(root, lr=lr), root, loss)
    for name, where in expected:
        assert_close(B, module_trees.resolve(root, name), before[name] - lr * grads[where],
                     what=f"{name} after one SGD step (lr {lr})")


# ------------------------------------------------------------------ optimizer trajectories
@st.composite
def _trajectories(draw):
    """2 to 4 parameters of random shapes and signs, and 2 to 5 steps, each with a loss over a
    random non-empty subset of them: sum(p * d) with |d| in [0.5, 2], so that a parameter outside
    the subset gets no gradient that step (values from a generator Hypothesis seeds)."""
    rng = np.random.default_rng(draw(st.integers(0, 2 ** 32 - 1), label="values seed"))
    shapes = [[(3,), (2, 2), (4,)][rng.integers(3)] for _ in range(draw(st.integers(2, 4), label="parameters"))]
    values = [rng.uniform(-2, 2, size=shape) for shape in shapes]
    steps = []
    for _ in range(draw(st.integers(2, 5), label="steps")):
        used = sorted(draw(st.sets(st.integers(0, len(shapes) - 1), min_size=1), label="with gradients"))
        steps.append({i: rng.uniform(0.5, 2, size=shapes[i]) * rng.choice([-1.0, 1.0], size=shapes[i])
                      for i in used})
    return values, steps


def _trajectory(B, device, opt_of, reference, values, steps, what):
    params = [B.tensor(v, device=device, requires_grad=True) for v in values]
    opt = opt_of(params)
    expected = [oracle.held(B, p) for p in params]
    for t, slopes in enumerate(steps, 1):
        d = {i: B.tensor(s, device=device) for i, s in slopes.items()}

        def loss(*ps):
            terms = [B.sum(ps[i] * d[i]) for i in sorted(d)]
            total = terms[0]
            for term in terms[1:]:
                total = total + term
            return total
        used, params = gradients.step_with_gradients(B, opt, params, loss, every=False)
        expected = reference.step(expected, used)
        for i, (p, want) in enumerate(zip(params, expected)):
            assert_close(B, p, want, what=f"parameter {i} after {t} {what} steps (steps' subsets "
                         f"{[sorted(s) for s in steps[:t]]})", scale=t)


@claim("optim.sgd-momentum-rule")
@random_inputs
@many
@given(trajectory=_trajectories(), lr=st.sampled_from([0.01, 0.1, 0.5]), momentum=st.sampled_from([0.5, 0.9]))
def test_sgd_momentum_trajectories(B, device, trajectory, lr, momentum):
    """SGD with momentum over several steps in which parameters sometimes get no gradient, against
    the numpy rule given the gradients the engine held (None: no update, buffer kept)."""
    _trajectory(B, device, lambda ps: B.sgd(ps, lr=lr, momentum=momentum), references.NumpySGD(lr, momentum),
                *trajectory, f"SGD (lr {lr}, momentum {momentum})")


@claim("optim.adam-update-rule")
@random_inputs
@many
@given(trajectory=_trajectories(), lr=st.sampled_from([0.01, 0.1]))
def test_adam_trajectories(B, device, trajectory, lr):
    """Adam over several steps in which parameters sometimes get no gradient, against the numpy rule
    given the gradients the engine held (None: no update, moments and step count kept)."""
    _trajectory(B, device, lambda ps: B.adam(ps, lr=lr), references.NumpyAdam(lr), *trajectory, f"Adam (lr {lr})")
