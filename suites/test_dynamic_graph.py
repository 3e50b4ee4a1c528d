"""Dynamic graphs and weight sharing (004 § 8 DynamicNet; 001 In [31] data-dependent loop).

A module's parameter gradients are read wherever the engine keeps them (gradients.module_grads):
stored on the parameters, held by an optimizer, or returned by value_and_grad. Each claim runs on
the seed's DynamicNet (matmul, relu and the sum-reduced MSE, declared) and on DynamicNet's
structure in the core vocabulary: a layer h <- h w + b elementwise, its middle layer reused, a
squared error, with gradients worked out here by hand."""

import numpy as np
import pytest

from autograd_conformance import gradients, models, references
from autograd_conformance.assertions import assert_close
from autograd_conformance.models import as_in_out

claim = pytest.mark.claim
inputs = pytest.mark.inputs
uses = pytest.mark.uses
FORMS = [pytest.param("seed", marks=uses("matmul", "relu", "mse_loss")), pytest.param("core")]
NAMES = models.DYNAMIC_NET_WEIGHTS

D_IN, H, D_OUT, N = 20, 8, 3, 16


def _weights(form):
    rng = np.random.default_rng(0)  # its own: no test order or plugin changes it
    shapes = [(D_IN, H), (H,), (H, H), (H,), (H, D_OUT), (D_OUT,)] if form == "seed" else [(H,)] * 6
    return [rng.standard_normal(s) * (0.3 if form == "seed" else 0.8) for s in shapes]


def _data(B, device, rng, form):
    shape_x, shape_y = ((N, D_IN), (N, D_OUT)) if form == "seed" else ((H,), (H,))
    return (B.tensor(rng.standard_normal(shape_x), device=device),
            B.tensor(rng.standard_normal(shape_y), device=device))


def _loss(B, form, out, y):
    return B.mse_loss(out, y, reduction="sum") if form == "seed" else B.sum((out - y) ** 2)


def _dynamic_net(B, device, form, weights):
    """DynamicNet (models.dynamic_net_of); run(x, uses) sets how often that forward reuses the middle
    layer (004 § 8 draws it at random in forward; the module is called with tensors only)."""
    depth = {"uses": 0}
    net = models.dynamic_net_of(B, device, form, weights, depth)
    return (lambda x, uses: depth.update(uses=uses) or net(x)), net


@claim("dynamic.graph-follows-control-flow")
@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("uses_", [0, 1, 2, 3], ids=lambda n: f"uses{n}")
def test_graph_follows_control_flow(B, device, rng, uses_, form):
    x, y = _data(B, device, rng, form)
    run, net = _dynamic_net(B, device, form, _weights(form))
    for _ in range(2):  # two forwards with other depths first: only the last one's graph counts
        gradients.module_grads(B, net, lambda: _loss(B, form, run(x, 3 - uses_), y))
    grads = gradients.module_grads(B, net, lambda: _loss(B, form, run(x, uses_), y))
    held = [B.to_numpy(getattr(net, n)).astype(np.float64) for n in NAMES]
    x64, y64 = B.to_numpy(x).astype(np.float64), B.to_numpy(y).astype(np.float64)
    reference = references.numpy_dynamic_grads if form == "seed" else references.numpy_elementwise_dynamic_grads
    expected = reference(x64, y64, uses_, *held)  # backprop by hand, not the engine
    for name, want in zip(NAMES, expected):
        got = grads[name]
        if uses_ == 0 and name in ("w_mid", "b_mid"):
            continue  # unused on this path: see dynamic.unused-parameter-no-grad
        assert got is not None, f"{name} is on the path with {uses_} middle uses and needs a gradient"
        assert_close(B, got, want, what=f"{name}.grad with {uses_} middle uses vs backprop by hand",
                     relative_to="max")


@claim("dynamic.unused-parameter-no-grad")
@pytest.mark.parametrize("form", FORMS)
def test_unused_parameter_no_grad(B, device, rng, form):
    run, net = _dynamic_net(B, device, form, _weights(form))
    x, y = _data(B, device, rng, form)
    grads = gradients.module_grads(B, net, lambda: _loss(B, form, run(x, 0), y))
    for name in ("w_mid", "b_mid"):
        g = grads[name]
        assert g is None or not np.any(B.to_numpy(g)), f"{name} was not used and must get no gradient"
    assert grads["w_in"] is not None and np.any(B.to_numpy(grads["w_in"])), "w_in was used and must get a gradient"


