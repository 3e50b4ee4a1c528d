"""Unit tests of the TensorFlow and MLX adapters (the mapping of each onto the protocol, without
running the conformance suites), and a proof that the suites' explicit-gradient paths (record,
value_and_grad, apply_gradients, load_parameters) hold on the reference and catch faults there.

Each engine's tests are skipped when the engine is not installed. The TensorFlow tests run in a
process of their own (test_tensorflow_tests_in_their_own_process): importing PaddlePaddle, or triton,
after TensorFlow 2.21 segfaults, and the project's tests share worker processes."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from autograd_conformance.backends.torch_backend import TorchBackend
from autograd_conformance.protocol import Capability as C
from autograd_conformance.registry import load_backend
from tests import tensorflow_process
from tests.conformance_run import failing_claims, run_suite

pytestmark = pytest.mark.slow  # TensorFlow in a process of its own: not in the fast subset (-m "not slow")

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

# engine name -> (module to import, distribution name, declared capabilities)
ENGINES = {
    # gradients from tapes: no stored .grad, no flag, no nodes, no t.data alias
    "tensorflow": ("tensorflow", "tensorflow-cpu", {C.FREES_GRAPH, C.RETAIN_GRAPH, C.REPEAT_BACKWARD, C.NO_GRAD, C.DETACH,
                                                    C.MODULES, C.OPTIMIZERS, C.CUSTOM_FUNCTION, C.FLOAT64}),
    # function transformations only; float64 on the CPU
    "mlx": ("mlx.core", "mlx", {C.DETACH, C.MODULES, C.OPTIMIZERS, C.CUSTOM_FUNCTION, C.FLOAT64}),
}
NAMES = sorted(ENGINES)




def _backend(name):
    if name == "tensorflow":
        tensorflow_process.skip_unless_in_child()
    # find_spec, not importorskip: the adapter must be what imports TensorFlow (it imports triton
    # first; triton imported after TensorFlow segfaults, see tensorflow_backend's docstring)
    if importlib.util.find_spec(ENGINES[name][0].split(".")[0]) is None:
        pytest.skip(f"{name} is not installed")
    return load_backend(name)


@pytest.fixture
def tf_backend():
    return _backend("tensorflow")


@pytest.fixture
def mlx_backend():
    return _backend("mlx")


# ------------------------------------------------------------------------------ shared by the two
# (the tests every adapter shares, TensorFlow's and MLX's included, are in test_adapters.py)

@pytest.mark.parametrize("name", NAMES)
def test_gradients_are_returned_and_dense_4_3_has_15_parameters(name):
    B = _backend(name)
    assert set(B.capabilities) == ENGINES[name][2]
    assert not hasattr(B, "backward") and not hasattr(B, "grad"), "gradients are returned, never stored"
    weight, bias = B.linear_parameters(B.linear(4, 3, device="cpu"))  # the Dense/Linear(4, 3)
    assert B.to_numpy(weight).size + B.to_numpy(bias).size == 15
    assert str(B.to_numpy(B.tensor([1.0], device="cpu")).dtype) == B.default_float == "float32"
    assert B.to_numpy(B.tensor([1, 2], device="cpu", dtype="int64")).dtype == np.int64


@pytest.mark.parametrize("name", NAMES)
def test_value_and_grad_equals_vjp_and_load_parameters(name):
    B = _backend(name)
    layer = B.linear(4, 3, device="cpu")
    x = B.tensor(np.random.randn(5, 4), device="cpu")
    loss, grads = B.value_and_grad(layer, lambda: B.sum(layer(x) ** 2))
    weight, bias = B.linear_parameters(layer)
    names = [n for n, _ in B.named_parameters(layer)]
    assert len(grads) == len(names) == 2
    w = B.to_numpy(weight) if B.linear_layout == "in_out" else B.to_numpy(weight).T
    out = B.to_numpy(x) @ w + B.to_numpy(bias)
    np.testing.assert_allclose(B.to_numpy(loss), np.sum(out ** 2), rtol=1e-5)
    g_out = 2 * out
    expected_w = B.to_numpy(x).T @ g_out
    by_name = dict(zip(names, grads))
    got_w = B.to_numpy(by_name[names[0]])
    np.testing.assert_allclose(got_w if B.linear_layout == "in_out" else got_w.T, expected_w, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(B.to_numpy(by_name[names[1]]), g_out.sum(0), rtol=1e-4, atol=1e-5)
    B.load_parameters(layer, [p * 0 for _, p in B.named_parameters(layer)])
    assert all(not B.to_numpy(p).any() for _, p in B.named_parameters(layer))


# ------------------------------------------------------------------------------ TensorFlow

@pytest.mark.timeout(600)
def test_tensorflow_tests_in_their_own_process():
    if tensorflow_process.in_child():
        pytest.skip("this is that process")
    if importlib.util.find_spec("tensorflow") is None:
        pytest.skip("tensorflow is not installed")
    root = Path(__file__).resolve().parent.parent
    run = subprocess.run(
        [sys.executable, "-m", "pytest", str(Path(__file__).relative_to(root)), "tests/test_adapters.py", "-q",
         "-p", "no:cacheprovider", "-p", "no:randomly",
         "-k", tensorflow_process.SELECTION, "-W", "ignore::DeprecationWarning"],
        cwd=root, env={**os.environ, tensorflow_process.CHILD: "1"}, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert " passed" in run.stdout and "skipped" not in run.stdout.splitlines()[-1], run.stdout[-2000:]


def test_tf_record_non_persistent_answers_once(tf_backend):
    B = tf_backend
    w = B.tensor([1.0, 2.0], device="cpu", requires_grad=True)
    out, pullback = B.record(lambda w: B.sum(w * w), [w])
    np.testing.assert_allclose(B.to_numpy(pullback()[0]), [2.0, 4.0])
    with pytest.raises(RuntimeError, match="non-persistent"):
        pullback()
    _, pullback = B.record(lambda w: B.sum(w * w), [w], retain_graph=True)  # a persistent tape
    np.testing.assert_allclose(B.to_numpy(pullback()[0]), B.to_numpy(pullback()[0]))


def test_tf_variables_parameters_and_registration(tf_backend):
    import keras
    import tensorflow as tf

    B = tf_backend
    assert isinstance(B.tensor([1.0], device="cpu", requires_grad=True), tf.Variable)
    assert not isinstance(B.tensor([1.0], device="cpu"), tf.Variable)
    inner = B.linear(2, 3, device="cpu")
    m = B.module(lambda m, x: x, a=B.parameter(B.tensor([1.0], device="cpu")), lin=inner,
                 plain=B.tensor([2.0], device="cpu", requires_grad=True), b=B.parameter(B.tensor([3.0], device="cpu")))
    named = B.named_parameters(m)
    assert [n for n, _ in named] == ["a", "lin.kernel", "lin.bias", "b"], "attribute order, not Keras's own-first order"
    assert isinstance(m.a, keras.Variable) and named[0][1] is m.a
    with pytest.raises(AttributeError, match="weights"):  # the expectation file's reserved name
        B.module(lambda m, x: x, weights=B.parameter(B.tensor([1.0], device="cpu")))


def test_tf_no_grad_stops_the_open_tape(tf_backend):
    B = tf_backend

    def f(x):
        with B.no_grad():
            c = x * 3
        return B.sum(c * x)

    _, (dx,) = B.vjp(f, [B.tensor([1.0, 2.0], device="cpu")])
    np.testing.assert_allclose(B.to_numpy(dx), [3.0, 6.0], err_msg="x * 3 made under no_grad is a constant")


def test_tf_optimizers_update_the_same_variables(tf_backend):
    B = tf_backend
    layer = B.linear(2, 2, device="cpu")
    kernel = B.linear_parameters(layer)[0]
    before = B.to_numpy(kernel).copy()
    opt = B.sgd([p for _, p in B.named_parameters(layer)], lr=0.1, momentum=0.9)
    _, grads = B.value_and_grad(layer, lambda: B.sum(layer(B.tensor(np.ones((1, 2)), device="cpu"))))
    after = B.apply_gradients(opt, grads)
    assert after[0] is kernel and B.linear_parameters(layer)[0] is kernel
    np.testing.assert_allclose(B.to_numpy(kernel), before - 0.1 * B.to_numpy(grads[0]), rtol=1e-6)


# ------------------------------------------------------------------------------ MLX

def test_mlx_optimizer_puts_new_arrays_into_the_model(mlx_backend):
    B = mlx_backend
    layer = B.linear(2, 2, device="cpu")
    weight = B.linear_parameters(layer)[0]
    before = B.to_numpy(weight).copy()
    opt = B.sgd(layer, lr=0.1)  # optimizes_modules: MLX's Optimizer.update(model, grads)
    _, grads = B.value_and_grad(layer, lambda: B.sum(layer(B.tensor(np.ones((1, 2)), device="cpu"))))
    after = B.apply_gradients(opt, grads)
    new_weight = B.linear_parameters(layer)[0]
    assert new_weight is not weight and after[0] is new_weight
    np.testing.assert_array_equal(B.to_numpy(weight), before, err_msg="the old array keeps its values")
    np.testing.assert_allclose(B.to_numpy(new_weight), before - 0.1 * B.to_numpy(grads[0]), rtol=1e-6)


def test_mlx_leaf_optimizer_returns_new_arrays_and_adam_defaults(mlx_backend):
    B = mlx_backend
    w = B.tensor([1.0, 2.0], device="cpu")
    opt = B.adam([w], lr=0.1)
    assert opt.optimizer.bias_correction is False, "MLX's Adam default (see the expectation file)"
    (new,) = B.apply_gradients(opt, [B.tensor([1.0, -1.0], device="cpu")])
    np.testing.assert_array_equal(B.to_numpy(w), [1.0, 2.0])
    assert not np.allclose(B.to_numpy(new), [1.0, 2.0])


def test_mlx_every_module_array_is_a_parameter(mlx_backend):
    B = mlx_backend
    m = B.module(lambda m, x: x, a=B.tensor([1.0], device="cpu"), lin=B.linear(2, 3, device="cpu"),
                 b=B.parameter(B.tensor([3.0], device="cpu")))
    assert [n for n, _ in B.named_parameters(m)] == ["a", "lin.weight", "lin.bias", "b"]
    assert not hasattr(B, "flatten_layer"), "mlx.nn has no Flatten layer"


# ------------------------------------------------------------------------------ the explicit path on the reference

class ExplicitTorch(TorchBackend):
    """The reference seen as an engine whose gradients are returned: no STORES_GRADIENTS, so the suites take
    their explicit paths, each written with torch's own functions (autograd.grad; an optimizer
    stepped with the given gradients placed where torch's optimizers read them)."""

    capabilities = frozenset(C) - {C.STORES_GRADIENTS, C.OPTIMIZER_GRADIENTS}

    def record(self, fn, inputs, retain_graph=False):
        inputs = list(inputs)
        with torch.enable_grad():
            out = fn(*inputs)

        def pullback(cotangent=None):
            grads = torch.autograd.grad(out, inputs, cotangent, retain_graph=retain_graph, allow_unused=True)
            return tuple(torch.zeros_like(x) if g is None else g for x, g in zip(inputs, grads))

        return out, pullback

    def value_and_grad(self, m, loss_fn):
        params = [p for _, p in m.named_parameters()]
        loss = loss_fn()
        grads = torch.autograd.grad(loss, params, allow_unused=True)
        return loss.detach(), tuple(torch.zeros_like(p) if g is None else g for p, g in zip(params, grads))

    def apply_gradients(self, opt, grads):
        params = [p for group in opt.param_groups for p in group["params"]]
        for p, g in zip(params, grads, strict=True):
            p.grad = g.detach().clone()
        opt.step()
        for p in params:
            p.grad = None
        return params

    def load_parameters(self, m, values):
        with torch.no_grad():
            for (_, p), v in zip(m.named_parameters(), values, strict=True):
                p.copy_(v)


