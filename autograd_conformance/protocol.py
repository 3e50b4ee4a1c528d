"""The backend adapter protocol: the one interface a conformance test talks to.

A conformance test never imports an engine. It receives the adapter (the fixture ``B``) and a
device string, and builds every tensor, graph, module and optimizer through it.

The contracts, in one place
---------------------------
- **The core vocabulary** (``CORE_METHODS``, ``CORE_OPERATORS`` below) is what every test
  may use: making tensors, reading values (``to_numpy``), the tensor operators ``+ - * /`` between
  tensors of the same shape and with Python floats, ``t ** 2``, unary ``-``, ``sum``, and ``vjp`` of a
  function whose output is one number. A test uses the core vocabulary plus exactly what its claim
  is about; anything else it calls is a *prerequisite* with its own claim (``claims.PREREQUISITES``),
  and when that claim fails on an engine, the tests that merely rely on it are *blocked*, not failed.
- **A tensor** ("T") is whatever object the engine uses; it may be a numpy subclass, a Python
  scalar wrapper or anything else. Tests read values only through ``to_numpy``, and compare them by
  value: a one-number result of shape ``(1,)`` reads as the number (only the claim about a
  reduction's shape looks at its shape).
- **to_numpy(t)** accepts anything the adapter returned: a tensor, a gradient from ``grad``, an
  element of the tuple ``vjp`` returns. It returns a numpy array (a copy or a view) of the tensor's
  shape, forcing lazy engines to compute.
- **grad(t)** returns the gradient backward stored for ``t`` (or None). Tests only read it with
  ``to_numpy``, pass it to ``sub_``/``zero_`` (an engine with IN_PLACE must then change the stored
  gradient itself: ``zero_(grad(t))`` resets it) and combine it with the tensor operators.
- **Registration order**: ``named_parameters(m)`` lists a module's parameters in the order its
  attributes were assigned (``module(forward, a=..., b=...)``: a's before b's); inside a
  sub-module, in the order that sub-module registered them. Names are dotted paths
  (``linear1.weight``). Tests find a Linear layer's weight and bias with ``linear_parameters``,
  never by position, and read the weight's orientation from ``linear_layout``.
- **Operations are optional one by one.** A method in ``OPERATIONS`` that the adapter does not
  define, or that raises ``Unsupported``, makes only the tests that call it *not applicable*,
  naming the operation. ``matmul`` and ``lt`` default to the tensor's ``@`` and ``<`` operators,
  ``watch`` to a weak reference, when the adapter does not define them.
- **The adapter rule**: an adapter maps each method to what the engine's own users write for it
  with the engine's public API (a loss the engine documents as a composition of its operations may
  be that composition); it never writes a gradient rule, a numerical algorithm or a behaviour the
  engine lacks (no home-made accumulation, no emulated error, no hand-written backward).
- **Adapter faults are the adapter's**: a method that returns something that is not a tensor, a
  tensor of another shape or float dtype than asked for, or raises TypeError/AttributeError from the
  adapter's own code, ends the test as *adapter error* naming the method (``AdapterError``).
- **Capabilities are concepts**, each stated as behaviour a test can observe (``Capability``
  below). A test that needs a concept the backend does not declare is *not applicable*; a
  backend that declares it and behaves otherwise fails. ``METHODS`` lists the methods each
  capability needs; the registry refuses an adapter that declares a capability without them.
- **Workload size**: ``max_workload`` (optional, default no limit) is the largest test workload,
  in scalar multiply-adds of one forward pass, the engine can run here; bigger tests end as
  *too large* rather than exhausting the machine.
- **Tolerances** (optional): per dtype name; ``assertions.DEFAULT_TOLERANCES`` fills in the rest.
- **Environment** (optional): the names of environment variables that change what the engine
  does (``XLA_FLAGS``); rerun lines carry those the run had (rerun.py).
- **Where gradients live.** A stateful engine stores them on tensors (STORES_GRADIENTS: ``backward`` then
  ``grad``). An engine whose optimizer holds them declares OPTIMIZER_GRADIENTS and implements
  ``optimizer_backward(opt, loss)`` (adds the loss's gradients to those the optimizer holds) and
  ``optimizer_grad(opt, p)``, and its ``step``/``zero_grad`` use and clear them; a claim about
  gradients kept until zeroed needs either (``KEPT_GRADIENTS``). An engine whose gradients are returned (a tape, a
  function transformation) computes them with ``record`` (a backward that a tape or closure
  computes, for the freed/retained-graph claims) and ``value_and_grad`` (a module's parameter
  gradients), and its optimizers step with gradients given explicitly (``apply_gradients``). Each
  test takes the engine's own path (``gradients.py``): the optimizer's where it holds gradients,
  else the stored one where the backend declares STORES_GRADIENTS, else the explicit one; ``ONE_OF`` lists
  the capabilities several paths serve, ``PATHS`` the methods of each.

Engines fit as follows (see ``backends/`` and docs/adapter-guide.md for complete adapters):
- stateful engines (PyTorch, PaddlePaddle, mygrad, tinygrad) implement ``backward``/``grad``;
- functional engines (JAX) leave out ``Capability.STORES_GRADIENTS`` and still answer every claim about
  gradient *values* through ``vjp``, which every backend implements;
- tape engines (TensorFlow) leave out STORES_GRADIENTS and declare FREES_GRAPH/RETAIN_GRAPH through
  ``record`` (a non-persistent tape answers once, a persistent one again); engines whose
  optimizers take gradients explicitly (TensorFlow/Keras, MLX) declare OPTIMIZERS through
  ``apply_gradients`` and ``value_and_grad``;
- engines whose optimizer holds the gradients (``opt.backward(loss)``, ``opt.step()``) declare
  OPTIMIZERS and OPTIMIZER_GRADIENTS with ``optimizer_backward``, ``optimizer_grad`` and ``step``;
- an engine that never frees its graph declares REPEAT_BACKWARD and neither FREES_GRAPH nor
  RETAIN_GRAPH; one that always frees it and cannot keep it declares only FREES_GRAPH.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any, Callable, ContextManager, Iterable, Protocol, Sequence


class Capability(str, enum.Enum):
    """Concepts an engine may or may not have, each as what a test can observe."""

    STORES_GRADIENTS = "stores_gradients"  # backward(out, cotangent) stores gradients that grad(t)
    #                                        then returns (PyTorch's .grad)
    REQUIRES_GRAD = "requires_grad"  # tensor(requires_grad=False) is untracked; requires_grad(t) tells
    SET_REQUIRES_GRAD = "set_requires_grad"  # an existing tensor's flag can be switched in place
    GRAPH_NODES = "graph_nodes"  # a recorded result exposes the node that made it, and its inputs
    FREES_GRAPH = "frees_graph"  # backward (or record's pullback) releases what the graph saved:
    #                              a graph is run backward once
    RETAIN_GRAPH = "retain_graph"  # retain_graph=True (to backward, or to record) keeps a graph
    #                                that backward would free
    REPEAT_BACKWARD = "repeat_backward"  # backward may run again through a graph the engine still
    #                                      has (kept with retain_graph=True, or never freed)
    NO_GRAD = "no_grad"  # a context in which operations are not recorded
    DETACH = "detach"  # a tensor with t's values that gradients do not flow through
    IN_PLACE = "in_place"  # tensors are mutable in place (t.data, sub_, zero_), unrecorded
    MODULES = "modules"  # modules that own registered parameters
    OPTIMIZERS = "optimizers"  # optimizer objects that step the parameters they were given, from
    #                            gradients stored on them (step), held by the optimizer
    #                            (optimizer_backward, step) or given (apply_gradients)
    OPTIMIZER_GRADIENTS = "optimizer_gradients"  # the optimizer holds the gradients:
    #                      optimizer_backward(opt, loss) adds to them, step applies, zero_grad clears
    CUSTOM_FUNCTION = "custom_function"  # user-defined forward/backward pairs
    FLOAT64 = "float64"  # double-precision tensors (B.tensor(..., dtype="float64"))
    PYTORCH_API = "pytorch_api"  # PyTorch's own names and conventions (node class names, ...)
    BACKWARD = "stores_gradients"  # STORES_GRADIENTS' name before 0.2, kept as an alias

    @classmethod
    def _missing_(cls, value):
        return cls.STORES_GRADIENTS if value == "backward" else None  # the value before 0.2


# The core vocabulary: what every test may use without saying so, because every engine that has the
# capabilities a claim names has it. Anything else a test calls is either what its claim is about
# (claims.Claim.about) or a prerequisite it declares (@pytest.mark.uses), checked by its own claim
# (claims.PREREQUISITES).
# - the methods of EVERY_BACKEND below, with vjp on a function whose output is one number (cotangent None);
# - the tensor operators + - * / between two tensors of the same shape, and between a tensor and a
#   Python float (either side); t ** 2; unary -;
# - sum(t), the sum of every element, read by value (its shape is the claim backward.sum-is-zero-dim's);
# - the methods of the capabilities the claim (or the test's needs marker) names (METHODS), and
#   the methods of the path by which the engine keeps gradients (PATHS).
CORE_OPERATORS = ("+", "-", "*", "/", "** 2", "unary -")
EVERY_BACKEND = ("available_devices", "seed", "tensor", "to_numpy", "device_of", "vjp")
CORE_METHODS = EVERY_BACKEND + ("sum",)

METHODS = {
    Capability.STORES_GRADIENTS: ("backward", "grad"),
    Capability.REQUIRES_GRAD: ("requires_grad",),
    Capability.SET_REQUIRES_GRAD: ("set_requires_grad",),
    Capability.GRAPH_NODES: ("grad_fn", "node_name", "node_inputs"),
    Capability.FREES_GRAPH: (),  # backward or record: see ONE_OF
    Capability.RETAIN_GRAPH: (),
    Capability.REPEAT_BACKWARD: (),
    Capability.NO_GRAD: ("no_grad",),
    Capability.DETACH: ("detach",),
    Capability.IN_PLACE: ("data", "sub_", "zero_"),
    Capability.MODULES: ("parameter", "module", "named_parameters"),
    Capability.OPTIMIZERS: ("sgd",),  # and step or apply_gradients: see ONE_OF
    Capability.OPTIMIZER_GRADIENTS: ("optimizer_backward", "optimizer_grad"),  # and OPTIMIZERS' methods
    Capability.CUSTOM_FUNCTION: ("custom_function",),
}


class AnyOf(frozenset):
    """A need that any one of several capabilities meets, in a claim's needs."""

    @property
    def value(self) -> str:
        return " or ".join(sorted(c.value for c in self))


