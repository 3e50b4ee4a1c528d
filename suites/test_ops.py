"""The operations the seeds' models use, against numpy: values and vector-Jacobian products, in
float32 and float64, at the seeds' own shapes and values ("seed") and on random ones ("random").

Every expected value is computed in float64 numpy from the values the engine holds (its inputs
after rounding to the dtype), with random output weights, so that a wrong gradient anywhere in an
operation shows: the seeds' inputs (ones, 2x2 matrices of ones) hide transposed or summed ones.
The vector-Jacobian product with weights s is taken in the core vocabulary, as the gradient of
sum(op(x) * s), so no test here needs a seed tensor for a non-scalar output. These claims are the
prerequisites of the rest of the suite (claims.PREREQUISITES): a test elsewhere that merely uses
one of these operations is blocked, not failed, where its claim here fails.
models.SEED_COMPUTATIONS lists what is checked here; tests/test_seed_rules.py keeps the two in step."""

import numpy as np
import pytest

from autograd_conformance import gradients, references
from autograd_conformance.assertions import assert_close
from autograd_conformance.models import conv_values
from autograd_conformance.protocol import Capability

claim = pytest.mark.claim
inputs = pytest.mark.inputs
checks = pytest.mark.checks  # the operation a test checks, for the tests that use it (prerequisites.py)
# the adapter operation each op parameter checks
OPERATION = {"pow3": "** 3", "sum": "sum", "mean": "mean", "relu": "relu", "transpose": "transpose", "reshape": "reshape",
             "where": "where", "mse": "mse_loss", "mse-sum": "mse_loss", "cross_entropy": "cross_entropy",
             "bce_with_logits": "bce_with_logits"}
DTYPES = [pytest.param("float32"), pytest.param("float64", marks=pytest.mark.needs(Capability.FLOAT64.value))]
CASES = [pytest.param("seed", marks=inputs("seed")), pytest.param("random", marks=inputs("random"))]


def _check(B, device, rng, dtype, fn, reference, arrays, what, relative_to="max"):
    """fn's value and gradients at arrays (cast to dtype by the engine) against reference(*float64
    inputs, output weights), which returns (value, gradients): the gradients of sum(fn(x) * s) for
    random weights s, or of fn(x) itself where it is one number."""
    xs = [B.tensor(a, device=device, dtype=dtype) for a in arrays]
    held = [np.asarray(B.to_numpy(x), dtype=np.float64) for x in xs]
    value, _ = reference(*held, None)
    scalar = np.ndim(value) == 0
    s = None if scalar else B.tensor(rng.standard_normal(np.shape(value)), device=device, dtype=dtype)
    weights = 1.0 if scalar else np.asarray(B.to_numpy(s), dtype=np.float64)  # as the engine holds them
    want_value, want_grads = reference(*held, weights)
    assert_close(B, fn(*xs), want_value, what=f"{what}: value", dtype=dtype, relative_to=relative_to)
    if scalar:
        out, grads = B.vjp(fn, xs)
        assert_close(B, out, want_value, what=f"{what}: value through vjp", dtype=dtype, relative_to=relative_to)
    else:
        _, grads = B.vjp(lambda *xs: B.sum(fn(*xs) * s), xs)
    assert len(grads) == len(want_grads)
    for k, (got, want) in enumerate(zip(grads, want_grads)):
        assert_close(B, got, want, what=f"{what}: gradient of input {k}", dtype=dtype, relative_to=relative_to)


# ------------------------------------------------------------------------------ matmul

def _matmul_reference(a, b, g):
    return a @ b, (() if g is None else references.numpy_matmul_vjp(a, b, g))


MATMUL_SHAPES = {  # seed: 002 In [1] ones(5) @ (5, 3); 004 § 1 x (64, 1000) @ w1 narrowed; 003 x @ W
    "vector @ matrix": {"seed": ((5,), (5, 3)), "random": ((7,), (7, 4))},
    "matrix @ vector": {"seed": ((3, 5), (5,)), "random": ((4, 7), (7,))},
    "matrix @ matrix": {"seed": ((5, 7), (7, 12)), "random": ((6, 9), (9, 2))},
    "vector @ vector": {"seed": ((5,), (5,)), "random": ((8,), (8,))},
}


