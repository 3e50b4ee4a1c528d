"""Which adapter methods each conformance test calls, recorded in one run of the reference adapter,
so that a faulty backend is run only on the tests it can change.

A faulty backend (tests/faulty/) is the reference adapter with some methods overridden. The suite's
tests draw their random data from their own generators and run deterministically, so a test that
calls none of the overridden methods (directly or through the adapter's other methods: calls are
recorded on the adapter instance, ``self.method`` included) runs exactly the reference's code and
passes as the reference does. Running the others is therefore the same proof as running the whole
suite: the expected claims fail and nothing else does. A faulty backend that overrides anything but
plain methods (``__init__``, which may patch a library for the whole process, a property such as
``capabilities``, a class attribute) changes what every test sees: it runs on the whole suite.

Loaded into the reference run with ``-p tests.method_use --backend tests.method_use:NotingCalls
--method-use FILE``; it writes {nodeid: [method, ...]} to FILE.
"""

from __future__ import annotations

import json
import types

import pytest

from autograd_conformance.backends.torch_backend import TorchBackend

_IGNORED = {"__module__", "__qualname__", "__doc__", "__dict__", "__weakref__", "__firstlineno__",
            "__static_attributes__", "name", "version"}
_called: set[str] = set()
_used: dict[str, list[str]] = {}


class NotingCalls(TorchBackend):
    """The reference adapter, noting every public method looked up on it, and "vjp(cotangent)" for a
    vjp or backward given a cotangent tensor (claims.PREREQUISITES)."""

    def __getattribute__(self, name):
        value = object.__getattribute__(self, name)
        if not name.startswith("_") and callable(value):
            _called.add(name)
        return value

    # the adapter's defaults for these are the tensor's own operators: here they are methods, so that
    # their use is noted like any other operation's
    def matmul(self, a, b):
        return a @ b

    def lt(self, a, b):
        return a < b

    def vjp(self, fn, inputs, cotangent=None):
        if cotangent is not None:
            _called.add("vjp(cotangent)")
        return super().vjp(fn, inputs, cotangent)

    def backward(self, out, cotangent=None, retain_graph=False):
        if cotangent is not None:
            _called.add("vjp(cotangent)")
        return super().backward(out, cotangent, retain_graph)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_protocol(item, nextitem):
    _called.clear()
    try:
        return (yield)
    finally:
        _used[item.nodeid] = sorted(_called)


def pytest_addoption(parser):
    parser.addoption("--method-use", metavar="FILE", help="write the adapter methods each test calls to FILE")


def pytest_sessionfinish(session):
    path = session.config.getoption("method_use")
    if path and _used:
        with open(path, "w", encoding="utf-8") as f:
            json.dump(_used, f)


def overridden(cls: type) -> set[str] | None:
    """The methods a TorchBackend subclass overrides; None if it overrides more than methods."""
    names: set[str] = set()
    for klass in cls.__mro__:
        if klass is TorchBackend or not issubclass(klass, TorchBackend):
            break
        for name, value in vars(klass).items():
            if name in _IGNORED:
                continue
            if name.startswith("__") or not isinstance(value, types.FunctionType):
                return None
            names.add(name)
    return names