# Gradients kept between backward and an optimizer step: stored on tensors, or held by the optimizer.
KEPT_GRADIENTS = AnyOf({Capability.STORES_GRADIENTS, Capability.OPTIMIZER_GRADIENTS})


def lacking(needs, declared) -> list[str]:
    """The needs (capabilities, or AnyOf alternatives) that the declared capabilities do not meet."""
    return [n.value for n in needs if not (n & declared if isinstance(n, AnyOf) else n in declared)]
# Capabilities whose tests run through either of two paths (stored gradients, or gradients that a
# tape or transformation returns): the backend needs at least one method of each group.
ONE_OF = {
    Capability.FREES_GRAPH: ("backward", "record", "optimizer_backward"),
    Capability.RETAIN_GRAPH: ("backward", "record", "optimizer_backward"),
    Capability.REPEAT_BACKWARD: ("backward", "record", "optimizer_backward"),
    Capability.OPTIMIZERS: ("step", "apply_gradients"),
}
# The methods of the paths by which an engine keeps gradients ("where gradients live" in
# protocol.py, gradients.py): a test of a capability may call the methods of any of its paths without
# declaring them, since which one it takes is the engine's design, not the test's choice.
_STORED = ("backward", "grad", "module_zero_grad")
_HELD = ("optimizer_backward", "optimizer_grad", "sgd", "zero_grad", "step")
_RETURNED = ("value_and_grad", "apply_gradients", "load_parameters")
PATHS = {
    Capability.STORES_GRADIENTS: ("module_zero_grad",),
    Capability.FREES_GRAPH: ("record",) + _STORED + _HELD,
    Capability.RETAIN_GRAPH: ("record",) + _STORED + _HELD,
    Capability.REPEAT_BACKWARD: ("record",) + _STORED + _HELD,
    Capability.MODULES: ("sequential",) + _STORED + _HELD + _RETURNED,
    Capability.OPTIMIZERS: _STORED + _HELD + _RETURNED,
    Capability.OPTIMIZER_GRADIENTS: _HELD,
}
# Operations a test may call; each is optional (see "Operations are optional one by one").
OPERATIONS = ("sum", "mean", "relu", "exp", "where", "reshape", "matmul", "lt", "max_pool2d",
              "mse_loss", "cross_entropy", "bce_with_logits", "transpose", "convolve2d", "jacobian",
              "to_device", "sub_recorded", "variable", "watch", "item", "clone", "mask_assign_",
              # module layers and helpers (Capability.MODULES)
              "linear", "linear_parameters", "conv2d", "conv2d_parameters", "relu_layer", "flatten_layer",
              "sequential", "module_zero_grad", "module_to",
              # optimizers (Capability.OPTIMIZERS)
              "adam", "zero_grad",
              # where gradients live, besides stored on tensors (see protocol.py)
              "record", "value_and_grad", "apply_gradients", "load_parameters",
              "optimizer_backward", "optimizer_grad")