@claim("dynamic.weight-sharing-sums-grads")
@pytest.mark.parametrize("form", FORMS)
def test_weight_sharing_sums_grads(B, device, rng, form):
    w_in, b_in, w_mid, b_mid, w_out, b_out = [B.tensor(w, device=device) for w in _weights(form)]
    x, y = _data(B, device, rng, form)

    def shared(w_mid):
        return _loss(B, form, models.dynamic_net_path(B, form, x, 3, w_in, b_in, w_mid, b_mid, w_out, b_out), y)

    def unrolled(m1, m2, m3):  # three separate copies with the same values
        h = x * w_in + b_in if form == "core" else B.relu(B.matmul(x, w_in) + b_in)
        for m in (m1, m2, m3):
            h = h * m + b_mid if form == "core" else B.relu(B.matmul(h, m) + b_mid)
        out = h * w_out + b_out if form == "core" else B.matmul(h, w_out) + b_out
        return _loss(B, form, out, y)

    _, (g_shared,) = B.vjp(shared, [w_mid])
    _, copies = B.vjp(unrolled, [w_mid, w_mid, w_mid])
    total = sum(B.to_numpy(g).astype(np.float64) for g in copies)
    assert_close(B, g_shared, total, what="gradient of a layer used 3 times vs sum over 3 copies", relative_to="max")
    assert not np.allclose(B.to_numpy(copies[0]), B.to_numpy(copies[2])), \
        "the three uses contribute different gradients (otherwise the test proves nothing)"
    if form == "core":
        held = [B.to_numpy(t).astype(np.float64) for t in (w_in, b_in, w_mid, b_mid, w_out, b_out)]
        want = references.numpy_elementwise_dynamic_grads(B.to_numpy(x).astype(np.float64), B.to_numpy(y).astype(np.float64), 3, *held)[2]
        assert_close(B, g_shared, want, what="gradient of the shared layer vs backprop by hand", relative_to="max")


@claim("dynamic.data-dependent-loop")
@pytest.mark.parametrize("scale", [pytest.param(s, marks=inputs("seed")) for s in (1.0, 30.0, 400.0)]
                         + [pytest.param("random", marks=inputs("random"))])
def test_data_dependent_loop(B, device, rng, scale):
    """001 In [31]: y = x * 2, doubled while its norm is below 1000; the gradient of sum(y * v) is
    v times 2 to the number of doublings that ran, which depends on x."""
    x0 = np.array([0.1111, 1.6964, 0.8650]) * scale if scale != "random" else rng.standard_normal(3) * 10
    doublings = 1
    while np.linalg.norm(x0 * 2 ** doublings) < 1000:
        doublings += 1

    def f(x):
        y = x * 2
        while np.linalg.norm(B.to_numpy(y)) < 1000:
            y = y * 2
        return B.sum(y * v)

    v0 = np.array([0.1, 1.0, 0.0001]) if scale != "random" else rng.standard_normal(3)
    v = B.tensor(v0, device=device)
    _, (dx,) = B.vjp(f, [B.tensor(x0, device=device)])
    assert_close(B, dx, B.to_numpy(v).astype(np.float64) * 2 ** doublings,
                 what=f"VJP of a loop that ran {doublings} doublings")


# 002 § Computational Graph: shape, size and operations may change every iteration
BATCHES = {"seed": [1, 64, 16], "random": None}  # seed: 002's one image, 002's and 000's batch sizes
CASES = [pytest.param("seed", marks=inputs("seed")), pytest.param("random", marks=inputs("random"))]


def _batches(rng, case):
    return [int(n) for n in (BATCHES[case] or rng.integers(1, 20, 4))]


