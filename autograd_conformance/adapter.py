"""What a conformance test sees as ``B``: the backend's adapter, with optional operations that the
adapter lacks turned into *not applicable* (``Unsupported``) instead of AttributeError, the
defaults for ``matmul`` and ``lt`` (the tensor's own operators), and optimizers made from a module
(``B.sgd(model, ...)``) handed the module's parameters, in named_parameters order, unless the
adapter's optimizers step modules themselves (``optimizes_modules``)."""

from __future__ import annotations

from autograd_conformance.protocol import OPERATIONS, Capability, Unsupported

_OPERATORS = {"matmul": ("__matmul__", "@"), "lt": ("__lt__", "<")}


class Adapter:
    """A thin view of a backend adapter; everything not listed here is the adapter's own."""

    def __init__(self, backend) -> None:
        self._backend = backend

    @property
    def capabilities(self) -> frozenset[Capability]:
        """The declared capabilities as Capability members (an adapter may declare plain strings)."""
        return frozenset(Capability(getattr(c, "value", c)) for c in self._backend.capabilities)

    def sgd(self, params, *args, **kwargs):
        return self._backend.sgd(self._optimized(params), *args, **kwargs)

    def adam(self, params, *args, **kwargs):
        if not hasattr(self._backend, "adam"):
            raise Unsupported("adam")
        return self._backend.adam(self._optimized(params), *args, **kwargs)

    def _optimized(self, params):
        """A list or tuple of tensors as given; a module as the adapter takes it."""
        if isinstance(params, (list, tuple)) or getattr(self._backend, "optimizes_modules", False):
            return params
        return [p for _, p in self._backend.named_parameters(params)]

    def __getattr__(self, name: str):
        try:
            value = getattr(self._backend, name)
        except AttributeError:
            if name in _OPERATORS:
                value = self._operator(*_OPERATORS[name])
                setattr(self, name, value)
                return value
            if name in OPERATIONS:
                def unsupported(*args, **kwargs):
                    raise Unsupported(name)
                return unsupported
            raise
        if callable(value):  # the adapter's methods: later calls skip this lookup (benchmarks)
            setattr(self, name, value)
        return value

    @staticmethod
    def _operator(dunder: str, symbol: str):
        def apply(a, b):
            if not hasattr(type(a), dunder):
                raise Unsupported(f"{symbol} (the tensor type has no {dunder})")
            result = getattr(a, dunder)(b)
            if result is NotImplemented:
                raise Unsupported(f"{symbol} between {type(a).__name__} and {type(b).__name__}")
            return result
        return apply

    def __repr__(self) -> str:
        return f"Adapter({self._backend!r})"
