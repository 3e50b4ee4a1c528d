"""mygrad (https://mygrad.readthedocs.io): drop-in autodiff for NumPy, CPU only.

How mygrad's concepts map onto the protocol:

- tracking: mygrad's per-tensor flag is ``Tensor.constant`` (the inverse of requires_grad), fixed
  when the tensor is made; ``requires_grad=False`` -> ``constant=True``, and None leaves mygrad's own
  default (float tensors are tracked). ``Tensor.constant`` is read-only, so an existing tensor's flag
  cannot be switched: SET_REQUIRES_GRAD is not declared.
- graph nodes: ``Tensor.creator`` is the Operation that made a tensor, ``Operation.variables`` its
  input tensors. mygrad's graph ends in the leaf tensors themselves (no AccumulateGrad-like
  object), so a tracked leaf input is reported as its own node; constant inputs are left out,
  as torch leaves out the inputs that do not require grad.
- backward: ``Tensor.backward(grad)`` writes ``.grad`` (a numpy array) on every non-constant tensor
  of the graph, intermediates included, replacing earlier values, and then always clears the
  graph: FREES_GRAPH is declared. There is no retain_graph argument (``retain_graph=True`` raises
  Unsupported here), so neither RETAIN_GRAPH nor REPEAT_BACKWARD is.
- no_grad: ``mg.no_autodiff``; detach: ``mg.astensor(t, constant=True)`` (a constant tensor on the
  same numpy array); ``.data``: mygrad's own ``Tensor.data``, the numpy array itself; in-place:
  mygrad's augmented assignment under ``no_autodiff`` for tensors, numpy's for arrays.
- custom functions: a ``mygrad.operation_base.Operation`` subclass run with ``mg.execute_op``.
- no modules and no optimizers: mygrad has neither (they live in the separate mynn package).
"""

from __future__ import annotations

import numpy as np
import mygrad as mg
from mygrad.operation_base import Operation

from autograd_conformance.protocol import Capability, Unsupported

C = Capability