@claim("dynamic.shapes-change-between-iterations")
@pytest.mark.parametrize("case", CASES)
@pytest.mark.optional('stores_gradients')
def test_shapes_change_core(B, device, rng, case):
    """x of a new shape every iteration (a batch of n rows of 12) and a function of it in the core
    vocabulary, f(x) = sum((x^2 - x) c): each gradient, through vjp and through backward, is that
    iteration's (2 x - 1) c."""
    for n in _batches(rng, case):
        x0, c0 = rng.standard_normal((n, 12)) * 2, rng.standard_normal((n, 12))
        x, c = B.tensor(x0, device=device, requires_grad=True), B.tensor(c0, device=device)
        want = (2 * B.to_numpy(x).astype(np.float64) - 1) * B.to_numpy(c)
        _, (dx,) = B.vjp(lambda x: B.sum((x * x - x) * c), [x])
        assert_close(B, dx, want, what=f"the gradient at batch size {n}")
        if gradients.stores(B):
            B.backward(B.sum((x * x - x) * c))
            assert_close(B, B.grad(x), want, what=f"x.grad at batch size {n}")


@claim("dynamic.shapes-change-between-iterations")
@pytest.mark.parametrize("case", CASES)
@uses("matmul", "relu", "mse_loss")
def test_shapes_change_functional(B, device, rng, case):
    w1, b1, w2, b2 = (B.tensor(rng.standard_normal(s) * 0.3, device=device)
                      for s in ((12, 8), (8,), (8, 3), (3,)))
    held = [B.to_numpy(t).astype(np.float64) for t in (w1, b1, w2, b2)]
    for n in _batches(rng, case):
        x0, y0 = rng.standard_normal((n, 12)), rng.standard_normal((n, 3))
        x, y = B.tensor(x0, device=device), B.tensor(y0, device=device)
        x64, y64 = (B.to_numpy(t).astype(np.float64) for t in (x, y))

        def loss(w1, b1, w2, b2):
            return B.mse_loss(B.matmul(B.relu(B.matmul(x, w1) + b1), w2) + b2, y, reduction="sum")

        _, grads = B.vjp(loss, [w1, b1, w2, b2])
        h = x64 @ held[0] + held[1]
        g = 2 * (np.maximum(h, 0) @ held[2] + held[3] - y64)
        gh = (g @ held[2].T) * (h > 0)
        want = [x64.T @ gh, gh.sum(0), np.maximum(h, 0).T @ g, g.sum(0)]
        for k, (got, w) in enumerate(zip(grads, want)):
            assert_close(B, got, w, what=f"gradient {k} at batch size {n}", relative_to="max")


@claim("dynamic.shapes-change-between-iterations")
@pytest.mark.needs("modules")
@pytest.mark.parametrize("case", CASES)
@uses("linear", "linear_parameters", "relu_layer", "mse_loss")
def test_shapes_change_module(B, device, rng, case):
    """A Sequential fed batches of changing size (and a single unbatched-like row): each
    iteration's parameter gradients, wherever the engine keeps them, are that batch's."""
    linears = [B.linear(12, 8, device=device), B.linear(8, 3, device=device)]
    model = B.sequential(linears[0], B.relu_layer(), linears[1])
    for n in _batches(rng, case):
        x0, y0 = rng.standard_normal((n, 12)), rng.standard_normal((n, 3))
        x, y = B.tensor(x0, device=device), B.tensor(y0, device=device)
        out = model(x)
        assert tuple(B.to_numpy(out).shape) == (n, 3), f"batch {n}: output shape {B.to_numpy(out).shape}"
        grads = gradients.module_grads(B, model, lambda: B.mse_loss(model(x), y, reduction="sum"))
        by_parameter = {id(p): grads[name] for name, p in B.named_parameters(model)}
        g = 2 * (B.to_numpy(out).astype(np.float64) - B.to_numpy(y))
        _, want = references.numpy_chain(B, [("linear", linears[0]), ("relu", None), ("linear", linears[1])],
                                         B.to_numpy(x).astype(np.float64), g)
        for k, layer in enumerate(linears):
            weight, bias = B.linear_parameters(layer)
            want_w, want_b = want[id(layer)]
            assert_close(B, as_in_out(B, B.to_numpy(by_parameter[id(weight)])), want_w,
                         what=f"Linear {k} weight's gradient at batch size {n}", relative_to="max")
            assert_close(B, by_parameter[id(bias)], want_b, what=f"Linear {k} bias's gradient at batch size {n}",
                         relative_to="max")
