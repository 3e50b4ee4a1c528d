"""The operations programs are made of: how the engine runs each (through the adapter B), what it
computes in numpy, its vector-Jacobian product, how it prints, and what it needs of the adapter."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from autograd_conformance import references

PSEUDO_OPERATIONS = ("** 3", "broadcast")  # operations a program uses that are tensor operators, not methods


def _unbroadcast(g: np.ndarray, shape: tuple) -> np.ndarray:
    """Sum a gradient over the leading axis broadcasting added, back to shape."""
    return g.sum(axis=0) if g.ndim > len(shape) else g


@dataclass(frozen=True)
class Op:
    """One operation: how the engine runs it (engine(B, *tensors, const)), what it computes in numpy
    (value(*arrays, const)), its vector-Jacobian product (vjp(g, out, *arrays, const) -> a gradient
    per tensor argument, None for one no gradient reaches), how it prints (template, with the
    arguments' names and c the constant) and the adapter methods or pseudo-operations it needs."""

    engine: object
    value: object
    vjp: object
    template: str
    needs: tuple[str, ...] = ()

    def code(self, step) -> str:
        """The step (a program.Step of this operation) as code."""
        return self.template.format(*step.args, c=step.const)


def _loss_op(name, method):
    def value(pred, target, c):
        return np.asarray(references.numpy_losses(name, pred, target.astype(int) if name == "cross_entropy"
                                                  else target)[0])

    def vjp(g, out, pred, target, c):
        return g * references.numpy_losses(name, pred, target.astype(int) if name == "cross_entropy"
                                           else target)[1], None
    return Op(lambda B, a, t, c: getattr(B, method)(a, t), value, vjp, f"B.{method}({{0}}, {{1}})", (method,))


OPS: dict[str, Op] = {
    "add": Op(lambda B, a, b, c: a + b, lambda a, b, c: a + b,
              lambda g, o, a, b, c: (g, _unbroadcast(g, b.shape)), "{0} + {1}"),
    "sub": Op(lambda B, a, b, c: a - b, lambda a, b, c: a - b,
              lambda g, o, a, b, c: (g, -_unbroadcast(g, b.shape)), "{0} - {1}"),
    "mul": Op(lambda B, a, b, c: a * b, lambda a, b, c: a * b,
              lambda g, o, a, b, c: (g * b, _unbroadcast(g * a, b.shape)), "{0} * {1}"),
    "div": Op(lambda B, a, b, c: a / b, lambda a, b, c: a / b,
              lambda g, o, a, b, c: (g / b, _unbroadcast(-g * a / b ** 2, b.shape)), "{0} / {1}"),
    "scale": Op(lambda B, a, c: a * c, lambda a, c: a * c, lambda g, o, a, c: (g * c,), "{0} * {c!r}"),
    "rscale": Op(lambda B, a, c: c * a, lambda a, c: c * a, lambda g, o, a, c: (g * c,), "{c!r} * {0}"),
    "shift": Op(lambda B, a, c: a + c, lambda a, c: a + c, lambda g, o, a, c: (g,), "{0} + {c!r}"),
    "rsub": Op(lambda B, a, c: c - a, lambda a, c: c - a, lambda g, o, a, c: (-g,), "{c!r} - {0}"),
    "rdiv": Op(lambda B, a, c: c / a, lambda a, c: c / a, lambda g, o, a, c: (-g * c / a ** 2,), "{c!r} / {0}"),
    "neg": Op(lambda B, a, c: -a, lambda a, c: -a, lambda g, o, a, c: (-g,), "-{0}"),
    "square": Op(lambda B, a, c: a ** 2, lambda a, c: a ** 2, lambda g, o, a, c: (2 * a * g,), "{0} ** 2"),
    "cube": Op(lambda B, a, c: a ** 3, lambda a, c: a ** 3, lambda g, o, a, c: (3 * a ** 2 * g,), "{0} ** 3",
               ("** 3",)),
    "relu": Op(lambda B, a, c: B.relu(a), lambda a, c: np.maximum(a, 0), lambda g, o, a, c: (g * (a > 0),),
               "B.relu({0})", ("relu",)),
    "sum": Op(lambda B, a, c: B.sum(a), lambda a, c: np.asarray(a.sum()),
              lambda g, o, a, c: (np.full_like(a, g),), "B.sum({0})", ("sum",)),
    "mean": Op(lambda B, a, c: B.mean(a), lambda a, c: np.asarray(a.mean()),
               lambda g, o, a, c: (np.full_like(a, g / a.size),), "B.mean({0})", ("mean",)),
    "matmul": Op(lambda B, a, b, c: B.matmul(a, b), lambda a, b, c: a @ b,
                 lambda g, o, a, b, c: references.numpy_matmul_vjp(a, b, g), "B.matmul({0}, {1})", ("matmul",)),
    "transpose": Op(lambda B, a, c: B.transpose(a), lambda a, c: a.T, lambda g, o, a, c: (g.T,),
                    "B.transpose({0})", ("transpose",)),
    "reshape": Op(lambda B, a, c: B.reshape(a, c), lambda a, c: a.reshape(c),
                  lambda g, o, a, c: (g.reshape(a.shape),), "B.reshape({0}, {c!r})", ("reshape",)),
    "max_pool2d": Op(lambda B, a, c: B.max_pool2d(a, 2), lambda a, c: references.numpy_max_pool2d(a, 2),
                     lambda g, o, a, c: (references.numpy_max_pool2d_vjp(a, 2, g),), "B.max_pool2d({0}, 2)",
                     ("max_pool2d",)),
    "convolve2d": Op(lambda B, x, w, b, c: B.convolve2d(x, w, b), lambda x, w, b, c: references.numpy_conv2d(x, w, b),
                     lambda g, o, x, w, b, c: references.numpy_conv2d_vjp(x, w, g),
                     "B.convolve2d({0}, {1}, {2})", ("convolve2d",)),
    "mse": _loss_op("mse", "mse_loss"),
    "cross_entropy": _loss_op("cross_entropy", "cross_entropy"),
    "bce": _loss_op("bce_with_logits", "bce_with_logits"),
}
# The core vocabulary's operations (protocol.CORE_OPERATORS): every engine has them.
CORE = frozenset({"add", "sub", "mul", "div", "scale", "rscale", "shift", "rsub", "rdiv", "neg", "square", "sum"})
BINARY = ("add", "sub", "mul", "div")
WITH_FLOAT = ("scale", "rscale", "shift", "rsub", "rdiv")
UNARY = ("neg", "square", "cube", "relu")
ON_TENSORS = ("sum", "mean", "matmul", "transpose", "reshape", "max_pool2d")  # never on one number
LOSSES = ("mse", "cross_entropy", "bce")
# The operations a claim is about, by the name programs use for them (steps' operations, "broadcast").
ABOUT = {"** 3": "cube", "relu": "relu", "sum": "sum", "mean": "mean", "matmul": "matmul",
         "transpose": "transpose", "reshape": "reshape", "max_pool2d": "max_pool2d",
         "convolve2d": "convolve2d", "mse_loss": "mse", "cross_entropy": "cross_entropy",
         "bce_with_logits": "bce", "broadcast": "broadcast"}


def operations_of(B) -> frozenset[str]:
    """The operations of OPS the adapter has (those whose methods it defines; matmul also by the
    suite's default, the tensor's @), and broadcasting: the tensor operators every engine has."""
    has = {name for name, op in OPS.items()
           if all(B.has(m) or m == "matmul" or m in PSEUDO_OPERATIONS or m == "sum" for m in op.needs)}
    return frozenset(has | {"broadcast"})