class MygradBackend:
    name = "mygrad"
    version = mg.__version__
    capabilities = frozenset({C.REQUIRES_GRAD, C.GRAPH_NODES, C.STORES_GRADIENTS, C.FREES_GRAPH, C.NO_GRAD,
                              C.DETACH, C.IN_PLACE, C.CUSTOM_FUNCTION, C.FLOAT64})
    # numpy's default float: mg.tensor(1.0).dtype is float64.
    default_float = "float64"
    # Tolerances: the defaults (assertions.DEFAULT_TOLERANCES): mygrad computes with numpy's own kernels,
    # so results agree with a float64 numpy reference to rounding.

    # --- identity ---------------------------------------------------------------------
    def available_devices(self) -> list[str]:
        return ["cpu"]  # numpy arrays live in host memory

    def seed(self, n: int) -> None:
        np.random.seed(n)  # mygrad.random draws from numpy's global generator

    # --- tensors ------------------------------------------------------------------------
    def tensor(self, data, *, device, dtype=None, requires_grad=None):
        self._check_device(device)
        array = np.array(data.data if isinstance(data, mg.Tensor) else data)  # a copy
        if dtype is None and array.dtype.kind == "f":
            dtype = self.default_float
        # requires_grad None: mygrad's own default (floats are tracked, integers constant)
        constant = None if requires_grad is None else not requires_grad
        return mg.tensor(array, dtype=dtype, constant=constant)

    def to_numpy(self, t):
        return np.asarray(t.data if isinstance(t, mg.Tensor) else t)

    def device_of(self, t) -> str:
        return "cpu"

    def _check_device(self, device):
        if device != "cpu":
            raise ValueError(f"mygrad has only the 'cpu' device, not {device!r}")

    # --- operations ---------------------------------------------------------------------
    def sum(self, t):
        return mg.sum(t)

    def mean(self, t):
        return mg.mean(t)

    def relu(self, t):
        return mg.nnet.relu(t)

    def exp(self, t):
        return mg.exp(t)

    def where(self, cond, a, b):
        return mg.where(cond, a, b)

    def reshape(self, t, shape):
        return mg.reshape(t, tuple(shape))

    def max_pool2d(self, t, k):
        window = tuple(k) if isinstance(k, tuple) else (k, k)  # mygrad's pool takes the pair
        return mg.nnet.max_pool(t, window, window)

    def item(self, t):
        return t.item()

    def clone(self, t):
        return mg.Tensor(t, copy=True, constant=t.constant)

    def mask_assign_(self, t, mask, value):
        t[mask] = value

    def transpose(self, t):
        return mg.transpose(t)

    def mse_loss(self, pred, target, reduction="mean"):
        # mygrad has no MSE loss; composed from its ops (mygrad differentiates them)
        squared = (pred - target) ** 2
        return mg.mean(squared) if reduction == "mean" else mg.sum(squared)

    def cross_entropy(self, logits, labels):
        return mg.nnet.softmax_crossentropy(logits, labels.data if isinstance(labels, mg.Tensor) else labels)

    def bce_with_logits(self, z, y):
        # mygrad has no BCE loss; log(1 + e^z) - y z, the stable logits form, from its ops
        return mg.mean(mg.logaddexp(0.0, z) - y * z)

    # --- functional differentiation -------------------------------------------------------
    def vjp(self, fn, inputs, cotangent=None):
        leaves = [mg.tensor(self.to_numpy(x), constant=False) for x in inputs]  # copies: inputs untouched
        out = fn(*leaves)
        out.backward(None if cotangent is None else self.to_numpy(cotangent))
        grads = tuple(mg.tensor(np.zeros_like(x.data) if x.grad is None else x.grad, constant=True)
                      for x in leaves)
        return out, grads

    # --- backward -------------------------------------------------------------------------
    def backward(self, out, cotangent=None, retain_graph=False):
        if retain_graph:  # Tensor.backward(grad) always clears the graph after back-propagation
            raise Unsupported("backward(retain_graph=True)")
        out.backward(None if cotangent is None else self.to_numpy(cotangent))

    def grad(self, t):
        return t.grad  # a numpy array, or None

    def requires_grad(self, t):
        return isinstance(t, mg.Tensor) and not t.constant  # numpy arrays act as constants

    # --- graph nodes ----------------------------------------------------------------------
    def grad_fn(self, t):
        return t.creator

    def node_name(self, node):
        return type(node).__name__

    def node_inputs(self, node):
        if isinstance(node, mg.Tensor):  # a leaf: the end of mygrad's graph
            return []
        return [v.creator if v.creator is not None else v for v in node.variables if not v.constant]

    # --- no_grad, detach, in place --------------------------------------------------------
    def no_grad(self):
        return mg.no_autodiff

    def detach(self, t):
        return mg.astensor(t, constant=True)

    def data(self, t):
        return t.data

    def sub_(self, t, delta):
        delta = self.to_numpy(delta)
        if isinstance(t, mg.Tensor):
            with mg.no_autodiff:
                t -= delta
        else:
            t -= delta

    def zero_(self, t):
        if isinstance(t, mg.Tensor):
            with mg.no_autodiff:
                t[...] = 0
        else:
            t[...] = 0

    # --- custom functions -------------------------------------------------------------------
    def custom_function(self, forward, backward):
        class Custom(Operation):
            """forward/backward run untracked on the op's inputs, as mygrad's own ops run numpy."""

            def __call__(self, *variables):
                self.variables = variables
                with mg.no_autodiff:
                    out, self.residuals = forward(*variables)
                self.grads = None
                return np.asarray(out.data if isinstance(out, mg.Tensor) else out)

            def backward_var(self, grad, index, **kwargs):
                if self.grads is None:  # one call of the rule gives every input's gradient
                    with mg.no_autodiff:
                        grads = backward(tuple(self.residuals), mg.tensor(grad, constant=True))
                    self.grads = [np.asarray(g.data if isinstance(g, mg.Tensor) else g) for g in grads]
                return self.grads[index]

        return lambda *inputs: mg.execute_op(Custom, *inputs)
