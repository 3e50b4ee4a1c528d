"""The vocabulary of the adapter protocol (protocol.py): the core vocabulary every test may use,
the capabilities an engine may declare and the methods each one needs, the optional operations a
test may call, ``Unsupported`` for an operation an engine lacks, ``AdapterError`` for an adapter
that broke its contract, and ``Tolerance``. protocol.py re-exports all of it."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Capability(str, enum.Enum):
    """Concepts an engine may or may not have, each as what a test can observe."""

    BACKWARD = "backward"  # backward(out, seed) stores gradients that grad(t) then returns
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


# The core vocabulary: what every test may use without saying so, because every engine that has the
# capabilities a claim names has it. Anything else a test calls is either what its claim is about
# (claims.Claim.about) or a prerequisite it declares (@pytest.mark.uses), checked by its own claim
# (claims.PREREQUISITES).
# - the methods of EVERY_BACKEND below, with vjp on a function whose output is one number (seed None);
# - the tensor operators + - * / between two tensors of the same shape, and between a tensor and a
#   Python float (either side); t ** 2; unary -;
# - sum(t), the sum of every element, read by value (its shape is the claim backward.sum-is-zero-dim's);
# - the methods of the capabilities the claim (or the test's requires marker) names (METHODS), and
#   the methods of the path by which the engine keeps gradients (PATHS).
CORE_OPERATORS = ("+", "-", "*", "/", "** 2", "unary -")
EVERY_BACKEND = ("available_devices", "seed", "tensor", "to_numpy", "device_of", "vjp")
CORE_METHODS = EVERY_BACKEND + ("sum",)

METHODS = {
    Capability.BACKWARD: ("backward", "grad"),
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
STORED_GRADIENTS = AnyOf({Capability.BACKWARD, Capability.OPTIMIZER_GRADIENTS})


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
    Capability.BACKWARD: ("module_zero_grad",),
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
