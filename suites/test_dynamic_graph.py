"""Dynamic graphs and weight sharing (004 § 8 DynamicNet; 001 In [31] data-dependent loop).

A module's parameter gradients come from the seeds' backward and .grad where the engine stores
gradients, from value_and_grad where it returns them (a tape, a function transformation)."""

import numpy as np
import pytest

from autograd_conformance import models, references
from autograd_conformance.check import as_in_out, assert_close
from autograd_conformance.protocol import Capability

claim = pytest.mark.claim
inputs = pytest.mark.inputs

D_IN, H, D_OUT, N = 20, 8, 3, 16


def _weights():
    rng = np.random.default_rng(0)  # its own: no test order or plugin changes it
    shapes = [(D_IN, H), (H,), (H, H), (H,), (H, D_OUT), (D_OUT,)]
    return [rng.standard_normal(s) * 0.3 for s in shapes]


def _path(B, x, uses, w_in, b_in, w_mid, b_mid, w_out, b_out):
    h = B.relu(B.matmul(x, w_in) + b_in)
    for _ in range(uses):  # the same middle layer, reused `uses` times
        h = B.relu(B.matmul(h, w_mid) + b_mid)
    return B.matmul(h, w_out) + b_out


def _dynamic_net(B, device, weights):
    """DynamicNet; net.depth["uses"] sets how often the next forward reuses the middle layer (004 § 8
    draws it at random in forward; the module is called with tensors only)."""
    names = ["w_in", "b_in", "w_mid", "b_mid", "w_out", "b_out"]
    params = {n: B.parameter(B.tensor(w, device=device)) for n, w in zip(names, weights)}
    depth = {"uses": 0}

    def forward(m, x):
        return _path(B, x, depth["uses"], *(getattr(m, n) for n in names))

    net = B.module(forward, **params)
    return (lambda x, uses: depth.update(uses=uses) or net(x)), net, names


def _grads(B, net, names, loss_fn) -> dict:
    """{name: gradient of loss_fn()} for the net's parameters: the seeds' zero_grad (where an
    earlier backward stored gradients), backward and each .grad where the engine stores gradients;
    value_and_grad where it returns them."""
    if Capability.BACKWARD not in B.capabilities:
        return models.returned_grads(B, net, loss_fn)
    if any(B.grad(getattr(net, n)) is not None for n in names):
        B.module_zero_grad(net)
    B.backward(loss_fn())
    return {n: B.grad(getattr(net, n)) for n in names}


@claim("dynamic.graph-follows-control-flow")
@pytest.mark.parametrize("uses", [0, 1, 2, 3])
def test_graph_follows_control_flow(B, device, rng, uses):
    weights = _weights()
    x0, y0 = rng.standard_normal((N, D_IN)), rng.standard_normal((N, D_OUT))
    x, y = B.tensor(x0, device=device), B.tensor(y0, device=device)
    run, net, names = _dynamic_net(B, device, weights)
    for _ in range(2):  # two forwards with different depths: only the last one's graph counts
        _grads(B, net, names, lambda: B.mse_loss(run(x, 3 - uses), y, reduction="sum"))
    grads = _grads(B, net, names, lambda: B.mse_loss(run(x, uses), y, reduction="sum"))
    held = [B.to_numpy(getattr(net, n)).astype(np.float64) for n in names]
    x64, y64 = B.to_numpy(x).astype(np.float64), B.to_numpy(y).astype(np.float64)
    expected = references.numpy_dynamic_grads(x64, y64, uses, *held)  # backprop by hand, not the engine
    for name, want in zip(names, expected):
        got = grads[name]
        if uses == 0 and name in ("w_mid", "b_mid"):
            continue  # unused on this path: see dynamic.unused-parameter-no-grad
        assert got is not None, f"{name} is on the path with {uses} middle uses and needs a gradient"
        assert_close(B, got, want, what=f"{name}.grad with {uses} middle uses vs numpy backprop",
                     relative_to="max")


@claim("dynamic.unused-parameter-no-grad")
def test_unused_parameter_no_grad(B, device, rng):
    run, net, names = _dynamic_net(B, device, _weights())
    x, y = B.tensor(rng.standard_normal((N, D_IN)), device=device), B.tensor(rng.standard_normal((N, D_OUT)), device=device)
    grads = _grads(B, net, names, lambda: B.mse_loss(run(x, 0), y, reduction="sum"))
    for name in ("w_mid", "b_mid"):
        g = grads[name]
        assert g is None or not np.any(B.to_numpy(g)), f"{name} was not used and must get no gradient"
    assert grads["w_in"] is not None and np.any(B.to_numpy(grads["w_in"])), "w_in was used and must get a gradient"


