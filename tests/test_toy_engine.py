"""The suite's verdicts on an engine it has never seen: the toy engine of tests/toy_engine.py,
through its adapter written only from the protocol, with the habits that made verdicts wrong on
real engines (scalars of shape (1,), no mean/exp/where/cross-entropy/BCE, an MSE divided by the
batch, a 1-d matmul whose backward raises, interior .grad never reset, gradients held by its
optimizer).

- The toy engine's own behaviour is pinned by direct unit tests, so that the verdicts below are
  checked against what the engine does, not against what the suite says.
- One run of the whole suite on ToyBackend: every claim's verdict is listed (VERDICTS), with why.
  Exactly the claims about its habits fail or are not applicable; every other claim is checked
  (passes, or is partly checked where some of its tests need an operation the engine lacks).
- One run of the workload-marked tests on SmallToyBackend (max_workload 100,000): the tests marked
  bigger end as too large, in the junit properties and in conformance.json.

Run as a plugin (``-p tests.test_toy_engine``) in the suite's subprocess, this module records each
test's workload marker as a junit property, so the checks compare the outcomes with the markers.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from autograd_conformance.claims import CLAIMS, PIPELINE
from autograd_conformance.outcomes import BLOCKED, FAIL, LARGE, NA, PARTIAL, PASS
from tests import toy_engine as toy
from tests.conformance_run import run_suite_cases

pytestmark = pytest.mark.slow  # the whole suite on the toy engine, serial and under xdist: not in the fast subset (-m "not slow")

LIMIT = toy.SmallToyBackend.max_workload


def pytest_collection_modifyitems(items):  # active only when loaded with -p tests.test_toy_engine
    for item in items:
        marker = item.get_closest_marker("workload")
        if marker is not None:
            item.user_properties.append(("workload", str(marker.args[0])))


# ============================================================================ the engine itself

def _t(a):
    return toy.Tensor(np.asarray(a, dtype=np.float64))


def test_matmul_relu_mse_gradients_match_numpy():
    """2-d products differentiate; the MSE divides the summed squares by the batch (6 rows)."""
    rng = np.random.default_rng(1)
    x0, w0, b0, t0 = rng.normal(size=(6, 4)), rng.normal(size=(4, 3)), rng.normal(size=3), rng.normal(size=(6, 3))
    x, w, b = _t(x0), _t(w0), _t(b0)
    loss = toy.mse_loss((x @ w + b).relu(), _t(t0))
    loss.backward()
    h = x0 @ w0 + b0
    g = 2 * (np.maximum(h, 0) - t0) / 6 * (h > 0)
    np.testing.assert_allclose(loss.data, [np.sum((np.maximum(h, 0) - t0) ** 2) / 6])
    np.testing.assert_allclose(w.grad, x0.T @ g)
    np.testing.assert_allclose(b.grad, g.sum(axis=0))  # broadcast over the batch: summed
    np.testing.assert_allclose(x.grad, g @ w0.T)


def test_scalars_have_shape_one_and_vector_matmul_backward_raises():
    assert _t(2.0).shape == (1,) and _t(np.ones(3)).sum().shape == (1,)
    rng = np.random.default_rng(2)
    v, m = _t(rng.normal(size=5)), _t(rng.normal(size=(5, 3)))
    out = v @ m
    assert out.data.shape == (3,), "a 1-d product computes"
    with pytest.raises(ValueError, match="1-d operand"):
        out.sum().backward()
    for missing in ("mean", "exp"):
        assert not hasattr(toy.Tensor, missing)
    for missing in ("where", "cross_entropy", "bce_with_logits", "mean", "exp"):
        assert not hasattr(toy.ToyBackend, missing)


def test_second_backward_repropagates_stale_interior_gradients():
    """The tutorial backward: the seeds' sum(3 (x + 2)^2) / 4 at x = ones(2, 2) gives 4.5, then 27
    (not 9): the second call resets only the output's gradient, and every interior node passes on
    the gradient it accumulated in both calls (the sum's 0.25 + 0.5, three times that at the
    squares, 22.5 at y). backward() on a vector seeds it with ones."""
    x = toy.Tensor(np.ones((2, 2), np.float32))
    y = x + 2
    out = (y * y * 3).sum() / 4.0
    out.backward()
    np.testing.assert_array_equal(x.grad, np.full((2, 2), 4.5))
    assert y.grad is not None, "interior nodes keep their .grad"
    out.backward()
    np.testing.assert_array_equal(x.grad, np.full((2, 2), 27.0))
    z = _t([1.0, 2.0])
    (z * 3.0).backward()  # no seed on a vector output: ones, not an error
    np.testing.assert_array_equal(z.grad, [3.0, 3.0])


def test_modules_register_parameters_in_assignment_order_and_the_optimizer_holds_gradients():
    toy.seed(0)
    model = toy.Sequential(toy.Flatten(), toy.Linear(4, 3), toy.ReLU(), toy.Linear(3, 2, bias=False))
    assert [n for n, _ in model.named_parameters()] == ["1.weight", "1.bias", "3.weight"]
    assert model.parameters()[0].data.shape == (4, 3), "weights are stored (n_in, n_out)"
    toy.seed(0)
    again = toy.Sequential(toy.Flatten(), toy.Linear(4, 3), toy.ReLU(), toy.Linear(3, 2, bias=False))
    for p, q in zip(model.parameters(), again.parameters()):
        np.testing.assert_array_equal(p.data, q.data)

    w = toy.Parameter(np.array([1.0, 2.0]))
    opt = toy.SGD([w], lr=0.1, momentum=0.9)
    alias = w.data
    w.grad = np.array([100.0, 100.0])  # a tensor's own .grad: the optimizer never reads it
    for c, expected in (([1.0, 1.0], [0.9, 1.9]), ([1.0, 0.0], [0.71, 1.81])):
        opt.zero_grad()
        assert opt.grad(w) is None
        opt.backward((w * _t(c)).sum())  # the gradient c, held by the optimizer
        np.testing.assert_array_equal(opt.grad(w), c)
        opt.step()
        np.testing.assert_allclose(w.data, expected)  # b = g = [1, 1], then b = 0.9 b + g = [1.9, 0.9]
    np.testing.assert_array_equal(w.grad, [100.0, 100.0]), "opt.backward gives w its .grad back as it was"
    assert alias is w.data, "step updates the parameter's array in place"


# ============================================================================ the suite on it

# Every claim's verdict on the toy engine, and why. Not applicable only where the engine lacks the
# concept (a capability it does not declare) or every test's operation; partly checked where some
# tests need an operation it lacks (mean, cross-entropy, BCE, conv2d) or are blocked by the 1-d
# matmul, and the rest pass.
HABITS_FAIL = {
    "backward.sum-is-zero-dim": "scalars have shape (1,)",
    "ops.matmul-matches-numpy": "a 1-d matmul's backward raises",
    "ops.losses-match-numpy": "its MSE divides by the batch",
    "backward.mse-loss": "its MSE divides by the batch",
    "accumulation.second-backward-adds": "interior .grad is never reset: 27 where 9 is right",
    "accumulation.retain-twice-equals-double": "interior .grad is never reset",
    "accumulation.multi-task-losses-sum": "interior .grad is never reset",
    "backward.only-leaves-get-grad": "every node keeps a .grad",
    "backward.non-scalar-needs-seed": "backward() on a vector output cotangents it with ones",
    "modules.parameter-registered": "a module registered under two names lists its parameters twice",
    "optim.sgd-update-rule": "... so SGD over that module steps them twice",
}
# Tests over generated programs (suites/test_programs.py, marked "programs") draw from every
# operation the engine has: which of them draw a 1-d matmul or an MSE, and are blocked by those
# habits' claims, depends on the programs drawn. Their claims are passed, or partly checked where
# blocked tests are all that did not pass.
GENERATED_LAWS = {"backward.chain-rule-40", "backward.matches-finite-differences", "backward.vjp-linear-in-seed",
                  "accumulation.manual-zero-resets", "tracking.no-grad-same-values"}
BLOCKED_BY_MATMUL = {"backward.vjp-seed-vector"}  # the seeds' own tests, blocked by the 1-d matmul
PARTLY = {  # claim: what the tests that do not run need
    "backward.mean-of-3-squares": "mean", "ops.sum-mean-match-numpy": "mean",
    "backward.bce-rows-equal-bias-grad": "bce_with_logits", "backward.module-vjp-fills-param-grads": "conv2d",
    "backward.vjp-seed-vector": "matmul (blocked)",
    **{cid: "cross_entropy" for cid in (
        "accumulation.no-zero-grad-accumulates", "accumulation.zero-grad-each-step-fresh",
        "accumulation.no-step-same-grad", "optim.step-updates-model-weights", "optim.step-in-place",
        "optim.zero-grad-element-unchanged", "training.fashion-mlp-learns", "determinism.same-seed-same-training",
        "modules.flatten-single-sample")},
    "modules.lenet-rejects-28x28": "conv2d",
    "optim.manual-update-equals-sgd": "in-place tensors and no_grad (004 § 5's param -= lr * param.grad)",
}
NOT_APPLICABLE = {  # claim: what the engine lacks
    **{cid: "graph nodes" for cid in CLAIMS if cid.startswith("graph.")},
    **{cid: "requires_grad, no_grad or detach" for cid in CLAIMS if cid.startswith("tracking.")},
    **{cid: "custom functions" for cid in CLAIMS if cid.startswith("custom.")},
    **{cid: "a graph that backward frees" for cid in CLAIMS if cid.startswith("retain.")},
    **{cid: "no_grad, or a graph that backward frees" for cid in CLAIMS if cid.startswith("memory.")},
    **{cid: "PyTorch's API" for cid in ("accumulation.zero-grad-sets-none", "modules.summary-sizes",
                                         "modules.lenet-printed-structure", "modules.parameter-is-tensor-with-no-name",
                                         "determinism.manual-seed-1-golden", "modules.hooks-fire-in-call-order")},
    **{cid: "conv2d" for cid in ("backward.lenet-grads", "modules.lenet-shapes", "modules.lenet-parameters",
                                  "ops.conv2d-matches-numpy")},
    "backward.full-jacobian": "jacobian", "backward.cross-entropy": "cross_entropy",
    "modules.parameters-trainable": "requires_grad", "optim.adam-update-rule": "adam",
    "training.two-layer-adam": "adam", "manual.tensor-backprop-equals-numpy": "transpose",
    "ops.transpose-matches-numpy": "transpose", "ops.max-pool2d-matches-numpy": "max_pool2d",
    "ops.where-matches-numpy": "where", "devices.round-trip-keeps-values": "to_device",
    "ops.item-python-number": "item", "ops.max-pool2d-window-pair": "max_pool2d",
}


def expected_verdict(cid: str) -> str:
    if cid in HABITS_FAIL:
        return FAIL
    if cid in PARTLY:
        return PARTIAL
    return NA if cid in NOT_APPLICABLE else PASS


def _not_applicable(case) -> str:
    """Why a test was not applicable ('' if it was), from its report property."""
    return case["properties"].get("not_applicable", "") if case["outcome"] == NA else ""


@pytest.fixture(scope="module")
def toy_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("toy")
    reports = tmp / "reports"
    code, cases, output = run_suite_cases(tmp, "--backend", "tests.toy_engine:ToyBackend",
                                          "-p", "tests.test_toy_engine", report_dir=reports)
    assert cases, f"the suite produced no results on the toy engine:\n{output[-3000:]}"
    run = json.loads((reports / "conformance.json").read_text())
    return code, cases, output, {c["id"]: c for c in run["claims"] if c["device"] == "cpu"}


@pytest.mark.timeout(600)
def test_every_claim_gets_its_verdict_on_the_toy_engine(toy_run):
    code, _, output, claims = toy_run
    assert code == 1, "claims fail on the toy engine, so pytest must exit 1"
    engine_claims = {cid for cid, c in CLAIMS.items() if c.level != PIPELINE}
    assert set(claims) == engine_claims, f"claims without a verdict: {sorted(engine_claims - set(claims))}"
    wrong = {cid: f"{c['outcome']} (expected {expected_verdict(cid)}): {c['summary']}"
             for cid, c in claims.items() if c["outcome"] != expected_verdict(cid)
             and not (cid in GENERATED_LAWS and c["outcome"] == PARTIAL and c["counts"]["pass"] + c["counts"].get(
                 "blocked", 0) == c["counts"]["tests"])}
    assert not wrong, "verdicts on the toy engine:\n" + "\n".join(f"  {k}: {v}" for k, v in sorted(wrong.items()))


@pytest.mark.timeout(600)
def test_the_toy_engines_habits_are_reported_once(toy_run):
    """Each habit shows on the claims about it and nowhere else: the 1-d matmul blocks the test of
    another claim that uses it, which is neither a pass nor a failure; partly checked claims say
    how many of their tests ran; the second backward's message shows the toy engine's 27."""
    _, cases, _, claims = toy_run
    blocked = {t: c for t, c in cases.items() if c["outcome"] == BLOCKED}
    habits = ("ops.matmul-matches-numpy (matmul)", "ops.losses-match-numpy (mse_loss)")
    assert blocked and all(any(h in c["message"] for h in habits) for c in blocked.values()), blocked
    assert BLOCKED_BY_MATMUL <= {c["claim"] for c in blocked.values()} <= BLOCKED_BY_MATMUL | GENERATED_LAWS | set(
        HABITS_FAIL)
    for cid in PARTLY:
        n = claims[cid]["counts"]
        assert 0 < n["ran"] < n["tests"] and n["pass"] == n["ran"], (cid, n)
    at_seed = [c for t, c in cases.items() if c["claim"] == "accumulation.second-backward-adds" and "sum / n" in t]
    assert at_seed and all("got:      [[27. 27.]" in c["message"] for c in at_seed), at_seed
    na = {cid: c["summary"] for cid, c in claims.items() if c["outcome"] == NA}
    assert all("not applicable" in s for s in na.values()), na


@pytest.mark.timeout(600)
def test_blocked_under_xdist_as_in_a_serial_run(tmp_path, toy_run):
    """Each xdist worker finds a prerequisite's verdict for itself: the blocked test is blocked
    whichever worker ran it and whatever ran first, with the prerequisite's claim in its junit
    properties, as in the serial run."""
    _, serial, _, _ = toy_run
    code, cases, output = run_suite_cases(tmp_path, "--backend", "tests.toy_engine:ToyBackend", "-n", "2",
                                          suites=["suites/test_backward.py", "suites/test_ops.py"])
    assert code == 1, output[-2000:]
    blocked = {t: c for t, c in cases.items() if c["outcome"] == BLOCKED}
    assert blocked == {t: c for t, c in blocked.items() if serial[t]["outcome"] == BLOCKED} and blocked, blocked
    assert all(c["properties"].get("blocked") == "ops.matmul-matches-numpy" for c in blocked.values()), blocked
    assert {t: c["outcome"] for t, c in cases.items()} == {t: serial[t]["outcome"] for t in cases}


@pytest.mark.timeout(600)
def test_workloads_above_max_workload_are_too_large(tmp_path):
    reports = tmp_path / "reports"
    _, cases, output = run_suite_cases(tmp_path, "--backend", "tests.toy_engine:SmallToyBackend",
                                       "-p", "tests.test_toy_engine", "-m", "workload", report_dir=reports)
    marked = {t: int(c["properties"]["workload"]) for t, c in cases.items() if "workload" in c["properties"]}
    # a capability the backend lacks is checked first: those tests are not applicable instead
    big = {t for t, n in marked.items() if n > LIMIT and "not_applicable" not in cases[t]["properties"]}
    if not big:
        pytest.skip(f"no suite test is marked @pytest.mark.workload(N) with N > {LIMIT:,} yet")
    too_large = {t for t, c in cases.items() if "too_large" in c["properties"]}
    assert too_large == big, (f"too large: {sorted(too_large - big)} are not marked above {LIMIT:,}; "
                              f"{sorted(big - too_large)} are, yet ran")
    for t in too_large:
        assert cases[t]["outcome"] == LARGE and "not_applicable" not in cases[t]["properties"]
        assert f"max_workload {LIMIT:,}" in cases[t]["properties"]["too_large"]
    small = {t for t, n in marked.items() if n <= LIMIT and not _not_applicable(cases[t])}
    assert all(cases[t]["outcome"] in (PASS, FAIL, BLOCKED) for t in small), "tests within the limit run"

    run = json.loads((reports / "conformance.json").read_text())
    recorded = {t["nodeid"]: t for c in run["claims"] for t in c["tests"]}
    recorded.update({t["nodeid"]: t for t in run["unclaimed"]})
    for test_id in too_large:
        module, _, name = test_id.partition("::")
        nodeid = module.replace(".", "/") + ".py::" + name
        assert nodeid in recorded, f"conformance.json must record {nodeid}:\n{output[-2000:]}"
        entry = recorded[nodeid]
        assert entry["outcome"] == "too large" and entry["summary"].startswith("too large"), entry