class ExplicitMomentumIgnored(ExplicitTorch):
    def sgd(self, params, lr, momentum=0.0):
        return super().sgd(params, lr, 0.0)


class ExplicitTapeNeverFreed(ExplicitTorch):
    def record(self, fn, inputs, retain_graph=False):
        return super().record(fn, inputs, retain_graph=True)


class ExplicitStepCopies(ExplicitTorch):
    """apply_gradients steps copies of the parameters (with the same optimizer rule) and returns them:
    right for leaves, whose new values the tests read from the result, but a model keeps its old
    weights."""

    def apply_gradients(self, opt, grads):
        if not hasattr(opt, "shadow"):
            copies = [p.detach().clone() for group in opt.param_groups for p in group["params"]]
            opt.shadow = type(opt)(copies, **opt.defaults)
        copies = opt.shadow.param_groups[0]["params"]
        for p, g in zip(copies, grads, strict=True):
            p.grad = g.detach().clone()
        opt.shadow.step()
        return list(copies)


class ExplicitStepDrifts(ExplicitTorch):
    """apply_gradients scales the gradients by 1 + k 2^-22 for the k-th optimizer it steps (state
    shared across a process, as a cached kernel's might be): far inside every tolerance, but
    training on the explicit path no longer gives bit-identical weights when it is repeated from the
    same seed (initialisation still does)."""

    def apply_gradients(self, opt, grads):
        order = self.__dict__.setdefault("_order", {})
        k = order.setdefault(id(opt), len(order) + 1)
        return super().apply_gradients(opt, [g * (1 + k * 2.0 ** -22) for g in grads])


