"""tinygrad (0.14) adapter.

How tinygrad's autograd maps onto the protocol
-----------------------------------------------
- Tensors are lazy: an operation builds a UOp graph, ``.numpy()`` / ``.realize()`` computes it.
- There is no per-tensor ``requires_grad`` flag in 0.14: ``Tensor.__init__`` takes only data, device
  and dtype (earlier versions had ``requires_grad: Optional[bool]``, None meaning "decide at the
  first backward"; 0.14 removed it, along with ``Tensor.no_grad`` and ``Tensor.train``; the only
  per-tensor flag left is ``is_param``, which tells optimizers parameters from buffers).
  ``Tensor.backward`` differentiates the UOp graph and gives ``.grad`` to *every* live
  float tensor reachable from the output (inputs, intermediates, leaves alike). So
  ``Capability.REQUIRES_GRAD`` is left out, and ``tensor(..., requires_grad=True)`` is an ordinary
  tensor: the engine's own notion of a trainable tensor is "any float tensor".
- There is no recorded autograd graph of node objects (torch's ``grad_fn``): the UOp graph is the
  computation itself, exists for every tensor whether or not anyone will differentiate it, and is
  replaced by a buffer when the tensor is realized. ``GRAPH_NODES`` is left out.
- Nothing frees the graph on ``backward``: it can be differentiated any number of times, and there
  is no ``retain_graph`` option. ``REPEAT_BACKWARD`` is declared, ``FREES_GRAPH`` and
  ``RETAIN_GRAPH`` are left out (the adapter ignores the protocol's ``retain_graph`` argument,
  which has nothing to map to).
- 0.14 has no ``no_grad`` context. ``NO_GRAD`` is left out.
- ``detach`` is ``Tensor.detach`` (a DETACH view of the same buffer); in-place updates are
  ``Tensor.assign``; ``data(t)`` maps onto ``t.detach()``, the view tinygrad's own optimizers
  update through (``Optimizer._apply_update``).
- Modules are plain Python objects: ``tinygrad.nn.state.get_state_dict`` / ``get_parameters`` collect
  every Tensor attribute (there is no registration step, so a "plain" tensor attribute is a
  parameter too). ``B.parameter(t)`` is ``t.is_param_(True)``, which every tensor already is.
  tinygrad has no Sequential class; its idiom is a list of callables run by ``Tensor.sequential``,
  which ``sequential`` wraps (parameter names ``layers.<i>.<name>``). ``relu_layer`` is
  ``Tensor.relu`` and ``flatten_layer`` is ``lambda x: x.flatten(1)``, as tinygrad models write them.
  ``nn.Linear`` keeps its weight as (out, in), like torch.
- Optimizers are ``tinygrad.nn.optim.SGD`` / ``Adam``; ``step`` runs under ``Context(TRAINING=1)``
  (tinygrad refuses to step otherwise). ``zero_grad`` sets gradients to None; tinygrad has no
  "fill with zeros" variant, so ``set_to_none=False`` raises Unsupported (not applicable).
- Custom functions are ``tinygrad.function(fxn, grad_fxn=...)``: the forward's residuals are
  returned as extra outputs of the function and read back in ``grad_fxn`` from the CALL.
- ``vjp`` uses ``Tensor.gradient`` (which writes no ``.grad``) on clones of the inputs, so that the
  same tensor passed twice gives two independent leaves.
- ``tensor`` always builds a buffer on the device: tinygrad turns a 0-d array or Python number into
  a device-less CONST, which ``backward`` skips (it fills ``.grad`` only for tensors with a device),
  so a scalar is made as a 1-element buffer viewed with shape ().

Devices
-------
The suite's device name ``cpu`` is tinygrad's ``CPU`` device: C kernels compiled by ``clang`` (the
binary named by the ``CC`` environment variable, default ``clang``) and loaded by tinygrad's own ELF
loader. ``python`` is tinygrad's ``PYTHON`` device (a UOp interpreter: no compiler needed, but much
slower; a test with the suite's 784-wide layers takes tens of seconds). Any other device tinygrad
can open here (``cuda``, ``cl``, ``amd``, ``nv``, ``metal``, ...) is offered under its lower-case
tinygrad name; ``cuda:1`` is ``CUDA:1``.
If ``CPU`` cannot be opened (no clang), ``available_devices`` does not list ``cpu`` and the plugin's
error names the devices that are there; ``TinygradBackend.unavailable`` records why each failed.

Working configuration on the project's CI image (Debian 12, no GPU), found by reading
tinygrad/runtime/ops_cpu.py and runtime/support/compiler_cpu.py:
- ``CPU`` needs a clang binary even for the LLVM renderer: the device compiles its worker
  programs with ``ClangRenderer`` when it opens. The image has no clang, so ``Device["CPU"]``
  fails with "No such file or directory: 'clang'" and tinygrad reports "no usable devices".
  Installing Debian's ``clang`` package (clang 14.0.6, ``apt-get install clang``) makes ``CPU``
  work; every kernel the suite compiles loads. (The "unknown relocation type 10" error, an
  R_X86_64_32 relocation, comes from code compiled without -fPIC; tinygrad's clang command line
  passes -fPIC, and with clang 14 no such relocation appeared in a full suite run.)
- ``DEV=CPU:LLVM`` (tinygrad's in-process LLVM compiler) does not work here: it loads the system
  libLLVM 14/15, which rejects tinygrad's opaque-pointer IR ("defined with type '[1 x float]*'").
- Unless the user sets ``PARALLEL``, the adapter sets tinygrad's ``PARALLEL`` to 0 (compile in the
  test process). tinygrad's default (one worker per core) compiles through a pool of *spawned*
  processes that each re-import tinygrad; on the 2-core CI machine the whole suite took 166 s with
  PARALLEL=2 and 96 s with PARALLEL=0.
- ``vjp`` realizes its inputs before differentiating: tinygrad is lazy, so a functional training
  loop (w = w - lr * g) otherwise grows w's graph every step and recomputes its whole history in
  every vjp (the suite's 30-step functional loop exceeded the 120 s timeout). Realizing changes
  neither values nor gradient paths. Gradients are *not* realized by ``backward``: see the
  expectations file for what tinygrad's lazy ``.grad`` does when weights are updated in place.
"""

