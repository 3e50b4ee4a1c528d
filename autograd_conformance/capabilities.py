"""The vocabulary of the adapter protocol (protocol.py): the capabilities an engine may declare,
the methods each one needs, the optional operations a test may call, ``Unsupported`` for an
operation an engine lacks, and ``Tolerance``. protocol.py re-exports all of it."""

from __future__ import annotations

import enum
from dataclasses import dataclass

import pytest


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
    #                            stored gradients (step) or from gradients given (apply_gradients)
    CUSTOM_FUNCTION = "custom_function"  # user-defined forward/backward pairs
    FLOAT64 = "float64"  # double-precision tensors (B.tensor(..., dtype="float64"))
    PYTORCH_API = "pytorch_api"  # PyTorch's own names and conventions (node class names, ...)


# Methods every adapter has, and the methods each capability needs on top of them.
EVERY_BACKEND = ("available_devices", "seed", "tensor", "to_numpy", "device_of", "vjp")
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
    Capability.CUSTOM_FUNCTION: ("custom_function",),
}
# Capabilities whose tests run through either of two paths (stored gradients, or gradients that a
# tape or transformation returns): the backend needs at least one method of each group.
ONE_OF = {
    Capability.FREES_GRAPH: ("backward", "record"),
    Capability.RETAIN_GRAPH: ("backward", "record"),
    Capability.REPEAT_BACKWARD: ("backward", "record"),
    Capability.OPTIMIZERS: ("step", "apply_gradients"),
}
# Operations a test may call; each is optional (see "Operations are optional one by one").
OPERATIONS = ("sum", "mean", "relu", "exp", "where", "reshape", "matmul", "lt", "max_pool2d",
              "mse_loss", "cross_entropy", "bce_with_logits", "transpose", "convolve2d", "jacobian",
              "to_device", "sub_recorded", "variable",
              # module layers and helpers (Capability.MODULES)
              "linear", "linear_parameters", "conv2d", "conv2d_parameters", "relu_layer", "flatten_layer",
              "sequential", "module_zero_grad", "module_to",
              # optimizers (Capability.OPTIMIZERS)
              "adam", "zero_grad",
              # gradients that are returned rather than stored (see "Where gradients live")
              "record", "value_and_grad", "apply_gradients", "load_parameters")


class Unsupported(pytest.skip.Exception):
    """Raised by an adapter for an operation, or a variant of one, that the engine does not have
    (``raise Unsupported("zero_grad(set_to_none=False)")``): the test that asked is *not
    applicable*, and the report names the operation."""

    def __init__(self, operation: str) -> None:
        super().__init__(f"operation {operation}")
        self.operation = operation


@dataclass(frozen=True)
class Tolerance:
    """Closeness for numeric comparisons: |actual - expected| <= atol + rtol * |expected|."""

    rtol: float
    atol: float

    def __str__(self) -> str:
        return f"rtol={self.rtol:g}, atol={self.atol:g}"
