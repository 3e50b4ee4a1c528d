"""The backend adapter protocol: the one interface a conformance test talks to.

A conformance test never imports an engine. It receives a ``Backend`` (the fixture ``B``)
and a device string, and builds every tensor, graph, module and optimizer through it.
Engine tensors are passed around as opaque values ("T") that support Python's arithmetic
operators (``+ - * / ** @``, unary ``-``, comparison ``<``); everything else goes through
the methods below.

The protocol is grouped by capability. A backend declares the capabilities it has in
``capabilities``; it only needs the methods of the groups it declares. A test that needs a
capability the backend does not declare ends as *not applicable* (see ``plugin.py``);
a backend that declares a capability and then breaks it fails.

Engines fit as follows (see ``backends/`` and the README for complete adapters):
- stateful engines (PyTorch, PaddlePaddle, mygrad, tinygrad) implement ``backward``/``grad``;
- functional engines (JAX) leave out ``Capability.BACKWARD`` and still answer every claim
  about gradient *values* through ``vjp``, which every backend implements;
- an engine without per-tensor tracking flags (tinygrad) leaves out ``REQUIRES_GRAD``;
  PaddlePaddle maps ``stop_gradient`` onto ``set_requires_grad``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any, Callable, ContextManager, Iterable, Protocol, Sequence, runtime_checkable

T = Any  # an engine tensor
Node = Any  # an engine graph node (what PyTorch calls grad_fn)
Module = Any  # an engine module / layer object; callable on tensors
Optimizer = Any  # an engine optimizer object


class Capability(str, enum.Enum):
    """Concepts an engine may or may not have. Values are the names used in messages."""

    REQUIRES_GRAD = "requires_grad"  # per-tensor opt-in flag that turns recording on/off
    GRAPH_NODES = "graph_nodes"  # a tracked result exposes the node that made it, and its inputs
    BACKWARD = "backward"  # y.backward(seed) stores gradients in the leaves' .grad
    RETAIN_GRAPH = "retain_graph"  # the graph is freed by backward unless asked to keep it
    NO_GRAD = "no_grad"  # a context in which operations are not recorded
    DETACH = "detach"  # an untracked tensor that shares values with a tracked one
    IN_PLACE = "in_place"  # tensors can be mutated in place (x.data, sub_, zero_)
    MODULES = "modules"  # layers/modules that own registered parameters
    OPTIMIZERS = "optimizers"  # SGD (with momentum) and Adam objects that step parameters
    CUSTOM_FUNCTION = "custom_function"  # user-defined forward/backward pairs
    FLOAT64 = "float64"  # double-precision tensors (B.tensor(..., dtype="float64"))
    PYTORCH_API = "pytorch_api"  # PyTorch's own names and conventions (node class names, ...)


# The methods each capability group needs (beyond EVERY_BACKEND, which all adapters implement).
# The registry refuses an adapter that declares a capability without its methods.
EVERY_BACKEND = ("available_devices", "seed", "tensor", "to_numpy", "device_of", "sum", "mean", "relu",
                 "exp", "where", "reshape", "max_pool2d", "mse_loss", "cross_entropy", "bce_with_logits",
                 "vjp")
METHODS = {
    Capability.BACKWARD: ("backward", "grad"),
    Capability.REQUIRES_GRAD: ("requires_grad", "set_requires_grad"),
    Capability.RETAIN_GRAPH: ("backward",),
    Capability.GRAPH_NODES: ("grad_fn", "node_name", "node_inputs"),
    Capability.NO_GRAD: ("no_grad",),
    Capability.DETACH: ("detach",),
    Capability.IN_PLACE: ("data", "sub_", "zero_"),
    Capability.MODULES: ("linear", "conv2d", "relu_layer", "flatten_layer", "sequential", "parameter",
                         "module", "named_parameters", "module_zero_grad"),
    Capability.OPTIMIZERS: ("sgd", "adam", "step", "zero_grad"),
    Capability.CUSTOM_FUNCTION: ("custom_function",),
}


@dataclass(frozen=True)
class Tolerance:
    """Closeness for numeric comparisons: |actual - expected| <= atol + rtol * |expected|."""

    rtol: float
    atol: float

    def __str__(self) -> str:
        return f"rtol={self.rtol:g}, atol={self.atol:g}"


@runtime_checkable
class Backend(Protocol):
    """What a conformance test may ask of an engine."""

    # --- identity -----------------------------------------------------------------------
    name: str  # e.g. "torch"
    version: str  # the engine's version string
    capabilities: frozenset[Capability]
    default_float: str  # dtype name of the engine's default float ("float32", "float64")
    tolerances: dict[str, Tolerance]  # per dtype name; shown in every numeric failure

    def available_devices(self) -> list[str]:
        """Every device usable on this machine, e.g. ["cpu", "cuda", "cuda:1"]; "cpu"-like first."""

    def seed(self, n: int) -> None:
        """Seed the engine's random generators so a run is reproducible."""

    # --- tensors (every backend) -----------------------------------------------------------
    def tensor(self, data: Any, *, device: str, dtype: str | None = None,
               requires_grad: bool | None = None) -> T:
        """A tensor from nested lists/numpy. dtype None: float data -> default_float.

        requires_grad None: whatever the engine does for a new tensor by default (the claim
        tracking.default-untracked checks that default). requires_grad=True on an engine
        without REQUIRES_GRAD still returns a tensor that gradients can flow to."""

    def to_numpy(self, t: T) -> Any:
        """The values of t as a numpy array (forces lazy engines to compute)."""

    def device_of(self, t: T) -> str:
        """The device t lives on, in the same spelling as available_devices()."""

    # --- operations (every backend) --------------------------------------------------------
    def sum(self, t: T) -> T: ...
    def mean(self, t: T) -> T: ...
    def relu(self, t: T) -> T: ...
    def exp(self, t: T) -> T: ...
    def where(self, cond: T, a: T, b: T | float) -> T: ...
    def reshape(self, t: T, shape: Sequence[int]) -> T: ...
    def max_pool2d(self, t: T, k: int) -> T: ...
    def mse_loss(self, pred: T, target: T, reduction: str = "mean") -> T: ...
    def cross_entropy(self, logits: T, labels: T) -> T:
        """Mean softmax cross-entropy; labels are integer class indices."""
    def bce_with_logits(self, z: T, y: T) -> T:
        """Mean binary cross-entropy of sigmoid(z) against y, computed from logits."""

    # --- functional differentiation (every backend) ----------------------------------------
    def vjp(self, fn: Callable[..., T], inputs: Sequence[T], seed: T | None = None
            ) -> tuple[T, tuple[T, ...]]:
        """(fn(*inputs), seed^T . d fn / d inputs). seed None: fn returns a scalar, seed 1.

        Must not change any state of the inputs (no .grad written)."""

    # --- Capability.BACKWARD (+ REQUIRES_GRAD, RETAIN_GRAPH) -------------------------------
    def backward(self, out: T, seed: T | None = None, retain_graph: bool = False) -> None:
        """Run backward from out; seed None means 1 for a scalar output."""

    def grad(self, t: T) -> T | None:
        """The gradient stored on t by backward, or None if there is none."""

    def requires_grad(self, t: T) -> bool:
        """Whether operations on t are recorded."""

    def set_requires_grad(self, t: T, flag: bool) -> T:
        """Change the flag of an existing tensor in place (torch: requires_grad_); returns t."""

    # --- Capability.GRAPH_NODES -------------------------------------------------------------
    def grad_fn(self, t: T) -> Node | None:
        """The node that produced t, None for leaves and untracked results."""

    def node_name(self, node: Node) -> str: ...
    def node_inputs(self, node: Node) -> list[Node]:
        """The nodes that feed node (torch: next_functions without the Nones)."""

    # --- Capability.NO_GRAD, DETACH, IN_PLACE -----------------------------------------------
    def no_grad(self) -> ContextManager[None]: ...
    def detach(self, t: T) -> T:
        """An untracked tensor with t's values (sharing storage where the engine can)."""
    def data(self, t: T) -> T:
        """An untracked alias of t whose in-place changes are t's changes (torch: t.data)."""
    def sub_(self, t: T, delta: T) -> None:
        """t -= delta in place, not recorded."""
    def zero_(self, t: T) -> None:
        """Fill t with zeros in place, not recorded."""

    # --- Capability.MODULES -----------------------------------------------------------------
    def linear(self, n_in: int, n_out: int, *, device: str, bias: bool = True) -> Module: ...
    def conv2d(self, c_in: int, c_out: int, k: int, *, device: str) -> Module: ...
    def relu_layer(self) -> Module: ...
    def flatten_layer(self) -> Module: ...
    def sequential(self, *layers: Module) -> Module: ...
    def parameter(self, t: T) -> T:
        """Mark t as a trainable parameter when assigned to a module (torch: nn.Parameter)."""
    def module(self, forward: Callable[..., T], **attributes: Any) -> Module:
        """A custom module whose attributes are set in the given order; calling it runs
        forward(module, *inputs). Sub-modules and parameters among the attributes are
        registered; plain tensors are not."""
    def named_parameters(self, m: Module) -> list[tuple[str, T]]:
        """The registered parameters in registration order, with dotted names."""
    def module_zero_grad(self, m: Module, set_to_none: bool = True) -> None: ...

    # --- Capability.OPTIMIZERS --------------------------------------------------------------
    def sgd(self, params: Iterable[T], lr: float, momentum: float = 0.0) -> Optimizer: ...
    def adam(self, params: Iterable[T], lr: float) -> Optimizer: ...
    def step(self, opt: Optimizer) -> None:
        """Update the parameters the optimizer was given, in place."""
    def zero_grad(self, opt: Optimizer, set_to_none: bool = True) -> None: ...

    # --- Capability.CUSTOM_FUNCTION ---------------------------------------------------------
    def custom_function(self, forward: Callable[..., tuple[T, tuple[T, ...]]],
                        backward: Callable[[tuple[T, ...], T], tuple[T, ...]]
                        ) -> Callable[..., T]:
        """A differentiable function from a forward and a backward rule.

        forward(*inputs) -> (output, residuals); backward(residuals, grad_output) ->
        one gradient per input. The residuals are what the forward saves for backward."""