@claim("ops.matmul-matches-numpy")
@checks("matmul")
@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("op", list(MATMUL_SHAPES))
def test_matmul(B, device, rng, op, dtype, case):
    a_shape, b_shape = MATMUL_SHAPES[op][case]
    a = np.ones(a_shape) if case == "seed" and op == "vector @ matrix" else rng.standard_normal(a_shape)
    _check(B, device, rng, dtype, B.matmul, _matmul_reference, [a, rng.standard_normal(b_shape)], op)


# ------------------------------------------------------------------------------ conv2d and max_pool2d

CONV_SHAPES = {"seed": ((1, 1, 32, 32), (6, 1, 3, 3)),  # 001 In [48] conv1 on a 32x32 input
               "random": ((2, 3, 7, 6), (4, 3, 3, 3))}


def _conv_reference(x, w, b, g):
    value = references.numpy_conv2d(x, w, b)
    return value, (() if g is None else references.numpy_conv2d_vjp(x, w, g))


@claim("ops.conv2d-matches-numpy")
@checks("convolve2d")
@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("op", ["conv2d"])
def test_convolve2d(B, device, rng, op, dtype, case):
    x_shape, w_shape = CONV_SHAPES[case]
    arrays = [rng.standard_normal(x_shape), rng.standard_normal(w_shape), rng.standard_normal(w_shape[0])]
    _check(B, device, rng, dtype, B.convolve2d, _conv_reference, arrays, "convolve2d(x, w, b)")


@claim("ops.conv2d-matches-numpy")
@checks("conv2d", "conv2d_parameters")
@pytest.mark.needs(Capability.MODULES.value)
@pytest.mark.parametrize("case", CASES)
def test_conv2d_layer(B, device, rng, case):
    """The layer: its output from its own weights, the input's gradient, and its weight's and
    bias's gradients wherever the engine keeps them."""
    (n, c_in, h, w), (c_out, _, k, _) = CONV_SHAPES[case]
    layer = B.conv2d(c_in, c_out, k, device=device)
    x = B.tensor(rng.standard_normal((n, c_in, h, w)), device=device)
    x64 = np.asarray(B.to_numpy(x), dtype=np.float64)
    weight, bias = conv_values(B, layer)
    assert weight.shape == (c_out, c_in, k, k) and bias.shape == (c_out,), \
        f"conv2d({c_in}, {c_out}, {k}) weight and bias shapes, got {weight.shape} and {bias.shape}"
    g = B.tensor(rng.standard_normal((n, c_out, h - k + 1, w - k + 1)), device=device)
    g64 = np.asarray(B.to_numpy(g), dtype=np.float64)
    _, (dx,) = B.vjp(lambda x: B.sum(layer(x) * g), [x])
    want_dx, want_dw, want_db = references.numpy_conv2d_vjp(x64, weight, g64)
    assert_close(B, layer(x), references.numpy_conv2d(x64, weight, bias), what="conv layer output", relative_to="max")
    assert_close(B, dx, want_dx, what="conv layer: gradient of its input", relative_to="max")
    grads = gradients.module_grads(B, layer, lambda: B.sum(layer(x) * g))
    w_param, b_param = B.conv2d_parameters(layer)  # read after: an engine may have put in new arrays
    by_object = {id(p): grads[name] for name, p in B.named_parameters(layer)}
    assert by_object.get(id(w_param)) is not None and by_object.get(id(b_param)) is not None, \
        "the conv layer's weight and bias must be its registered parameters and get gradients"
    assert_close(B, by_object[id(w_param)], want_dw, what="conv weight's gradient", relative_to="max")
    assert_close(B, by_object[id(b_param)], want_db, what="conv bias's gradient", relative_to="max")


POOL_SHAPES = {"seed": (1, 6, 30, 30), "random": (2, 3, 7, 5)}  # 001: 6@30x30 -> 6@15x15; odd sizes floor


def _pool_reference(x, g):
    value = references.numpy_max_pool2d(x, 2)
    return value, (() if g is None else (references.numpy_max_pool2d_vjp(x, 2, g),))


@claim("ops.max-pool2d-matches-numpy")
@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("op", ["max_pool2d"])
def test_max_pool2d(B, device, rng, op, dtype, case):
    x = rng.permutation(np.prod(POOL_SHAPES[case])).reshape(POOL_SHAPES[case]) / 7.0  # distinct values: one max
    _check(B, device, rng, dtype, lambda t: B.max_pool2d(t, 2), _pool_reference, [x], "max_pool2d(x, 2)",
           relative_to="element")