class ExplicitUnusedGetsGradient(ExplicitTorch):
    """value_and_grad gives a parameter the loss does not depend on a gradient of ones."""

    def value_and_grad(self, m, loss_fn):
        loss = loss_fn()
        params = [p for _, p in m.named_parameters()]
        grads = torch.autograd.grad(loss, params, allow_unused=True)
        return loss.detach(), tuple(torch.ones_like(p) if g is None else g for p, g in zip(params, grads))


class ExplicitOwnParametersNoGrad(ExplicitTorch):
    """value_and_grad differentiates only the parameters of the engine's own layers: those a custom
    module holds itself (a name without a dot) get zeros."""

    def value_and_grad(self, m, loss_fn):
        loss, grads = super().value_and_grad(m, loss_fn)
        own = not type(m).__module__.startswith("torch.nn")  # a module of B.module, not a layer
        return loss, tuple(torch.zeros_like(g) if own and "." not in name else g
                           for (name, _), g in zip(m.named_parameters(), grads))


class ExplicitStaleGradients(ExplicitTorch):
    """value_and_grad answers every call for a module with the gradients of its first call (as a
    tracing engine that kept its first trace would)."""

    def value_and_grad(self, m, loss_fn):
        loss, grads = super().value_and_grad(m, loss_fn)
        first = m.__dict__.setdefault("_first_grads", grads)
        return loss, first