from __future__ import annotations

import os
from importlib.metadata import version as _version

import numpy as np
from tinygrad import Context, Device, Tensor, dtypes, function, nn
from tinygrad.helpers import PARALLEL
from tinygrad.nn.state import get_parameters, get_state_dict

from autograd_conformance.protocol import Capability, Unsupported

if "PARALLEL" not in os.environ:  # see the module docstring
    PARALLEL.value = 0

_DTYPES = {"float32": dtypes.float32, "float64": dtypes.float64, "int64": dtypes.int64,
           "bool": dtypes.bool, "float16": dtypes.float16, "bfloat16": dtypes.bfloat16}

_NAMES = {v: k for k, v in _DTYPES.items()}

# Devices tinygrad may open, in the order offered; DISK, NPY, NULL etc. are not compute devices.
_CANDIDATES = ["CPU", "CUDA", "NV", "AMD", "HIP", "CL", "METAL", "QCOM", "WEBGPU", "PYTHON"]


class Sequential:
    """tinygrad's idiom for a stack of layers: a list of callables run by Tensor.sequential."""

    def __init__(self, *layers):
        self.layers = list(layers)

    def __call__(self, x):
        return x.sequential(self.layers)



def _flatten(x):
    return x.flatten(1)


class TinygradBackend:
    name = "tinygrad"
    version = _version("tinygrad")
    capabilities = frozenset({
        Capability.STORES_GRADIENTS, Capability.REPEAT_BACKWARD, Capability.DETACH, Capability.IN_PLACE,
        Capability.MODULES, Capability.OPTIMIZERS, Capability.CUSTOM_FUNCTION,
    })
    default_float = _NAMES[dtypes.default_float]  # tinygrad's DEFAULT_FLOAT, float32 unless set
    linear_layout = "out_in"  # nn.Linear keeps its weight as (out_features, in_features)
    # Tolerances: the defaults (assertions.DEFAULT_TOLERANCES). tinygrad fuses kernels and orders
    # reductions its own way (and computes exp as exp2(x * log2 e)); 1e-4 relative after
    # reductions of ~10^5 terms holds for every comparison in the suite on CPU.

    def __init__(self):
        self._devices: list[str] | None = None
        self.unavailable: dict[str, str] = {}  # tinygrad device -> why it could not be opened

    # --- identity ---------------------------------------------------------------------
    def available_devices(self) -> list[str]:
        if self._devices is None:
            found = []
            for dev in _CANDIDATES:
                if not self._opens(dev):
                    continue
                found.append(dev.lower())
                if dev not in ("CPU", "PYTHON"):  # further accelerators of the same kind
                    found += [f"{dev.lower()}:{i}" for i in range(1, 16)
                              if self._opens(f"{dev}:{i}", record=False)]
            self._devices = found
        return list(self._devices)

    def _opens(self, dev: str, record: bool = True) -> bool:
        try:
            Device[dev]
        except Exception as exc:  # noqa: BLE001 - any failure means "not usable here"
            if record:
                self.unavailable[dev] = f"{type(exc).__name__}: {exc}"
            return False
        return True

    def seed(self, n: int) -> None:
        Tensor.manual_seed(n)

    def _dev(self, device: str) -> str:
        """The suite's device name -> tinygrad's ("cpu" -> "CPU", "cuda:1" -> "CUDA:1")."""
        if device not in self.available_devices():
            raise ValueError(f"tinygrad device {device!r} is not available here; available: "
                             f"{', '.join(self.available_devices())}")
        kind, _, index = device.partition(":")
        return kind.upper() + (f":{index}" if index else "")

    # --- tensors ------------------------------------------------------------------------
    def tensor(self, data, *, device, dtype=None, requires_grad=None):
        # requires_grad has nothing to map to: every float tensor can receive a gradient
        if isinstance(data, Tensor):
            data = data.numpy()
        array = np.asarray(data)
        if dtype is None:
            dtype = self.default_float if array.dtype.kind == "f" else None
        if dtype is not None:
            array = array.astype(np.dtype(dtype) if dtype != "bfloat16" else np.float32)
        elif array.dtype.kind == "i":
            array = array.astype(np.int64)
        # A 0-d numpy array (or Python number) would become a device-less CONST, which backward
        # skips; the protocol's tensor lives in a buffer on `device`, so build it flat and view it.
        t = Tensor(np.ascontiguousarray(array.reshape(-1)), device=self._dev(device),
                   dtype=_DTYPES[dtype] if dtype else None)
        return t.realize().reshape(array.shape)

    def to_numpy(self, t):
        return t.numpy()

    def device_of(self, t) -> str:
        return str(t.device).lower()

    # --- operations ---------------------------------------------------------------------
    def sum(self, t):
        return t.sum()

    def mean(self, t):
        return t.mean()

    def relu(self, t):
        return t.relu()

    def exp(self, t):
        return t.exp()

    def where(self, cond, a, b):
        return cond.where(a, b)

    def reshape(self, t, shape):
        return t.reshape(tuple(shape))

    def max_pool2d(self, t, k):
        return t.max_pool2d(kernel_size=tuple(k) if isinstance(k, tuple) else (k, k))

    def item(self, t):
        return t.item()

    def clone(self, t):
        return t.clone()

    def mask_assign_(self, t, mask, value):
        t.assign(mask.where(value, t))  # tinygrad's in-place write: assign

    def transpose(self, t):
        return t.T

    def convolve2d(self, x, weight, bias):
        return x.conv2d(weight, bias)

    def mse_loss(self, pred, target, reduction="mean"):
        # tinygrad has no MSE helper; this is its definition, differentiated by tinygrad
        squared = (pred - target) ** 2
        return {"mean": squared.mean, "sum": squared.sum}.get(reduction, lambda: squared)()

    def cross_entropy(self, logits, labels):
        return logits.sparse_categorical_crossentropy(labels)

    def bce_with_logits(self, z, y):
        return z.binary_crossentropy_logits(y)

    # --- functional differentiation -------------------------------------------------------
    def vjp(self, fn, inputs, cotangent=None):
        # Realize the inputs first (values and gradient paths are unchanged), so that a loop of
        # w = w - lr * g does not make every vjp recompute the whole lazy history of w; then
        # clone them into distinct buffers: the same input twice is two leaves.
        Tensor.realize(*inputs)
        leaves = [x.clone().realize() for x in inputs]
        out = fn(*leaves)
        grads = out.gradient(*leaves, gradient=cotangent)
        return out.detach(), tuple(grads)

    # --- backward -------------------------------------------------------------------------
    def backward(self, out, cotangent=None, retain_graph=False):
        out.backward(cotangent)

    def grad(self, t):
        return t.grad

    # --- detach, in place -----------------------------------------------------------------
    def detach(self, t):
        return t.detach()

    def data(self, t):
        return t.detach()

    def sub_(self, t, delta):
        t.assign(t.detach() - delta.detach()).realize()

    def zero_(self, t):
        t.assign(t.detach().zeros_like()).realize()

    # --- modules ----------------------------------------------------------------------------
    def linear(self, n_in, n_out, *, device, bias=True):
        with Context(DEV=self._dev(device)):
            layer = nn.Linear(n_in, n_out, bias=bias)
        return self._realized(layer)

    def conv2d(self, c_in, c_out, k, *, device):
        with Context(DEV=self._dev(device)):
            layer = nn.Conv2d(c_in, c_out, k)
        return self._realized(layer)

    @staticmethod
    def _realized(layer):
        Tensor.realize(*get_parameters(layer))
        return layer

    def linear_parameters(self, layer):
        return layer.weight, layer.bias

    def conv2d_parameters(self, layer):
        return layer.weight, layer.bias  # weight (out_channels, in_channels, k, k), as torch

    def relu_layer(self):
        return Tensor.relu

    def flatten_layer(self):
        return _flatten

    def sequential(self, *layers):
        return Sequential(*layers)

    def parameter(self, t):
        return t.is_param_(True)

    def module(self, forward, **attributes):
        class Custom:  # a plain object whose attributes are its state, as tinygrad models are
            def __call__(self, *inputs):
                return forward(self, *inputs)

        m = Custom()
        for key, value in attributes.items():
            setattr(m, key, value)
        return m

    def named_parameters(self, m):
        # every Tensor attribute, in attribute order; a function used as a layer has none
        return list(get_state_dict(m).items())

    def module_zero_grad(self, m, set_to_none=None):
        if set_to_none is False:  # tinygrad only resets gradients to None (None: its default)
            raise Unsupported("module_zero_grad(set_to_none=False)")
        for p in get_parameters(m):
            p.grad = None

    # --- optimizers -------------------------------------------------------------------------
    def sgd(self, params, lr, momentum=0.0):
        return nn.optim.SGD(list(params), lr=lr, momentum=momentum)

    def adam(self, params, lr):
        return nn.optim.Adam(list(params), lr=lr)

    def step(self, opt):
        with Context(TRAINING=1):
            opt.step()

    def zero_grad(self, opt, set_to_none=None):
        if set_to_none is False:  # tinygrad's Optimizer.zero_grad only sets gradients to None
            raise Unsupported("zero_grad(set_to_none=False)")
        opt.zero_grad()

    # --- custom functions -------------------------------------------------------------------
    def custom_function(self, forward, backward):
        saved: list[list] = []  # per call, the residuals; OUTPUT where a tensor leaves as an output
        output = object()

        def body(*inputs):
            out, residuals = forward(*inputs)
            tensors = [r for r in residuals if isinstance(r, Tensor)]
            saved.append([output if isinstance(r, Tensor) else r for r in residuals])
            return (out, *tensors) if tensors else out

        def grad_fxn(*grads, call=None):
            if call is None:  # tinygrad passes (grad, call) positionally for one gradient
                *grads, call = grads
            args = call.src[1:]  # the function's (deduplicated) inputs, explicit ones first
            outputs = iter(range(1, len(saved[-1]) + 1))
            residuals = tuple(Tensor(call.gettuple(next(outputs))) if r is output else r for r in saved[-1])
            in_grads = backward(residuals, Tensor(grads[0]))
            uops = tuple(None if g is None else g.uop for g in in_grads)
            return uops + (None,) * (len(args) - len(uops))

        fn = function(body, grad_fxn=grad_fxn)

        def apply(*inputs):
            # tinygrad traces the function with device access switched off; constants in it take
            # Device.DEFAULT, so name the inputs' device rather than let tinygrad probe for one
            with Context(DEV=str(inputs[0].device)):
                result = fn(*inputs)
            return result[0] if isinstance(result, tuple) else result

        return apply
