"""The suite's verdicts on an engine it has never seen (issue 8): the toy engine of
tests/toy_engine.py, through its adapter written only from the protocol.

- The toy engine's own behaviour is pinned by direct unit tests (gradients against numpy; the
  tutorial backward that re-propagates stale interior gradients on a second call).
- One run of the whole suite on ToyBackend: the repeated-backward claim fails (not skipped), and
  every test of a module claim runs, except those that call a conv layer or max pooling, which
  are not applicable and name the missing operation.
- One run of the workload-marked tests on SmallToyBackend (max_workload 100,000): the tests marked
  bigger end as too large, in the junit properties and in conformance.json.

Run as a plugin (``-p tests.test_toy_engine``) in the suite's subprocess, this module records each
test's workload marker as a junit property, so the checks compare the outcomes with the markers.
"""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from autograd_conformance.claims import CLAIMS
from autograd_conformance.outcomes import FAIL, LARGE, NA, PASS
from autograd_conformance.protocol import Capability
from tests import toy_engine as toy
from tests.conformance_run import run_suite_cases

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
    rng = np.random.default_rng(1)
    x0, w0, b0, t0 = rng.normal(size=(6, 4)), rng.normal(size=(4, 3)), rng.normal(size=3), rng.normal(size=(6, 3))
    x, w, b = _t(x0), _t(w0), _t(b0)
    loss = toy.mse_loss((x @ w + b).relu(), _t(t0))
    loss.backward()
    h = x0 @ w0 + b0
    g = 2 * (np.maximum(h, 0) - t0) / h.size * (h > 0)
    np.testing.assert_allclose(loss.data, np.mean((np.maximum(h, 0) - t0) ** 2))
    np.testing.assert_allclose(w.grad, x0.T @ g)
    np.testing.assert_allclose(b.grad, g.sum(axis=0))  # broadcast over the batch: summed
    np.testing.assert_allclose(x.grad, g @ w0.T)


def test_vector_matmul_gradients():
    rng = np.random.default_rng(2)
    v0, m0 = rng.normal(size=5), rng.normal(size=(5, 3))
    v, m = _t(v0), _t(m0)
    out = v @ m
    assert out.data.shape == (3,)
    out.backward(np.ones(3))
    np.testing.assert_allclose(v.grad, m0.sum(axis=1))
    np.testing.assert_allclose(m.grad, np.outer(v0, np.ones(3)))