SUITES = ["suites/test_optimizers.py", "suites/test_retain_graph.py", "suites/test_training.py",
          "suites/test_determinism.py", "suites/test_modules.py", "suites/test_dynamic_graph.py"]
EXPLICIT_CLAIMS = {"optim.step-updates-model-weights", "optim.sgd-update-rule", "optim.zero-grad-element-unchanged",
                   "optim.manual-update-equals-sgd", "optim.sgd-momentum-rule", "optim.adam-update-rule",
                   "retain.second-backward-errors", "retain.retain-graph-allows-second",
                   "training.two-layer-sgd", "training.two-layer-adam", "training.fashion-mlp-learns",
                   "training.linreg-fits", "determinism.same-seed-same-training",
                   "modules.plain-tensor-not-registered", "modules.custom-layer-forward-only",
                   "dynamic.graph-follows-control-flow", "dynamic.unused-parameter-no-grad",
                   "dynamic.shapes-change-between-iterations"}
STEPPED_MODEL = {"training.two-layer-sgd", "training.two-layer-adam", "training.fashion-mlp-learns",
                 "training.linreg-fits", "modules.plain-tensor-not-registered"}


@pytest.mark.timeout(600)
@pytest.mark.parametrize(("backend", "expected"), [
    ("ExplicitTorch", set()),
    ("ExplicitMomentumIgnored", {"optim.sgd-momentum-rule"}),
    ("ExplicitTapeNeverFreed", {"retain.second-backward-errors", "retain.functional-grad-frees-graph"}),
    # leaves' new values are read from what apply_gradients returns, so the update rules still hold
    # on them; a model that keeps its weights does not learn, nor follow SGD at the seeds' settings
    ("ExplicitStepCopies", {"optim.step-updates-model-weights", "optim.zero-grad-element-unchanged",
                            "optim.manual-update-equals-sgd", "optim.sgd-update-rule", *STEPPED_MODEL}),
    ("ExplicitStepDrifts", {"determinism.same-seed-same-training"}),
    ("ExplicitUnusedGetsGradient", {"dynamic.unused-parameter-no-grad"}),
    # forwards of another depth or batch size, and training that needs the gradient to follow the
    # weights (30 steps of the seeds' two-layer nets still lower the loss along the first gradient;
    # the bilinear net of the core forms does not)
    ("ExplicitStaleGradients", {"dynamic.graph-follows-control-flow", "dynamic.shapes-change-between-iterations",
                                "training.fashion-mlp-learns", "training.linreg-fits", "training.two-layer-sgd",
                                "training.two-layer-adam"}),
    # the custom layer, DynamicNet, the layer with a plain tensor and the core forms' modules hold
    # their parameters themselves
    ("ExplicitOwnParametersNoGrad", {"modules.custom-layer-forward-only", "dynamic.graph-follows-control-flow",
                                     "dynamic.unused-parameter-no-grad", "modules.plain-tensor-not-registered",
                                     "optim.manual-update-equals-sgd", "optim.step-updates-model-weights",
                                     "training.two-layer-sgd", "training.two-layer-adam"}),
])
def test_explicit_paths_hold_on_the_reference_and_catch_faults(tmp_path, backend, expected):
    code, outcomes, output = run_suite(tmp_path, "--backend", f"tests.test_adapters_tensorflow_mlx:{backend}",
                                       suites=SUITES)
    ran = {c for c, tests in outcomes.items() if any(o != "skipped" for o in tests.values())}
    assert ran >= EXPLICIT_CLAIMS, f"explicit paths not run: {sorted(EXPLICIT_CLAIMS - ran)}\n{output[-2000:]}"
    assert failing_claims(outcomes) == expected, output[-3000:]
    assert code == (1 if expected else 0)
