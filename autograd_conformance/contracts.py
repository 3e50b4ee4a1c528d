"""What a conformance test sees as ``B``: the backend's adapter, seen through the protocol's contracts.

- An optional operation the adapter lacks raises ``Unsupported`` (the test is *not applicable*,
  naming it) instead of AttributeError; ``matmul`` and ``lt`` default to the tensor's own ``@``
  and ``<``, ``watch`` to a weak reference.
- An optimizer made from a module (``B.sgd(model, ...)``) is handed the module's parameters, in
  named_parameters order, unless the adapter's optimizers step modules themselves
  (``optimizes_modules``).
- Every call of an adapter method is checked against what the suite can tell without knowing the
  engine: a method that must return a tensor returns something tensor-like (not None, a list, a
  Python number...); ``tensor()`` gives the shape of its data and the float dtype asked for, and
  ``to_numpy`` a numpy array of the tensor's shape; ``reshape`` the shape asked for; and a
  TypeError or AttributeError raised by the adapter's own code (not by the engine's) is the
  adapter's. Each of these raises ``AdapterError`` naming the method: the test's outcome is
  *adapter error*, never a failure of the claim and never not applicable.
"""

from __future__ import annotations

import inspect
import random
import weakref

import numpy as np

from autograd_conformance.protocol import OPERATIONS, AdapterError, Capability, Unsupported

_OPERATORS = {"matmul": ("__matmul__", "@"), "lt": ("__lt__", "<")}
# Methods whose result is one tensor (a gradient from grad() may also be None).
_RETURNS_TENSOR = frozenset({
    "tensor", "sum", "mean", "relu", "exp", "where", "reshape", "matmul", "lt", "max_pool2d",
    "mse_loss", "cross_entropy", "bce_with_logits", "transpose", "convolve2d", "jacobian",
    "to_device", "variable", "detach", "data", "parameter", "clone"})
_NOT_TENSORS = (type(None), list, tuple, dict, set, str, bytes, bool, int, float, complex)


def _shape(t):
    """t's shape from its own ``shape`` attribute (cheap, and it does not make a lazy engine
    compute), or None where it has none."""
    shape = getattr(t, "shape", None)
    try:
        return tuple(int(n) for n in shape) if shape is not None else None
    except (TypeError, ValueError):
        return None


def _same_shape(got: tuple, asked: tuple) -> bool:
    """got is the shape asked for; a one-element vector stands for a 0-d one (an engine whose
    scalars have shape (1,): that is its convention, checked by its own claim)."""
    return got == asked or (asked == () and got == (1,))


def _data_shape(data):
    if isinstance(data, (list, tuple, np.ndarray, int, float)) or isinstance(data, np.generic):
        return np.shape(data)
    return None  # an engine tensor given as data: its adapter's business