def test_cross_entropy_and_bce_gradients_match_numpy():
    rng = np.random.default_rng(3)
    z0, labels = rng.normal(size=(8, 5)), rng.integers(0, 5, 8)
    z = _t(z0)
    loss = toy.cross_entropy(z, toy.Tensor(labels))
    loss.backward()
    p = np.exp(z0 - z0.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    np.testing.assert_allclose(loss.data, -np.mean(np.log(p[np.arange(8), labels])))
    np.testing.assert_allclose(z.grad, (p - np.eye(5)[labels]) / 8)

    logits0, y0 = rng.normal(size=4), np.array([0.0, 1.0, 1.0, 0.0])
    logits = _t(logits0)
    toy.bce_with_logits(logits, _t(y0)).backward()
    np.testing.assert_allclose(logits.grad, (1 / (1 + np.exp(-logits0)) - y0) / 4)


def test_second_backward_repropagates_stale_interior_gradients():
    """The tutorial backward: the seeds' mean(3 (x + 2)^2) at x = ones(2, 2) gives 4.5, then 22.5
    (not 9): the second call resets only the output's gradient, and every interior node passes on
    the gradient it accumulated in both calls."""
    x = toy.Tensor(np.ones((2, 2), np.float32))
    y = x + 2
    out = (y * y * 3).mean()
    out.backward()
    np.testing.assert_array_equal(x.grad, np.full((2, 2), 4.5))
    assert y.grad is not None, "interior nodes keep their .grad"
    out.backward()
    np.testing.assert_array_equal(x.grad, np.full((2, 2), 22.5))


def test_modules_register_parameters_in_assignment_order_and_sgd_momentum():
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
    for grad, expected in (([1.0, 1.0], [0.9, 1.9]), ([1.0, 0.0], [0.71, 1.81])):
        opt.zero_grad()
        assert w.grad is None
        w.grad = np.array(grad)
        opt.step()
        np.testing.assert_allclose(w.data, expected)  # b = g = [1, 1], then b = 0.9 b + g = [1.9, 0.9]
    assert alias is w.data, "step updates the parameter's array in place"


# ============================================================================ the suite on it

def _not_applicable(case) -> str:
    """Why a test was not applicable ('' if it was), from its report property."""
    return case["properties"].get("not_applicable", "") if case["outcome"] == NA else ""


@pytest.fixture(scope="module")
def toy_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("toy")
    code, cases, output = run_suite_cases(tmp, "--backend", "tests.toy_engine:ToyBackend",
                                          "-p", "tests.test_toy_engine")
    assert cases, f"the suite produced no results on the toy engine:\n{output[-3000:]}"
    return code, cases, output


@pytest.mark.timeout(600)
def test_second_backward_adds_fails_on_the_toy_engine(toy_run):
    code, cases, output = toy_run
    assert code == 1, "claims fail on the toy engine, so pytest must exit 1"
    mine = {t: c for t, c in cases.items() if c["claim"] == "accumulation.second-backward-adds"}
    assert mine, "accumulation.second-backward-adds has no test"
    assert all(c["outcome"] == FAIL for c in mine.values()), \
        f"the toy engine's second backward gives 22.5, not 9: every test must fail, got {mine}"
    at_seed = {t: c for t, c in mine.items() if "random" not in t}  # the random variant has other numbers
    assert at_seed and all("22.5" in c["message"] for c in at_seed.values()), mine


@pytest.mark.timeout(600)
def test_module_claims_run_unless_they_need_conv_or_pooling(toy_run):
    """Every test of a claim about modules that applies to the toy engine runs, except those that
    call an operation the toy engine lacks (a conv layer, max pooling; Adam, for the training claim
    that needs modules): those are not applicable and name the operation."""
    _, cases, _ = toy_run
    declared = set(toy.ToyBackend.capabilities)
    module_claims = {cid for cid, c in CLAIMS.items()
                     if Capability.MODULES in c.needs and set(c.required) <= declared}
    assert module_claims, "no module claim applies to the toy engine"
    not_run = {}
    for test_id, case in cases.items():
        if case["claim"] not in module_claims:
            continue
        if case["outcome"] in (PASS, FAIL):
            continue
        reason = _not_applicable(case)
        assert case["outcome"] == NA and re.search(r"\b(conv2d|max_pool2d|adam)\b", reason), \
            f"{test_id} ({case['claim']}) must run on the toy engine, got {case['outcome']} " \
            f"({reason or case['message']})"
        not_run[test_id] = reason
    without = {"modules.lenet-shapes": "conv2d", "modules.lenet-parameters": "conv2d", "backward.lenet-grads": "conv2d",
               "training.two-layer-adam": "adam"}  # claims all of whose tests need a missing operation
    for cid, operation in without.items():
        tests = {t: r for t, r in not_run.items() if cases[t]["claim"] == cid}
        assert tests and all(r == f"backend lacks {operation}" for r in tests.values()), (cid, tests)
    ran = {c["claim"] for c in cases.values() if c["claim"] in module_claims and c["outcome"] != NA}
    assert ran == module_claims - set(without)


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
    assert all(cases[t]["outcome"] in (PASS, FAIL) for t in small), "tests within the limit run"

    run = json.loads((reports / "conformance.json").read_text())
    recorded = {t["nodeid"]: t for c in run["claims"] for t in c["tests"]}
    recorded.update({t["nodeid"]: t for t in run["unclaimed"]})
    for test_id in too_large:
        module, _, name = test_id.partition("::")
        nodeid = module.replace(".", "/") + ".py::" + name
        assert nodeid in recorded, f"conformance.json must record {nodeid}:\n{output[-2000:]}"
        entry = recorded[nodeid]
        assert entry["outcome"] == "too large" and entry["summary"].startswith("too large"), entry
