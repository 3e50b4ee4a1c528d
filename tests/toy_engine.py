"""A toy autograd engine, written in the tests, and an adapter for it written only from
``autograd_conformance.protocol``: proof that the suite gives sound verdicts on an engine it has
never seen, one with the habits that made the suite's verdicts wrong on real engines.

The engine is a tutorial engine (micrograd's design) on numpy arrays: every ``Tensor`` keeps its
parents and a ``_backward`` closure; ``backward()`` sorts the graph topologically, sets the
output's ``.grad`` to ones and lets each node add into its parents' ``.grad``. Its habits:

- **scalars have shape (1,)**: a sum (and any 0-d data) is a one-element vector, never 0-d;
- **no mean, exp, where, cross-entropy or BCE**: it has sums, powers, relu, reshape, matmul, MSE;
- **its MSE divides by the batch** (the number of rows), not by the number of elements;
- **a 1-d matmul's backward raises**: vector @ matrix and friends compute, but cannot be differentiated;
- **interior .grad is never reset**: every node keeps its ``.grad``, nothing is ever freed, and a
  second ``backward()`` through the same graph re-propagates the interior nodes' stale gradients:
  for ``sum(3 (x + 2)^2) / 4`` at ``x = ones(2, 2)`` two backward calls leave ``x.grad`` = 27, not 9;
  and ``backward()`` on a vector output cotangents it with ones rather than refusing;
- **its optimizer holds the gradients**: ``opt.backward(loss)`` adds the loss's gradients to the
  optimizer's own, ``opt.step()`` applies those (never a tensor's ``.grad``), ``opt.zero_grad()``
  clears them.

There is no requires_grad flag (every tensor gets a gradient), no graph-node API, no no_grad, no
detach, no custom functions, no conv layer, no pooling and no Adam.
"""

from __future__ import annotations

import numpy as np

from autograd_conformance.protocol import Capability, Unsupported

# ============================================================================ the engine

_rng = np.random.default_rng(0)  # initialisation of layers


def seed(n: int) -> None:
    global _rng
    _rng = np.random.default_rng(n)


def _unbroadcast(g: np.ndarray, shape: tuple) -> np.ndarray:
    """Sum a gradient over the axes broadcasting added or stretched, back to `shape`."""
    while g.ndim > len(shape):
        g = g.sum(axis=0)
    for axis, size in enumerate(shape):
        if size == 1 and g.shape[axis] != 1:
            g = g.sum(axis=axis, keepdims=True)
    return g


class Tensor:
    __array_ufunc__ = None  # numpy defers to Tensor's reflected operators (ndarray - Tensor)

    def __init__(self, data, _parents=(), dtype=None):
        self.data = np.asarray(data, dtype=dtype)
        if self.data.ndim == 0:  # the engine's scalars are one-element vectors
            self.data = self.data.reshape(1)
        self.grad = None
        self._parents = tuple(_parents)
        self._backward = lambda: None

    @property
    def shape(self):
        return self.data.shape

    def __repr__(self):
        return f"Tensor({self.data!r})"

    def _wrap(self, other) -> "Tensor":
        if isinstance(other, Tensor):
            return other
        return Tensor(np.asarray(other, dtype=self.data.dtype))  # a constant of our dtype

    def _add_grad(self, g) -> None:
        g = _unbroadcast(np.asarray(g), self.data.shape)
        if self.grad is None:
            self.grad = np.array(g, dtype=self.data.dtype)  # a copy: never an alias of another grad
        else:
            self.grad += g

    # ---------------------------------------------------------------- arithmetic
    def __add__(self, other):
        other = self._wrap(other)
        out = Tensor(self.data + other.data, (self, other))

        def _backward():
            self._add_grad(out.grad)
            other._add_grad(out.grad)
        out._backward = _backward
        return out

    def __mul__(self, other):
        other = self._wrap(other)
        out = Tensor(self.data * other.data, (self, other))

        def _backward():
            self._add_grad(other.data * out.grad)
            other._add_grad(self.data * out.grad)
        out._backward = _backward
        return out

    def __pow__(self, n: int):
        assert isinstance(n, int), "only integer exponents"
        out = Tensor(self.data ** n, (self,))

        def _backward():
            self._add_grad(n * self.data ** (n - 1) * out.grad)
        out._backward = _backward
        return out

    def __truediv__(self, other):
        other = self._wrap(other)
        out = Tensor(self.data / other.data, (self, other))

        def _backward():
            self._add_grad(out.grad / other.data)
            other._add_grad(-out.grad * self.data / other.data ** 2)
        out._backward = _backward
        return out

    def __matmul__(self, other):
        other = self._wrap(other)
        out = Tensor(self.data @ other.data, (self, other))

        def _backward():
            a, b, g = self.data, other.data, out.grad
            if a.ndim == 1 or b.ndim == 1:
                raise ValueError("matmul: the gradient of a product with a 1-d operand is not implemented")
            if a.ndim == 1 and b.ndim == 1:
                ga, gb = g * b, g * a
            elif a.ndim == 1:
                ga, gb = b @ g, np.outer(a, g)
            elif b.ndim == 1:
                ga, gb = np.outer(g, b), a.T @ g
            else:
                ga, gb = g @ b.T, a.T @ g
            self._add_grad(ga)
            other._add_grad(gb)
        out._backward = _backward
        return out

    def __neg__(self):
        return self * -1.0

    def __sub__(self, other):
        return self + (-self._wrap(other))

    def __radd__(self, other):
        return self._wrap(other) + self

    def __rsub__(self, other):
        return self._wrap(other) - self

    def __rmul__(self, other):
        return self._wrap(other) * self

    def __rtruediv__(self, other):
        return self._wrap(other) / self

    def __lt__(self, other):
        return Tensor(self.data < self._wrap(other).data)  # a constant: comparisons are not recorded

    # ---------------------------------------------------------------- other operations
    def sum(self):
        out = Tensor(self.data.sum().reshape(1), (self,))
        out._backward = lambda: self._add_grad(np.broadcast_to(out.grad.reshape(()), self.data.shape))
        return out

    def relu(self):
        out = Tensor(np.maximum(self.data, 0), (self,))
        out._backward = lambda: self._add_grad(out.grad * (self.data > 0))
        return out

    def reshape(self, *shape):
        shape = shape[0] if len(shape) == 1 and not isinstance(shape[0], int) else shape
        out = Tensor(self.data.reshape(shape), (self,))
        out._backward = lambda: self._add_grad(out.grad.reshape(self.data.shape))
        return out

    # ---------------------------------------------------------------- backward
    def backward(self, grad=None):
        order, seen, stack = [], set(), [(self, False)]
        while stack:  # iterative depth-first topological sort
            node, done = stack.pop()
            if done:
                order.append(node)
            elif id(node) not in seen:
                seen.add(id(node))
                stack.append((node, True))
                stack.extend((p, False) for p in node._parents if id(p) not in seen)
        self.grad = np.ones_like(self.data) if grad is None else \
            np.array(grad.data if isinstance(grad, Tensor) else grad, dtype=self.data.dtype)
        for node in reversed(order):
            node._backward()