class ContractView:
    """A thin view of a backend adapter; everything not listed here is the adapter's own."""

    def __init__(self, backend) -> None:
        self._backend = backend
        self._files = _source_files(type(backend))
        self.called: set[str] = set()  # the adapter's methods this view called (prerequisites.py)

    @property
    def capabilities(self) -> frozenset[Capability]:
        """The declared capabilities as Capability members (an adapter may declare plain strings)."""
        return frozenset(Capability(getattr(c, "value", c)) for c in self._backend.capabilities)

    def has(self, name: str) -> bool:
        """Whether the adapter itself defines name (an optional operation it has)."""
        return hasattr(self._backend, name)

    def sgd(self, params, *args, **kwargs):
        return self._call("sgd", self._backend.sgd, self._optimized(params), *args, **kwargs)

    def adam(self, params, *args, **kwargs):
        if not hasattr(self._backend, "adam"):
            raise Unsupported("adam")
        return self._call("adam", self._backend.adam, self._optimized(params), *args, **kwargs)

    def _optimized(self, params):
        """A list or tuple of tensors as given; a module as the adapter takes it."""
        if isinstance(params, (list, tuple)) or getattr(self._backend, "optimizes_modules", False):
            return params
        return [p for _, p in self.named_parameters(params)]

    def __getattr__(self, name: str):
        try:
            value = getattr(self._backend, name)
        except AttributeError:
            if name in _OPERATORS:
                value = self._operator(name, *_OPERATORS[name])
                setattr(self, name, value)
                return value
            if name == "watch":
                return _weak_watch
            if name in OPERATIONS:
                def unsupported(*args, **kwargs):
                    raise Unsupported(name)
                return unsupported
            raise
        if callable(value) and not isinstance(value, type):  # the adapter's methods, checked;
            value = self._checked(name, value)  # later calls skip this lookup (benchmarks)
            setattr(self, name, value)
        return value

    # ------------------------------------------------------------------ the contracts' checks
    def _call(self, name, method, *args, **kwargs):
        self.called.add(name)
        try:
            return method(*args, **kwargs)
        except (TypeError, AttributeError) as exc:
            raise self._fault(name, exc, args) from exc

    def _fault(self, name: str, exc: BaseException, args) -> BaseException:
        """An AdapterError for exc where the adapter's own code raised it, and not because the test
        handed it None (a tensor an earlier call did not give, such as the bias of a layer built
        without one); else exc itself."""
        if _raised_in(exc, self._files) and not any(a is None for a in args):
            return AdapterError(name, f"{type(exc).__name__} raised by the adapter's own code: {exc}")
        return exc

    def _checked(self, name: str, method):
        """The adapter's method, its call noted (self.called) and checked (the module docstring).
        The common case, a method whose result is not checked, costs one call and a set insertion."""
        call, note = self._call, self.called.add
        if name == "tensor":
            def checked(*args, **kwargs):
                return self._check_tensor(call(name, method, *args, **kwargs), *args, **kwargs)
        elif name == "to_numpy":
            def checked(t):
                return self._check_array(call(name, method, t), t)
        elif name == "reshape":
            def checked(t, shape):
                return self._check_result(name, call(name, method, t, shape), tuple(shape))
        elif name in _RETURNS_TENSOR:
            check = self._check_result

            def checked(*args, **kwargs):
                return check(name, call(name, method, *args, **kwargs))
        elif name == "vjp":
            def checked(fn, inputs, cotangent=None):
                if cotangent is not None:
                    note("vjp(cotangent)")
                return self._check_vjp(call(name, method, fn, inputs, cotangent), inputs)
        elif name == "backward":
            def checked(out, cotangent=None, **kwargs):
                if cotangent is not None:
                    note("vjp(cotangent)")
                return call(name, method, out, cotangent, **kwargs)
        else:
            def checked(*args, **kwargs):
                note(name)
                try:
                    return method(*args, **kwargs)
                except (TypeError, AttributeError) as exc:
                    raise self._fault(name, exc, args) from exc
        checked.__name__ = checked.__qualname__ = name
        checked.__wrapped__ = method
        return checked

    @staticmethod
    def _check_result(name, result, shape=None):
        if isinstance(result, _NOT_TENSORS) and not (name == "grad" and result is None):
            raise AdapterError(name, f"returned {type(result).__name__} {result!r:.80}, not a tensor")
        if shape is not None:
            got = _shape(result)
            if got is not None and not _same_shape(got, shape):
                raise AdapterError(name, f"asked for shape {shape}, returned a tensor of shape {got}")
        return result

    def _check_tensor(self, result, data, *, device=None, dtype=None, requires_grad=None):
        shape = _data_shape(data)
        self._check_result("tensor", result, shape)
        if dtype is not None:  # asked for: the engine's tensor holds it (read as numpy)
            held = np.asarray(self._backend.to_numpy(result))
            kind = np.dtype(dtype).kind if dtype in np.sctypeDict else None
            if kind == "f" and held.dtype.name != dtype or kind in ("i", "u") and held.dtype.kind not in "iu":
                raise AdapterError("tensor", f"asked for dtype {dtype}, made a tensor that reads as "
                                             f"{held.dtype.name}")
            if shape is not None and not _same_shape(held.shape, shape):
                raise AdapterError("to_numpy", f"a tensor made from data of shape {shape} reads as "
                                               f"an array of shape {held.shape}")
        return result

    @staticmethod
    def _check_array(array, t):
        if not isinstance(array, (np.ndarray, np.generic)):
            raise AdapterError("to_numpy", f"returned {type(array).__name__}, not a numpy array")
        shape = getattr(t, "shape", None)
        if shape is not None and array.shape != shape and array.shape != _shape(t) and array.size != 0:
            raise AdapterError("to_numpy", f"read a tensor of shape {_shape(t)} as an array of shape "
                                           f"{np.shape(array)}")
        return array

    @staticmethod
    def _check_vjp(result, inputs):
        if not isinstance(result, (tuple, list)) or len(result) != 2:
            raise AdapterError("vjp", f"must return (output, gradients), returned {type(result).__name__}")
        out, grads = result
        if isinstance(out, _NOT_TENSORS):
            raise AdapterError("vjp", f"returned {type(out).__name__} as the output, not a tensor")
        if not isinstance(grads, (tuple, list)) or len(grads) != len(inputs):
            raise AdapterError("vjp", f"must return one gradient per input ({len(inputs)}), returned "
                                      f"{len(grads) if isinstance(grads, (tuple, list)) else type(grads).__name__}")
        for k, g in enumerate(grads):
            if isinstance(g, _NOT_TENSORS):
                raise AdapterError("vjp", f"returned {type(g).__name__} as the gradient of input {k}, "
                                          "not a tensor (zeros where the output does not depend on it)")
        return result

    def _operator(self, name: str, dunder: str, symbol: str):
        def apply(a, b):
            self.called.add(name)
            if not hasattr(type(a), dunder):
                raise Unsupported(f"{symbol} (the tensor type has no {dunder})")
            result = getattr(a, dunder)(b)
            if result is NotImplemented:
                raise Unsupported(f"{symbol} between {type(a).__name__} and {type(b).__name__}")
            return result
        return apply

    def __repr__(self) -> str:
        return f"ContractView({self._backend!r})"