class Unsupported(BaseException):
    """Raised by an adapter for an operation, or a variant of one, that the engine does not have
    (``raise Unsupported("zero_grad(set_to_none=False)")``): in a conformance run the test that asked
    is *not applicable*, and the report names the operation. It is not a pytest skip: anywhere else
    (the project's own tests, a script) it is an error like any other. Like pytest's own outcomes
    it derives from BaseException, so that no ``except Exception`` on its way (an engine's, a
    test's, Hypothesis's retries) takes it for a failure."""

    def __init__(self, operation: str) -> None:
        super().__init__(f"operation {operation}")
        self.operation = operation


class AdapterError(BaseException):
    """The adapter broke its contract, as the suite can tell without knowing the engine: a method
    returned something that is not a tensor, a tensor of another shape or dtype than was asked for,
    or raised TypeError/AttributeError from the adapter's own code. The test's outcome is *adapter
    error*, naming the method: neither the claim's failure nor not applicable."""

    def __init__(self, method: str, problem: str) -> None:
        super().__init__(f"adapter error in {method}: {problem}")
        self.method, self.problem = method, problem


@dataclass(frozen=True)
class Tolerance:
    """Closeness for numeric comparisons: |actual - expected| <= atol + rtol * |expected|."""

    rtol: float
    atol: float

    def __str__(self) -> str:
        return f"rtol={self.rtol:g}, atol={self.atol:g}"