@claim("ops.max-pool2d-window-pair")
@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("dtype", DTYPES)
def test_max_pool2d_window_pair(B, device, rng, dtype, case):
    """001 In [48]: conv1's pool is given (2, 2), conv2's 2 ("if the size is a square you can
    only specify a single number"); at conv1's output (1, 6, 30, 30), or a random odd-sized one."""
    shape = POOL_SHAPES["seed"] if case == "seed" else (1, 2, 2 * int(rng.integers(1, 5)) + 1, int(rng.integers(2, 10)))
    x = rng.permutation(np.prod(shape)).reshape(shape) / 7.0 * rng.choice([-1.0, 1.0], shape)
    _check(B, device, rng, dtype, lambda t: B.max_pool2d(t, (2, 2)), _pool_reference, [x],
           "max_pool2d(x, (2, 2))", relative_to="element")
    t = B.tensor(x, device=device, dtype=dtype)
    s = B.tensor(rng.standard_normal(_pool_reference(x, None)[0].shape), device=device, dtype=dtype)
    (number, (g_number,)), (pair, (g_pair,)) = (
        B.vjp(lambda t: B.sum(B.max_pool2d(t, k) * s), [t]) for k in (2, (2, 2)))
    np.testing.assert_array_equal(B.to_numpy(B.max_pool2d(t, (2, 2))), B.to_numpy(B.max_pool2d(t, 2)),
                                  err_msg="max_pool2d(x, (2, 2)) vs max_pool2d(x, 2): values")
    np.testing.assert_array_equal(B.to_numpy(g_pair), B.to_numpy(g_number),
                                  err_msg="max_pool2d(x, (2, 2)) vs max_pool2d(x, 2): gradients")


# ------------------------------------------------------------------------------ item

@claim("ops.item-python-number")
@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("dtype", DTYPES)
def test_item(B, device, rng, dtype, case):
    """003 prints loss.item() each epoch: 173.02435302734375 first, 0.1273796111345291 last; at
    random values of both signs and many magnitudes; of tensors made, and of a computed loss."""
    values = [173.02435302734375, 0.1273796111345291] if case == "seed" else \
        list(rng.standard_normal(4) * 10.0 ** rng.integers(-8, 9, 4))
    for v in values:
        for shape in ((), (1,), (1, 1)):
            t = B.tensor(np.full(shape, v), device=device, dtype=dtype)
            _check_item(B, t, f"item() of a {dtype} tensor of shape {shape} holding {v!r}")
    x = B.tensor(rng.standard_normal(7), device=device, dtype=dtype, requires_grad=True)
    _check_item(B, B.sum(x * x), "item() of a loss sum(x * x) of a tracked x")


def _check_item(B, t, what):
    held = float(np.asarray(B.to_numpy(t), dtype=np.float64).reshape(-1)[0])  # the value the engine holds
    got = B.item(t)
    assert isinstance(got, (int, float)) and not isinstance(got, bool), \
        f"{what}: expected a Python number, got {type(got).__name__}"
    assert got == held, f"{what}: expected {held!r}, the tensor's value, got {got!r}"


# ------------------------------------------------------------------------------ elementwise, reductions

ELEMENTWISE = {  # op: (engine function, numpy value, numpy vjp given (x, g))
    "pow2": (lambda B: lambda t: t ** 2, lambda x: x ** 2, lambda x, g: g * 2 * x),
    "pow3": (lambda B: lambda t: t ** 3, lambda x: x ** 3, lambda x, g: g * 3 * x ** 2),
    "relu": (lambda B: B.relu, lambda x: np.maximum(x, 0), lambda x, g: g * (x > 0)),
    "sum": (lambda B: B.sum, np.sum, lambda x, g: np.full_like(x, g)),
    "mean": (lambda B: B.mean, np.mean, lambda x, g: np.full_like(x, g / x.size)),
    "transpose": (lambda B: B.transpose, lambda x: x.T, lambda x, g: g.T),
}


