"""Finding a backend by the name given to ``--backend``.

A name is one of: a built-in backend, a backend another package installs under the entry
point group ``autograd_conformance.backends``, or an import path ``package.module:attribute``
(the attribute is a Backend class, a factory function, or an instance).
"""

from __future__ import annotations

import importlib
import traceback
from importlib.metadata import entry_points

from autograd_conformance.protocol import METHODS, ONE_OF, REQUIRED_ATTRIBUTES, Capability

ENTRY_POINT_GROUP = "autograd_conformance.backends"

BUILTIN = {
    "torch": "autograd_conformance.backends.torch_backend:TorchBackend",
    "tinygrad": "autograd_conformance.backends.tinygrad_backend:TinygradBackend",
    "mygrad": "autograd_conformance.backends.mygrad_backend:MygradBackend",
    "paddle": "autograd_conformance.backends.paddle_backend:PaddleBackend",
    "jax": "autograd_conformance.backends.jax_backend:JaxBackend",
    "tensorflow": "autograd_conformance.backends.tensorflow_backend:TensorflowBackend",
    "mlx": "autograd_conformance.backends.mlx_backend:MlxBackend",
}


class BackendError(Exception):
    """A backend could not be loaded; the message names the problem and the fix."""


def known_backends() -> dict[str, str]:
    """Backend name -> import path, built-ins first, then installed entry points."""
    found = dict(BUILTIN)
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        found.setdefault(ep.name, ep.value)
    return found


def load_backend(name: str):
    known = known_backends()
    if name in known:
        target = known[name]
    elif ":" in name:
        target = name
    else:
        raise BackendError(
            f"unknown backend {name!r}. Known backends: {', '.join(sorted(known))}. "
            "Pass one of those, or an import path 'package.module:attribute' to an adapter "
            f"of your own (or install one under the entry point group {ENTRY_POINT_GROUP!r})."
        )
    module_name, _, attribute = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except SystemExit as exc:  # an adapter (or its engine) that exits while imported
        raise BackendError(
            f"backend {name!r}: importing {module_name!r} called sys.exit({exc.code!r}). An adapter module "
            "must import without exiting: move that code into a function, or fix the engine's install."
        ) from None
    except Exception as exc:  # an adapter whose engine is missing or broken
        detail = "".join(traceback.format_exception_only(type(exc), exc)).strip()
        if name in BUILTIN:
            fix = f"Install the engine: pip install 'autograd-conformance[{name}]'."
        elif isinstance(exc, ModuleNotFoundError) and exc.name and module_name.startswith(exc.name):
            fix = (f"Make {module_name!r} importable: install the package that holds it, or add the "
                   "directory that holds it to PYTHONPATH (a rerun needs the same).")
        else:
            fix = "Install the engine the adapter imports, or fix the adapter's import."
        raise BackendError(f"backend {name!r} could not be imported from {module_name!r}: {detail}. {fix}") from None
    try:
        obj = getattr(module, attribute)
    except AttributeError:
        raise BackendError(
            f"backend {name!r}: module {module_name!r} has no attribute {attribute!r}. "
            "The import path must be 'package.module:attribute'."
        ) from None
    is_factory = isinstance(obj, type) or (callable(obj) and not hasattr(obj, "capabilities"))
    try:
        backend = obj() if is_factory else obj
    except Exception as exc:
        raise BackendError(f"backend {name!r}: creating the adapter {target} failed: {exc!r}") from None
    check(backend, f"backend {name!r} ({target})")
    return backend


def check(backend, described: str) -> None:
    """BackendError unless backend has what the protocol requires of every adapter
    (REQUIRED_ATTRIBUTES), declares only known capabilities, and has the methods each of them
    needs (METHODS, and one of ONE_OF's)."""
    missing = [a for a in REQUIRED_ATTRIBUTES if not hasattr(backend, a)]
    if missing:
        raise BackendError(
            f"{described} is not a Backend adapter: it lacks {', '.join(missing)}. "
            "See autograd_conformance.protocol for the interface."
        )
    def as_capability(c):
        try:
            return Capability(getattr(c, "value", c))
        except ValueError:
            return None

    unknown = sorted(str(c) for c in backend.capabilities if as_capability(c) is None)
    if unknown:
        raise BackendError(
            f"{described} declares unknown capabilities {', '.join(unknown)}. Known: "
            f"{', '.join(c.value for c in Capability)} (autograd_conformance.protocol.Capability).")
    for capability in (as_capability(c) for c in backend.capabilities):
        lacking = [m for m in METHODS.get(capability, ()) if not callable(getattr(backend, m, None))]
        if capability is Capability.MODULES and hasattr(backend, "linear_parameters") \
                and getattr(backend, "linear_layout", None) not in ("out_in", "in_out"):
            lacking.append("linear_layout ('out_in' or 'in_out')")
        either = ONE_OF.get(capability, ())
        if either and not any(callable(getattr(backend, m, None)) for m in either):
            lacking.append(" or ".join(either))
        if lacking:
            raise BackendError(
                f"{described} declares the capability {capability.value!r} but lacks "
                f"{', '.join(lacking)}: implement them or leave the capability out.")