# ---------------------------------------------------------------------------- the methods
T = Any  # an engine tensor
Node = Any  # an engine graph node (what PyTorch calls grad_fn)
Module = Any  # an engine module / layer object; callable on tensors
Optimizer = Any  # an engine optimizer object


class Core(Protocol):
    """What every adapter has: identity, tensors, functional differentiation."""

    name: str  # e.g. "torch"
    version: str  # the engine's version string
    capabilities: frozenset[Capability]
    default_float: str  # dtype name of the engine's default float ("float32", "float64")
    # optional: tolerances: dict[str, Tolerance]; max_workload: int; environment: tuple[str, ...]

    def available_devices(self) -> list[str]:
        """Every device usable on this machine, e.g. ["cpu", "cuda", "cuda:1"]; "cpu"-like first."""

    def seed(self, n: int) -> None:
        """Seed the engine's random generators (initialisation) so a run is reproducible."""

    def tensor(self, data: Any, *, device: str, dtype: str | None = None,
               requires_grad: bool | None = None) -> T:
        """A new tensor holding a copy of nested lists/numpy data. dtype None: float data ->
        default_float. requires_grad None: the engine's own default for a new tensor;
        True on an engine without REQUIRES_GRAD still gives a tensor gradients can flow to."""

    def to_numpy(self, t: T) -> Any: ...
    def device_of(self, t: T) -> str:
        """The device t lives on, in the same spelling as available_devices()."""

    def vjp(self, fn: Callable[..., T], inputs: Sequence[T], cotangent: T | None = None
            ) -> tuple[T, tuple[T, ...]]:
        """(fn(*inputs), cotangent^T . d fn / d inputs): one gradient per input, zeros where fn does
        not depend on it. cotangent (what PyTorch calls grad_outputs, the "seed" of backward) None:
        fn returns a scalar, cotangent 1. Changes no state of the inputs."""