def _elementwise(B, device, rng, op, dtype, case):
    """At the seeds' y = x + 2 for x = ones(2, 2) (001 In [14]; for relu with signs flipped, so
    that both sides of 0 are seen), or at a random (5, 3) matrix."""
    make, value, vjp = ELEMENTWISE[op]
    if case == "seed":
        x = np.ones((2, 2)) + 2
        x = x * np.array([[1, -1], [-1, 1]]) if op == "relu" else x
    else:
        x = rng.standard_normal((5, 3))
        x = np.where(np.abs(x) < 1e-3, 0.5, x)  # no input at exactly 0, where relu's derivative is a convention
    _check(B, device, rng, dtype, make(B), lambda x, g: (value(x), () if g is None else (vjp(x, g),)),
           [x], op, relative_to="element")


def _params(*ops):
    ops = [pytest.param(op, marks=checks(OPERATION[op])) if op in OPERATION else op for op in ops]
    return [pytest.mark.parametrize("case", CASES), pytest.mark.parametrize("dtype", DTYPES),
            pytest.mark.parametrize("op", ops)]


def _apply(marks):
    def decorate(f):
        for m in reversed(marks):
            f = m(f)
        return f
    return decorate


@claim("ops.powers-match-numpy")
@_apply(_params("pow2", "pow3"))
def test_powers(B, device, rng, op, dtype, case):
    _elementwise(B, device, rng, op, dtype, case)


BROADCAST = {  # a (m, n) op b (n,): value, and (da, db) for the output cotangent g
    "matrix + row": (lambda a, b: a + b, lambda a, b, g: (g, g.sum(axis=0))),
    "matrix - row": (lambda a, b: a - b, lambda a, b, g: (g, -g.sum(axis=0))),
    "matrix * row": (lambda a, b: a * b, lambda a, b, g: (g * b, (g * a).sum(axis=0))),
    "matrix / row": (lambda a, b: a / b, lambda a, b, g: (g / b, (-g * a / b ** 2).sum(axis=0))),
}


@claim("ops.broadcast-matches-numpy")
@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("op", list(BROADCAST))
def test_broadcast_row(B, device, rng, op, dtype, case):
    """003 § custom layer's x @ W + b at its shapes, (5, 12) and a bias (12,), or at (4, 3) and (3,):
    the row combined with every row of the matrix."""
    value, vjp = BROADCAST[op]
    shape = (5, 12) if case == "seed" else (4, 3)
    row = rng.standard_normal(shape[1])
    row = np.where(np.abs(row) < 0.3, 0.5, row)  # a divisor clear of zero
    _check(B, device, rng, dtype, value, lambda a, b, g: (value(a, b), () if g is None else vjp(a, b, g)),
           [rng.standard_normal(shape), row], op)


@claim("ops.relu-matches-numpy")
@_apply(_params("relu"))
def test_relu(B, device, rng, op, dtype, case):
    _elementwise(B, device, rng, op, dtype, case)


@claim("ops.relu-matches-numpy")
@checks("relu_layer")
@pytest.mark.needs(Capability.MODULES.value)
@pytest.mark.parametrize("case", CASES)
def test_relu_layer(B, device, rng, case):
    """nn.ReLU() (000 In [80], 004 § 5) as a layer: the same values and gradient as relu."""
    x0 = (np.ones((2, 2)) + 2) * np.array([[1, -1], [-1, 1]]) if case == "seed" else rng.standard_normal((5, 3))
    layer = B.relu_layer()
    _check(B, device, rng, None, lambda t: layer(t), lambda x, g: (np.maximum(x, 0), () if g is None else (g * (x > 0),)),
           [np.where(np.abs(x0) < 1e-3, 0.5, x0)], "relu layer", relative_to="element")


@claim("ops.sum-mean-match-numpy")
@_apply(_params("sum", "mean"))
def test_sum_mean(B, device, rng, op, dtype, case):
    _elementwise(B, device, rng, op, dtype, case)


@claim("ops.transpose-matches-numpy")
@_apply(_params("transpose"))
def test_transpose(B, device, rng, op, dtype, case):
    _elementwise(B, device, rng, op, dtype, case)


# ------------------------------------------------------------------------------ reshape, Flatten, masks

RESHAPES = {"seed": ((1, 16, 6, 6), (1, 576)),  # 001 In [48]: x.view(-1, num_flat_features(x)) in LeNet
            "random": ((2, 3, 4), (4, 6))}


