"""Property-based tests: the seeds' claims generalised over random shapes and values (hypothesis).

Profiles (registered by the plugin): "conformance" (default, few examples, derandomised) and "thorough";
pick one with --hypothesis-profile=thorough. Every function here is in the core vocabulary, and no
value drawn is subnormal (an engine may flush those to zero, which is not what these claims are
about)."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from autograd_conformance.assertions import assert_close, value
from autograd_conformance.gradients import KeptGradients
from autograd_conformance.protocol import Capability

from .test_custom_function import my_relu

claim = pytest.mark.claim

finite = st.floats(-3, 3, allow_nan=False, allow_infinity=False, allow_subnormal=False, width=32)
shapes = hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=5)
arrays = shapes.flatmap(lambda s: hnp.arrays(np.float64, s, elements=finite))


def _f(B, x, n):
    """A smooth function with a saved-tensor graph: mean(3 (x + 2)^2) generalised, in the core
    vocabulary: (3 (x + 2)^2 + x^3 / (x^2 + 1)) summed and divided by n, the number of elements."""
    y = x + 2
    return B.sum(y * y * 3 + x * x * x / (x * x + 1.0)) / float(n)


@claim("accumulation.retain-twice-equals-double")
@given(values=arrays, k=st.integers(1, 4))
def test_k_backward_passes_give_k_times(B, device, values, k):
    x = B.tensor(values, device=device, requires_grad=True)
    kept = KeptGradients(B, [x])
    out = _f(B, x, values.size)
    for i in range(k):
        kept.backward(out, retain_graph=i < k - 1)
    _, (once,) = B.vjp(lambda x: _f(B, x, values.size), [B.tensor(values, device=device)])
    assert_close(B, kept.grad(x), k * B.to_numpy(once), what=f"x.grad after {k} passes vs {k} x one pass")


@claim("backward.vjp-linear-in-seed")
@given(data=st.data(), a=finite, b=finite)
def test_vjp_linear(B, device, data, a, b):
    values = data.draw(arrays)
    u = data.draw(hnp.arrays(np.float64, values.shape, elements=finite))
    v = data.draw(hnp.arrays(np.float64, values.shape, elements=finite))
    x = B.tensor(values, device=device)

    def vjp(cotangent):
        return B.to_numpy(B.vjp(lambda x: x * x * x / (x * x + 1.0), [x], B.tensor(cotangent, device=device))[1][0])

    assert_close(B, vjp(a * u + b * v), a * vjp(u) + b * vjp(v), what="VJP(a u + b v) vs a VJP(u) + b VJP(v)",
                 relative_to="max")


@claim("tracking.detach-untracked-equal")
@given(values=arrays)
@pytest.mark.optional('requires_grad')
def test_detach_shares_values(B, device, values):
    x = B.tensor(values, device=device, requires_grad=True)
    y = B.detach(x * 2)
    if Capability.REQUIRES_GRAD in B.capabilities:
        assert not B.requires_grad(y)
    np.testing.assert_array_equal(B.to_numpy(y), B.to_numpy(x * 2))
    _, (dx,) = B.vjp(lambda x: B.sum(x * B.detach(x * 2)), [B.tensor(values, device=device)])
    assert_close(B, dx, B.to_numpy(x * 2), what="d/dx sum(x * detach(2x)) = 2x")


@claim("backward.matches-finite-differences")
@given(values=arrays)
def test_matches_finite_differences(B, device, values):
    x = B.tensor(values, device=device, dtype="float64")
    _, (grad,) = B.vjp(lambda x: _f(B, x, values.size), [x])
    eps = 1e-6
    numeric = np.zeros(values.size)
    for i in range(values.size):
        step = np.zeros(values.size)
        step[i] = eps
        plus, minus = (value(B, _f(B, B.tensor(values + sign * step.reshape(values.shape), device=device,
                                                          dtype="float64"), values.size)) for sign in (1, -1))
        numeric[i] = (plus - minus) / (2 * eps)
    # central differences carry O(eps^2) truncation and O(1e-16 / eps) rounding error: 1e-6 here
    assert_close(B, B.to_numpy(grad).reshape(-1), numeric, what="autograd vs float64 central differences",
                 dtype="float64", scale=1e3)


@claim("custom.myrelu-equals-relu")
@given(values=arrays)
def test_custom_relu_matches_builtin(B, device, values):
    x = B.tensor(values, device=device)
    weights = B.tensor(np.cos(values), device=device)
    relu = my_relu(B, "core")
    out, (dx,) = B.vjp(lambda x: B.sum(relu(x) * weights), [x])
    ref_out, (ref_dx,) = B.vjp(lambda x: B.sum(B.relu(x) * weights), [x])
    assert_close(B, relu(x), B.relu(x), what="custom ReLU forward vs built-in")
    nonzero = values != 0  # at exactly 0 the two rules differ (see the claim's seed note)
    assert_close(B, B.to_numpy(dx)[nonzero], B.to_numpy(ref_dx)[nonzero],
                 what="custom ReLU gradient vs built-in, where the input is not 0")