# What the registry requires of every adapter: Core's attributes and methods.
REQUIRED_ATTRIBUTES = (*Core.__annotations__, *EVERY_BACKEND)


class Operations(Protocol):
    """Every method optional (see the module docstring)."""

    def sum(self, t: T) -> T: ...
    def mean(self, t: T) -> T: ...
    def relu(self, t: T) -> T: ...
    def exp(self, t: T) -> T: ...
    def where(self, cond: T, a: T, b: T | float) -> T: ...
    def reshape(self, t: T, shape: Sequence[int]) -> T: ...
    def matmul(self, a: T, b: T) -> T:
        """a @ b with numpy's rules for vectors and matrices (default: the @ operator)."""
    def lt(self, a: T, b: T | float) -> T:
        """Elementwise a < b, usable as where()'s condition (default: the < operator)."""
    def max_pool2d(self, t: T, k: int | tuple[int, int]) -> T:
        """Max over non-overlapping windows of an (N, C, H, W) tensor: k x k for a number, k[0] x
        k[1] for a pair (what the engine's users write for each; an engine whose pooling takes
        only pairs is given (k, k))."""
    def mse_loss(self, pred: T, target: T, reduction: str = "mean") -> T: ...
    def cross_entropy(self, logits: T, labels: T) -> T:
        """Mean softmax cross-entropy; labels are integer class indices."""
    def bce_with_logits(self, z: T, y: T) -> T:
        """Mean binary cross-entropy of sigmoid(z) against y, computed from logits."""
    def transpose(self, t: T) -> T:
        """The transpose of a 2-d tensor (torch: t.t())."""
    def convolve2d(self, x: T, weight: T, bias: T) -> T:
        """The engine's functional 2-d convolution (torch: F.conv2d): a valid, stride-1
        cross-correlation of x (N, C_in, H, W) with weight (C_out, C_in, k, k), plus bias (C_out,)."""
    def jacobian(self, fn: Callable[[T], T], x: T) -> T:
        """The full Jacobian of fn at x, shape fn(x).shape + x.shape, from the engine's own
        Jacobian function (torch: torch.autograd.functional.jacobian)."""
    def to_device(self, t: T, device: str) -> T:
        """t moved (copied) to device, in available_devices()' spelling (torch: t.to(device))."""
    def variable(self, t: T) -> T:
        """The engine's legacy variable wrapper applied to t (torch: torch.autograd.Variable(t))."""
    def item(self, t: T) -> float:
        """The value of a one-element tensor as a Python number (torch: t.item())."""
    def clone(self, t: T) -> T:
        """A copy of t with its own storage (torch: t.clone())."""
    def mask_assign_(self, t: T, mask: T, value: float) -> None:
        """t[mask] = value in place, mask a boolean tensor of t's shape such as lt()'s result
        (Capability.IN_PLACE engines)."""
    def watch(self, t: T) -> Callable[[], bool]:
        """A function that says whether t is still alive (default: a weak reference to t); an
        adapter for an engine whose tensors cannot be weakly referenced may observe it its own way."""