@claim("ops.reshape-matches-numpy")
@_apply(_params("reshape"))
def test_reshape(B, device, rng, op, dtype, case):
    shape, new = RESHAPES[case]
    _check(B, device, rng, dtype, lambda t: B.reshape(t, new),
           lambda x, g: (x.reshape(new), () if g is None else (np.reshape(g, shape),)),
           [rng.standard_normal(shape)], f"reshape {shape} -> {new}", relative_to="element")


FLATTENS = {"seed": (2, 28, 28), "random": (3, 2, 4, 5)}  # 000 In [80]: Flatten on [B, 28, 28]


@claim("ops.reshape-matches-numpy")
@checks("flatten_layer")
@pytest.mark.needs(Capability.MODULES.value)
@pytest.mark.parametrize("case", CASES)
def test_flatten_layer(B, device, rng, case):
    shape = FLATTENS[case]
    layer = B.flatten_layer()
    _check(B, device, rng, None, lambda t: layer(t),
           lambda x, g: (x.reshape(shape[0], -1), () if g is None else (np.reshape(g, shape),)),
           [rng.standard_normal(shape)], f"Flatten of {shape}", relative_to="element")


WHERE_SHAPES = {"seed": (2, 2), "random": (5, 3)}


@claim("ops.where-matches-numpy")
@checks("where", "lt")
@_apply(_params("where"))
def test_where(B, device, rng, op, dtype, case):
    """where(h < 0, a, b) for a fixed h of both signs (004's grad_h[h < 0] = 0 is
    where(h < 0, 0 * g, g)): numpy's values; a's gradient where h < 0, b's elsewhere."""
    shape = WHERE_SHAPES[case]
    h0 = (np.ones(shape) + 2) * np.array([[1, -1], [-1, 1]]) if case == "seed" else rng.standard_normal(shape)
    h = B.tensor(np.where(np.abs(h0) < 1e-3, 0.5, h0), device=device, dtype=dtype)
    below = np.asarray(B.to_numpy(h)) < 0

    def reference(a, b, g):
        value = np.where(below, a, b)
        return value, () if g is None else (np.where(below, g, 0.0), np.where(below, 0.0, g))

    _check(B, device, rng, dtype, lambda a, b: B.where(B.lt(h, 0.0), a, b), reference,
           [rng.standard_normal(shape), rng.standard_normal(shape)], "where(h < 0, a, b)", relative_to="element")


# ------------------------------------------------------------------------------ losses

LOSS_SHAPES = {"seed": (1, 10), "random": (6, 4)}  # 001 In [55]: output (1, 10) against a target (1, 10)


def _loss_args(rng, name, case):
    """(prediction, target) at the seeds' shapes (and zeros target of 002) or random ones."""
    n, k = LOSS_SHAPES[case]
    if name == "cross_entropy":
        n = 16 if case == "seed" else n  # 000 In [83]: batches of 16, 10 classes
        return rng.standard_normal((n, 10)) * 2, rng.integers(0, 10, n)
    if name == "bce_with_logits" and case == "seed":  # 002 In [1]: z of shape (3,) against zeros(3)
        return rng.standard_normal(3) * 2, np.zeros(3)
    pred = rng.standard_normal((n, k)) * 2
    return pred, (rng.random(pred.shape) if name == "bce_with_logits" else rng.standard_normal(pred.shape))


LOSSES = {"mse": lambda B, p, t: B.mse_loss(p, t), "mse-sum": lambda B, p, t: B.mse_loss(p, t, reduction="sum"),
          "cross_entropy": lambda B, p, t: B.cross_entropy(p, t),
          "bce_with_logits": lambda B, p, t: B.bce_with_logits(p, t)}


@claim("ops.losses-match-numpy")
@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("op", [pytest.param(op, marks=checks(OPERATION[op])) for op in LOSSES])
def test_losses(B, device, rng, op, dtype, case):
    pred, target = _loss_args(rng, op, case)
    integer = op == "cross_entropy"
    t = B.tensor(target, device=device, dtype="int64" if integer else dtype)
    t64 = target if integer else np.asarray(B.to_numpy(t), dtype=np.float64)

    def reference(p, g):
        value, grad = references.numpy_losses(op, p, t64)
        return value, () if g is None else (grad * g,)

    _check(B, device, rng, dtype, lambda p: LOSSES[op](B, p, t), reference, [pred], op, relative_to="element")