def _weak_watch(t):
    """The default of the optional ``watch(t)``: a function that says whether t is still alive,
    from a weak reference; an engine whose tensors cannot be weakly referenced has no such
    observation (not applicable) unless its adapter defines ``watch`` its own way."""
    try:
        ref = weakref.ref(t)
    except TypeError:
        raise Unsupported(f"watch (the engine's {type(t).__name__} cannot be weakly referenced; an "
                          "adapter may define watch(t) to observe whether t is alive)") from None
    return lambda: ref() is not None


def _source_files(cls: type) -> frozenset[str]:
    """The files that define the adapter class and the classes it derives from (the adapter's own
    code), leaving out the suite's package."""
    files = set()
    for klass in cls.__mro__:
        if klass is object:
            continue
        try:
            files.add(inspect.getsourcefile(klass) or "")
        except TypeError:
            continue
    return frozenset(f for f in files if f)


def _raised_in(exc: BaseException, files: frozenset[str]) -> bool:
    """Whether the innermost Python frame of exc's traceback is in one of files."""
    tb = exc.__traceback__
    if tb is None:
        return False
    while tb.tb_next is not None:
        tb = tb.tb_next
    return tb.tb_frame.f_code.co_filename in files


RANDOM_SEED = 0  # every conformance test starts from this random seed (the B and rng fixtures)


def seeded(backend) -> ContractView:
    """The B a test gets: every random generator seeded (Python's, numpy's global one, the
    engine's), then the adapter seen through the protocol's contracts."""
    random.seed(RANDOM_SEED)
    np.random.seed(RANDOM_SEED)
    backend.seed(RANDOM_SEED)
    return ContractView(backend)