class Backward(Protocol):
    """Capability.STORES_GRADIENTS (and FREES_GRAPH, RETAIN_GRAPH, REPEAT_BACKWARD, REQUIRES_GRAD)."""

    def backward(self, out: T, cotangent: T | None = None, retain_graph: bool = False) -> None:
        """Run backward from out; cotangent None means 1 for a scalar output. An engine without
        RETAIN_GRAPH ignores retain_graph=True if its graphs are never freed, and raises
        Unsupported if they are."""

    def grad(self, t: T) -> T | None:
        """The gradient backward stored for t, or None if there is none."""

    def requires_grad(self, t: T) -> bool:
        """Whether operations on t are recorded (Capability.REQUIRES_GRAD)."""

    def record(self, fn: Callable[..., T], inputs: Sequence[T], retain_graph: bool = False
               ) -> tuple[T, Callable[..., tuple[T, ...]]]:
        """A backward that a tape or closure computes (optional; for engines without STORES_GRADIENTS):
        run fn(*inputs) once, recording, and return (out, pullback). pullback(cotangent=None) returns
        the gradient of out with respect to each of inputs (the objects given: tensors or
        parameters), zeros where out does not depend on one, and stores nothing. With
        FREES_GRAPH a second pullback call raises unless retain_graph=True (RETAIN_GRAPH keeps
        the recording); torch: autograd.grad(out, inputs, cotangent, retain_graph=...); TensorFlow:
        GradientTape(persistent=retain_graph)."""

    def set_requires_grad(self, t: T, flag: bool) -> T:
        """Switch the flag of the tensor t itself (torch: requires_grad_); returns t."""


class GraphNodes(Protocol):
    def grad_fn(self, t: T) -> Node | None:
        """The node that produced t, None for leaves and untracked results."""
    def node_name(self, node: Node) -> str: ...
    def node_inputs(self, node: Node) -> list[Node]:
        """The nodes that feed node (torch: next_functions without the Nones)."""


class Tracking(Protocol):
    """Capability.NO_GRAD, DETACH, IN_PLACE."""

    def no_grad(self) -> ContextManager[None]: ...
    def detach(self, t: T) -> T:
        """A tensor with t's values that gradients do not flow through (sharing storage where
        the engine can)."""
    def data(self, t: T) -> T:
        """An untracked alias of t whose in-place changes are t's changes (torch: t.data)."""
    def sub_(self, t: T, delta: T) -> None:
        """t -= delta in place, not recorded (torch: under no_grad)."""
    def zero_(self, t: T) -> None:
        """Fill t with zeros in place (a stored gradient included)."""
    def sub_recorded(self, t: T, delta: T) -> None:
        """t -= delta with the engine's own in-place operator, outside no_grad and unwrapped
        (torch: t.sub_(delta)), so that the engine decides whether to record it or refuse it.
        Unlike sub_, an error the engine raises here is the engine's answer: let it propagate."""


class Modules(Protocol):
    """Capability.MODULES; every layer kind and module_zero_grad optional."""

    linear_layout: str  # "out_in" (torch: weight (n_out, n_in)) or "in_out" (weight (n_in, n_out))

    def parameter(self, t: T) -> T:
        """Mark t as a trainable parameter when assigned to a module (torch: nn.Parameter)."""
    def module(self, forward: Callable[..., T], **attributes: Any) -> Module:
        """A custom module whose attributes are set in the given order; calling it runs
        forward(module, *inputs) with tensors only. Sub-modules and parameters among the
        attributes are registered; plain tensors are not."""
    def named_parameters(self, m: Module) -> list[tuple[str, T]]:
        """The registered parameters in registration order, with dotted names."""
    def linear(self, n_in: int, n_out: int, *, device: str, bias: bool = True) -> Module: ...
    def linear_parameters(self, layer: Module) -> tuple[T, T | None]:
        """A linear layer's own (weight, bias) parameter objects; weight laid out per linear_layout."""
    def conv2d(self, c_in: int, c_out: int, k: int, *, device: str) -> Module: ...
    def conv2d_parameters(self, layer: Module) -> tuple[T, T]:
        """A conv layer's own (weight, bias) parameter objects; the weight laid out
        (c_out, c_in, k, k) as torch and Paddle keep it."""
    def relu_layer(self) -> Module: ...
    def flatten_layer(self) -> Module: ...
    def sequential(self, *layers: Module) -> Module: ...
    def module_zero_grad(self, m: Module, set_to_none: bool | None = None) -> None:
        """Reset the gradients of m's parameters: to None, to zeros (False), or as the engine does
        when called without the argument (None: the engine's own default)."""
    def module_to(self, m: Module, device: str) -> Module:
        """Move m's parameters to device (torch: m.to(device)); returns the module to use."""
    def value_and_grad(self, m: Module, loss_fn: Callable[[], T]) -> tuple[T, tuple[T, ...]]:
        """(loss_fn(), its gradient with respect to each of m's registered parameters, in
        named_parameters order: None or zeros, as the engine answers, for one the loss does not
        depend on), computed the engine's way for a module (a tape over the module's trainable
        variables, nn.value_and_grad(model, fn)); loss_fn takes no arguments and calls m. Stores
        nothing (optional: the explicit-gradient path)."""
    def load_parameters(self, m: Module, values: Sequence[T]) -> None:
        """Write values (tensors of the same shapes, in named_parameters order) into m's
        parameters, unrecorded, the engine's way of setting a model's weights (Keras:
        Variable.assign; MLX: Module.update). Optional: the explicit-gradient path's manual
        update."""