def mse_loss(pred, target, reduction="mean"):
    """The squared error summed, divided by the batch (the number of rows) for "mean"."""
    squares = (pred - target) ** 2
    total = squares.sum()
    return total / float(pred.shape[0]) if reduction == "mean" else total


# ---------------------------------------------------------------- modules

class Parameter(Tensor):
    """A tensor a module registers (shares the array it is given)."""


class Module:
    """Parameters: attributes that are Parameters, then sub-modules' parameters, in the order the
    attributes were assigned (Python keeps attribute order). Plain tensors are not registered."""

    def named_parameters(self, prefix=""):
        for name, value in vars(self).items():
            if isinstance(value, Parameter):
                yield prefix + name, value
            elif isinstance(value, Module):
                yield from value.named_parameters(prefix + name + ".")

    def parameters(self):
        return [p for _, p in self.named_parameters()]

    def zero_grad(self):
        for p in self.parameters():
            p.grad = None

    def __call__(self, *inputs, **kwargs):
        return self.forward(*inputs, **kwargs)


class Linear(Module):
    """x @ weight + bias, weight stored (n_in, n_out); uniform(-1/sqrt(n_in), 1/sqrt(n_in)) init."""

    def __init__(self, n_in, n_out, bias=True):
        k = 1 / np.sqrt(n_in)
        self.weight = Parameter(_rng.uniform(-k, k, (n_in, n_out)).astype(np.float32))
        self.bias = Parameter(_rng.uniform(-k, k, n_out).astype(np.float32)) if bias else None

    def forward(self, x):
        out = x @ self.weight
        return out if self.bias is None else out + self.bias


class ReLU(Module):
    def forward(self, x):
        return x.relu()


class Flatten(Module):
    def forward(self, x):
        return x.reshape(x.shape[0], -1)


class Sequential(Module):
    def __init__(self, *layers):
        for i, layer in enumerate(layers):
            setattr(self, str(i), layer)

    def forward(self, x):
        for layer in vars(self).values():
            x = layer(x)
        return x


class SGD:
    """p <- p - lr * b with the momentum buffer b <- m b + g (b = g at the first step). The
    optimizer holds the gradients g it applies: backward(loss) adds the loss's to them."""

    def __init__(self, params, lr, momentum=0.0):
        self.params, self.lr, self.momentum = list(params), lr, momentum
        self.buffers, self.grads = {}, {}

    def backward(self, loss):
        """Add the gradient of loss with respect to each parameter to the held gradients (through
        the tensors' own backward, whose .grad the parameters get back as it was)."""
        kept = [p.grad for p in self.params]
        for p in self.params:
            p.grad = None
        loss.backward()
        for p, before in zip(self.params, kept):
            if p.grad is not None:
                held = self.grads.get(id(p))
                self.grads[id(p)] = p.grad.copy() if held is None else held + p.grad
            p.grad = before

    def grad(self, p):
        return self.grads.get(id(p))

    def step(self):
        for p in self.params:
            g = self.grads.get(id(p))
            if g is None:
                continue
            b = g
            if self.momentum:
                old = self.buffers.get(id(p))
                b = self.buffers[id(p)] = g.copy() if old is None else self.momentum * old + g
            p.data -= self.lr * b  # in place: aliases of p.data see the update

    def zero_grad(self):
        self.grads = {}