@claim("dynamic.weight-sharing-sums-grads")
def test_weight_sharing_sums_grads(B, device, rng):
    w_in, b_in, w_mid, b_mid, w_out, b_out = [B.tensor(w, device=device) for w in _weights()]
    x = B.tensor(rng.standard_normal((N, D_IN)), device=device)
    y = B.tensor(rng.standard_normal((N, D_OUT)), device=device)

    def shared(w_mid):
        return B.mse_loss(_path(B, x, 3, w_in, b_in, w_mid, b_mid, w_out, b_out), y, reduction="sum")

    def unrolled(m1, m2, m3):  # three separate copies with the same values
        h = B.relu(B.matmul(x, w_in) + b_in)
        for m in (m1, m2, m3):
            h = B.relu(B.matmul(h, m) + b_mid)
        return B.mse_loss(B.matmul(h, w_out) + b_out, y, reduction="sum")

    _, (g_shared,) = B.vjp(shared, [w_mid])
    _, copies = B.vjp(unrolled, [w_mid, w_mid, w_mid])
    total = sum(B.to_numpy(g) for g in copies)
    assert_close(B, g_shared, total, what="gradient of a layer used 3 times vs sum over 3 copies")
    assert not np.allclose(B.to_numpy(copies[0]), B.to_numpy(copies[2])), \
        "the three uses contribute different gradients (otherwise the test proves nothing)"


@claim("dynamic.data-dependent-loop")
@pytest.mark.parametrize("scale", [pytest.param(s, marks=inputs("seed")) for s in (1.0, 30.0, 400.0)]
                         + [pytest.param("random", marks=inputs("random"))])
def test_data_dependent_loop(B, device, rng, scale):
    x0 = np.array([0.1111, 1.6964, 0.8650]) * scale if scale != "random" else rng.standard_normal(3) * 10
    doublings = 1
    while np.linalg.norm(x0 * 2 ** doublings) < 1000:
        doublings += 1

    def f(x):
        y = x * 2
        while np.linalg.norm(B.to_numpy(y)) < 1000:
            y = y * 2
        return y

    v = np.array([0.1, 1.0, 0.0001]) if scale != "random" else rng.standard_normal(3)
    _, (dx,) = B.vjp(f, [B.tensor(x0, device=device)], B.tensor(v, device=device))
    assert_close(B, dx, v * 2 ** doublings, what=f"VJP of a loop that ran {doublings} doublings")


# 002 § Computational Graph: shape, size and operations may change every iteration
BATCHES = {"seed": [1, 64, 16], "random": None}  # seed: 002's one image, 002's and 000's batch sizes


def _mlp_grads_numpy(B, linears, x64, g):
    steps = [("linear", linears[0]), ("relu", None), ("linear", linears[1])]
    return references.numpy_chain(B, steps, x64, g)


@claim("dynamic.shapes-change-between-iterations")
@pytest.mark.parametrize("case", [pytest.param("seed", marks=inputs("seed")),
                                  pytest.param("random", marks=inputs("random"))])
def test_shapes_change_functional(B, device, rng, case):
    w1, b1, w2, b2 = (B.tensor(rng.standard_normal(s) * 0.3, device=device)
                      for s in ((12, 8), (8,), (8, 3), (3,)))
    held = [B.to_numpy(t).astype(np.float64) for t in (w1, b1, w2, b2)]
    for n in BATCHES[case] or rng.integers(1, 20, 4):
        x0, y0 = rng.standard_normal((int(n), 12)), rng.standard_normal((int(n), 3))
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
@pytest.mark.requires("modules")
@pytest.mark.parametrize("case", [pytest.param("seed", marks=inputs("seed")),
                                  pytest.param("random", marks=inputs("random"))])
def test_shapes_change_module(B, device, rng, case):
    """A Sequential fed batches of changing size (and a single unbatched-like row): each
    iteration's parameter gradients (zero_grad, backward and .grad where the engine stores them,
    value_and_grad where it returns them) are that batch's."""
    linears = [B.linear(12, 8, device=device), B.linear(8, 3, device=device)]
    model = B.sequential(linears[0], B.relu_layer(), linears[1])
    for n in BATCHES[case] or rng.integers(1, 20, 4):
        x0, y0 = rng.standard_normal((int(n), 12)), rng.standard_normal((int(n), 3))
        x, y = B.tensor(x0, device=device), B.tensor(y0, device=device)
        if Capability.BACKWARD in B.capabilities:
            B.module_zero_grad(model)
            out = model(x)
            B.backward(B.mse_loss(out, y, reduction="sum"))
            grad = B.grad
        else:
            out = model(x)
            grads = models.returned_grads(B, model, lambda: B.mse_loss(model(x), y, reduction="sum"))
            by_parameter = {id(p): grads[name] for name, p in B.named_parameters(model)}
            grad = lambda p: by_parameter[id(p)]  # noqa: E731 (the parameter's own object, found by role)
        assert tuple(B.to_numpy(out).shape) == (n, 3), f"batch {n}: output shape {B.to_numpy(out).shape}"
        g = 2 * (B.to_numpy(out).astype(np.float64) - B.to_numpy(y))
        _, want = _mlp_grads_numpy(B, linears, B.to_numpy(x).astype(np.float64), g)
        for k, layer in enumerate(linears):
            weight, bias = B.linear_parameters(layer)
            want_w, want_b = want[id(layer)]
            assert_close(B, as_in_out(B, B.to_numpy(grad(weight))), want_w,
                         what=f"Linear {k} weight's gradient at batch size {n}", relative_to="max")
            assert_close(B, grad(bias), want_b, what=f"Linear {k} bias's gradient at batch size {n}",
                         relative_to="max")