class Optimizers(Protocol):
    """Capability.OPTIMIZERS; adam and zero_grad optional; step (stored gradients) or
    apply_gradients (gradients given explicitly), or both.

    ``params`` is a list of tensors, or a module when the adapter sets ``optimizes_modules =
    True`` (an engine whose optimizers step a model, as MLX's Optimizer.update(model, grads));
    for other adapters the suite's ``B`` passes a module's parameters in named_parameters order."""

    optimizes_modules: bool  # optional, default False

    def sgd(self, params: Iterable[T] | Module, lr: float, momentum: float = 0.0) -> Optimizer: ...
    def adam(self, params: Iterable[T] | Module, lr: float) -> Optimizer: ...
    def step(self, opt: Optimizer) -> None:
        """Update the parameters the optimizer was given from their gradients: those stored on them
        (STORES_GRADIENTS), or those the optimizer holds (optimizer_backward)."""
    def apply_gradients(self, opt: Optimizer, grads: Sequence[T]) -> list[T]:
        """Step with gradients given explicitly, one per parameter the optimizer was given (a
        module's: in named_parameters order), the functional engines' way. Returns the
        parameters after the step: the same objects where the engine updates them in place,
        the new arrays where its optimizers return new ones (a module's optimizer puts them into
        the module as the engine does, so named_parameters(m) gives them too)."""
    def zero_grad(self, opt: Optimizer, set_to_none: bool | None = None) -> None:
        """As module_zero_grad, for the optimizer's parameters (None: the engine's default); for
        an optimizer that holds the gradients, clears those."""
    def optimizer_backward(self, opt: Optimizer, loss: T, retain_graph: bool = False) -> None:
        """Capability.OPTIMIZER_GRADIENTS (``opt.backward(loss)``): add the gradient of the
        one-number loss with respect to each of the optimizer's parameters to the gradients the
        optimizer holds, which ``step`` then applies; retain_graph as for ``backward``."""
    def optimizer_grad(self, opt: Optimizer, p: T) -> T | None:
        """The gradient the optimizer holds for its parameter p, or None if it holds none."""


class CustomFunction(Protocol):
    def custom_function(self, forward: Callable[..., tuple[T, tuple[T, ...]]],
                        backward: Callable[[tuple[T, ...], T], tuple[T, ...]]
                        ) -> Callable[..., T]:
        """A differentiable function from a forward and a backward rule.

        forward(*inputs) -> (output, residuals); backward(residuals, grad_output) ->
        one gradient per input. The residuals are what the forward saves for backward: tensors,
        and other objects such as Python numbers, each reaching backward as forward saved it
        (torch: tensors through ctx.save_for_backward, the others as attributes of ctx)."""


class Backend(Core, Operations, Backward, GraphNodes, Tracking, Modules, Optimizers, CustomFunction,
              Protocol):
    """A complete adapter (the reference has every part); engines implement the parts they have."""