# ============================================================================ the adapter

C = Capability
_DTYPES = {"float32": np.float32, "float64": np.float64, "int64": np.int64, "bool": np.bool_}


def _array(t):
    return t.data if isinstance(t, Tensor) else np.asarray(t)


class ToyBackend:
    """The toy engine behind the protocol: stateful backward whose graphs are never freed,
    mutable arrays, modules and an SGD that holds its gradients. No requires_grad, graph nodes,
    no_grad, detach or custom functions; mean, exp, where, cross-entropy, BCE, conv2d, max_pool2d
    and adam are left out (the tests that call them are not applicable)."""

    name = "toy"
    version = "0.2"
    capabilities = frozenset({C.STORES_GRADIENTS, C.REPEAT_BACKWARD, C.IN_PLACE, C.MODULES, C.OPTIMIZERS,
                              C.OPTIMIZER_GRADIENTS, C.FLOAT64})
    default_float = "float32"
    linear_layout = "in_out"
    max_workload = None

    def available_devices(self):
        return ["cpu"]

    def seed(self, n):
        seed(n)

    def tensor(self, data, *, device, dtype=None, requires_grad=None):
        array = np.array(_array(data), copy=True)  # every toy tensor gets gradients: flag ignored
        if dtype is None and array.dtype.kind == "f":
            dtype = self.default_float
        return Tensor(array.astype(_DTYPES[dtype]) if dtype else array)

    def to_numpy(self, t):
        return _array(t)

    def device_of(self, t):
        return "cpu"

    def vjp(self, fn, inputs, cotangent=None):
        fresh = [Tensor(np.array(x.data, copy=True)) for x in inputs]
        out = fn(*fresh)
        out.backward(None if cotangent is None else _array(cotangent))
        grads = tuple(Tensor(np.zeros_like(x.data) if x.grad is None else x.grad) for x in fresh)
        return Tensor(out.data), grads

    # --- operations
    def sum(self, t):
        return t.sum()

    def relu(self, t):
        return t.relu()

    def reshape(self, t, shape):
        return t.reshape(tuple(shape))

    def mse_loss(self, pred, target, reduction="mean"):
        return mse_loss(pred, target, reduction)

    # --- backward (the graph is never freed: retain_graph changes nothing)
    def backward(self, out, cotangent=None, retain_graph=False):
        out.backward(None if cotangent is None else _array(cotangent))

    def grad(self, t):
        return t.grad

    # --- in place
    def data(self, t):
        return Tensor(t.data)  # a new, parentless tensor on the same array

    def sub_(self, t, delta):
        target = t.data if isinstance(t, Tensor) else t
        target -= _array(delta)

    def zero_(self, t):
        target = t.data if isinstance(t, Tensor) else t
        target[...] = 0

    # --- modules
    def parameter(self, t):
        return Parameter(t.data)

    def module(self, forward, **attributes):
        class Custom(Module):
            def forward(self, *inputs, **kwargs):
                return forward(self, *inputs, **kwargs)

        m = Custom()
        for key, value in attributes.items():
            setattr(m, key, value)
        return m

    def named_parameters(self, m):
        return list(m.named_parameters())

    def linear(self, n_in, n_out, *, device, bias=True):
        return Linear(n_in, n_out, bias=bias)

    def linear_parameters(self, layer):
        return layer.weight, layer.bias

    def relu_layer(self):
        return ReLU()

    def flatten_layer(self):
        return Flatten()

    def sequential(self, *layers):
        return Sequential(*layers)

    def module_zero_grad(self, m, set_to_none=None):
        if set_to_none is False:
            raise Unsupported("module_zero_grad(set_to_none=False)")
        m.zero_grad()

    # --- optimizers
    def sgd(self, params, lr, momentum=0.0):
        return SGD(params, lr, momentum)

    def optimizer_backward(self, opt, loss, retain_graph=False):
        opt.backward(loss)  # the graph is never freed: retain_graph changes nothing

    def optimizer_grad(self, opt, p):
        return opt.grad(p)

    def step(self, opt):
        opt.step()

    def zero_grad(self, opt, set_to_none=None):
        if set_to_none is False:
            raise Unsupported("zero_grad(set_to_none=False)")
        opt.zero_grad()


class SmallToyBackend(ToyBackend):
    """The same engine on a machine that runs at most 100,000 multiply-adds per forward pass."""

    max_workload = 100_000
