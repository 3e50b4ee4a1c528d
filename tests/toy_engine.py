"""A toy autograd engine, written in the tests, and an adapter for it written only from
``autograd_conformance.protocol``: proof that the suite gives sound verdicts on an engine it has
never seen (issue 8).

The engine is a tutorial engine (micrograd's design) on numpy arrays: every ``Tensor`` keeps its
parents and a ``_backward`` closure; ``backward()`` sorts the graph topologically, sets the
output's ``.grad`` to ones and lets each node add into its parents' ``.grad``. Every node keeps its
``.grad`` (interior ones too), nothing is ever freed, and a second ``backward()`` through the same
graph re-propagates the interior nodes' stale gradients: for ``mean(3 (x + 2)^2)`` at
``x = ones(2, 2)`` two backward calls leave ``x.grad`` = 22.5, not 9. There is no requires_grad
flag (every tensor gets a gradient), no graph-node API, no no_grad, no detach, no custom
functions, no conv layer, no pooling and no Adam.
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
        out = Tensor(self.data.sum(), (self,))
        out._backward = lambda: self._add_grad(np.broadcast_to(out.grad, self.data.shape))
        return out

    def mean(self):
        out = Tensor(self.data.mean(), (self,))
        out._backward = lambda: self._add_grad(np.broadcast_to(out.grad / self.data.size, self.data.shape))
        return out

    def relu(self):
        out = Tensor(np.maximum(self.data, 0), (self,))
        out._backward = lambda: self._add_grad(out.grad * (self.data > 0))
        return out

    def exp(self):
        out = Tensor(np.exp(self.data), (self,))
        out._backward = lambda: self._add_grad(out.grad * out.data)
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


def where(cond, a, b):
    a = a if isinstance(a, Tensor) else Tensor(a)
    b = a._wrap(b)
    c = np.asarray(cond.data if isinstance(cond, Tensor) else cond, dtype=bool)
    out = Tensor(np.where(c, a.data, b.data), (a, b))

    def _backward():
        a._add_grad(np.where(c, out.grad, 0))
        b._add_grad(np.where(c, 0, out.grad))
    out._backward = _backward
    return out


def mse_loss(pred, target, reduction="mean"):
    squares = (pred - target) ** 2
    return squares.mean() if reduction == "mean" else squares.sum()


def cross_entropy(logits, labels):
    """Mean softmax cross-entropy against integer class labels."""
    y = np.asarray(labels.data if isinstance(labels, Tensor) else labels).astype(np.int64)
    z = logits.data - logits.data.max(axis=1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    n = len(y)
    out = Tensor(-logp[np.arange(n), y].mean(), (logits,))

    def _backward():
        g = np.exp(logp)
        g[np.arange(n), y] -= 1
        logits._add_grad(g * (out.grad / n))
    out._backward = _backward
    return out


def bce_with_logits(z, y):
    """Mean binary cross-entropy of sigmoid(z) against y, from the logits (stable form)."""
    t = np.asarray(y.data if isinstance(y, Tensor) else y, dtype=z.data.dtype)
    x = z.data
    out = Tensor((np.maximum(x, 0) - x * t + np.log1p(np.exp(-np.abs(x)))).mean(), (z,))

    def _backward():
        z._add_grad((1 / (1 + np.exp(-x)) - t) * (out.grad / x.size))
    out._backward = _backward
    return out


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
    """p <- p - lr * b with the momentum buffer b <- m b + g (b = g at the first step)."""

    def __init__(self, params, lr, momentum=0.0):
        self.params, self.lr, self.momentum = list(params), lr, momentum
        self.buffers = {}

    def step(self):
        for p in self.params:
            if p.grad is None:
                continue
            b = p.grad
            if self.momentum:
                old = self.buffers.get(id(p))
                b = self.buffers[id(p)] = p.grad.copy() if old is None else self.momentum * old + p.grad
            p.data -= self.lr * b  # in place: aliases of p.data see the update

    def zero_grad(self):
        for p in self.params:
            p.grad = None


# ============================================================================ the adapter

C = Capability
_DTYPES = {"float32": np.float32, "float64": np.float64, "int64": np.int64, "bool": np.bool_}


def _array(t):
    return t.data if isinstance(t, Tensor) else np.asarray(t)


class ToyBackend:
    """The toy engine behind the protocol: stateful backward whose graphs are never freed,
    mutable arrays, modules and SGD. No requires_grad, graph nodes, no_grad, detach or custom
    functions; conv2d, max_pool2d and adam are left out (the tests that call them are not
    applicable)."""

    name = "toy"
    version = "0.1"
    capabilities = frozenset({C.BACKWARD, C.REPEAT_BACKWARD, C.IN_PLACE, C.MODULES, C.OPTIMIZERS,
                              C.FLOAT64})
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

    def vjp(self, fn, inputs, seed=None):
        fresh = [Tensor(np.array(x.data, copy=True)) for x in inputs]
        out = fn(*fresh)
        out.backward(None if seed is None else _array(seed))
        grads = tuple(Tensor(np.zeros_like(x.data) if x.grad is None else x.grad) for x in fresh)
        return Tensor(out.data), grads

    # --- operations
    def sum(self, t):
        return t.sum()

    def mean(self, t):
        return t.mean()

    def relu(self, t):
        return t.relu()

    def exp(self, t):
        return t.exp()

    def where(self, cond, a, b):
        return where(cond, a, b)

    def reshape(self, t, shape):
        return t.reshape(tuple(shape))

    def mse_loss(self, pred, target, reduction="mean"):
        return mse_loss(pred, target, reduction)

    def cross_entropy(self, logits, labels):
        return cross_entropy(logits, labels)

    def bce_with_logits(self, z, y):
        return bce_with_logits(z, y)

    # --- backward (the graph is never freed: retain_graph changes nothing)
    def backward(self, out, seed=None, retain_graph=False):
        out.backward(None if seed is None else _array(seed))

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

    def module_zero_grad(self, m, set_to_none=True):
        if not set_to_none:
            raise Unsupported("module_zero_grad(set_to_none=False)")
        m.zero_grad()

    # --- optimizers
    def sgd(self, params, lr, momentum=0.0):
        return SGD(params, lr, momentum)

    def step(self, opt):
        opt.step()

    def zero_grad(self, opt, set_to_none=True):
        if not set_to_none:
            raise Unsupported("zero_grad(set_to_none=False)")
        opt.zero_grad()


class SmallToyBackend(ToyBackend):
    """The same engine on a machine that runs at most 100,000 multiply-adds per forward pass."""

    max_workload = 100_000
