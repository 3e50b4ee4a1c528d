"""One source of truth for the adapter protocol: the Protocol classes of protocol.py define every
method with its signature and defaults; the tables beside them (EVERY_BACKEND, METHODS, ONE_OF,
PATHS, OPERATIONS) say which are required, for which capability, and which are optional. These
tests fail where the definition, the tables, the registry's checks, ``B``'s own signatures, a
shipped adapter's signatures or the adapter guide's capability table disagree.

The shipped adapters are read from their source (ast), not imported: no engine is needed here."""

from __future__ import annotations

import ast
import inspect
import re
from pathlib import Path

import pytest

from autograd_conformance import protocol, registry
from autograd_conformance.contracts import _OPERATORS, _RETURNS_TENSOR, ContractView
from autograd_conformance.backends.torch_backend import TorchBackend
from autograd_conformance.protocol import (EVERY_BACKEND, METHODS, ONE_OF, OPERATIONS, PATHS, REQUIRED_ATTRIBUTES,
                                           Capability)
from autograd_conformance.registry import BUILTIN, BackendError

ROOT = Path(__file__).resolve().parent.parent
PARTS = (protocol.Core, protocol.Operations, protocol.Backward, protocol.GraphNodes, protocol.Tracking,
         protocol.Modules, protocol.Optimizers, protocol.CustomFunction)
DEFINED = {name: getattr(part, name) for part in PARTS for name, value in vars(part).items()
           if inspect.isfunction(value) and not name.startswith("_")}
CAPABILITY_METHODS = {m for table in (METHODS, ONE_OF, PATHS) for methods in table.values() for m in methods}


def _parameters(function) -> list[tuple[str, str, object]]:
    """(name, kind, default) of each parameter but self, defaults as their source text would give."""
    return [(p.name, p.kind.name, p.default) for p in inspect.signature(function).parameters.values()
            if p.name != "self"]


def test_every_method_is_defined_once_and_governed_by_a_table():
    seen: dict[str, str] = {}
    for part in PARTS:
        for name in vars(part):
            if inspect.isfunction(vars(part)[name]) and not name.startswith("_"):
                assert name not in seen, f"{name} is defined in {seen[name]} and {part.__name__}"
                seen[name] = part.__name__
    tables = set(EVERY_BACKEND) | CAPABILITY_METHODS | set(OPERATIONS)
    assert not tables - set(DEFINED), f"the tables name methods no Protocol class defines: {sorted(tables - set(DEFINED))}"
    assert not set(DEFINED) - tables, \
        f"Protocol methods no table governs (required, a capability's or optional?): {sorted(set(DEFINED) - tables)}"
    assert set(EVERY_BACKEND) == {n for n in vars(protocol.Core) if n in DEFINED}, \
        "protocol.Core defines exactly the methods every backend has (EVERY_BACKEND)"
    assert not set(EVERY_BACKEND) & set(OPERATIONS), "a method every backend has is not optional"


def test_required_attributes_are_cores_annotations():
    assert REQUIRED_ATTRIBUTES == ("name", "version", "capabilities", "default_float", *EVERY_BACKEND)
    assert set(REQUIRED_ATTRIBUTES) - set(EVERY_BACKEND) == set(protocol.Core.__annotations__)


def test_every_capability_is_in_the_methods_table_or_needs_none():
    needs_no_method = {Capability.FLOAT64, Capability.PYTORCH_API}
    assert set(METHODS) | needs_no_method == set(Capability), \
        f"capabilities without an entry in METHODS: {sorted(c.value for c in set(Capability) - set(METHODS) - needs_no_method)}"


def test_b_defaults_only_optional_operations_and_keeps_their_signatures():
    """B (contracts.py) gives defaults for some optional operations and checks the results of others:
    each is a protocol method; where B wraps a method with a signature of its own, it is the
    protocol's."""
    assert set(_OPERATORS) | {"watch"} <= set(OPERATIONS)
    assert _RETURNS_TENSOR <= set(DEFINED)
    B = ContractView(TorchBackend())
    for name, function in DEFINED.items():
        wrapped = getattr(B, name, None)
        if wrapped is None:
            continue
        own = [p for p in _parameters(wrapped) if p[1] not in ("VAR_POSITIONAL", "VAR_KEYWORD")]
        if own and len(own) == len(_parameters(wrapped)):  # a signature of B's own, not (*args, **kwargs)
            assert own == _parameters(function), f"B.{name}{inspect.signature(wrapped)} differs from the protocol's"


def _adapter_methods(path: Path) -> dict[str, dict[str, ast.FunctionDef]]:
    """{class name: {method name: its definition}} of a module's classes, read from source."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {node.name: {f.name: f for f in node.body if isinstance(f, ast.FunctionDef)}
            for node in tree.body if isinstance(node, ast.ClassDef)}


def _source_parameters(f: ast.FunctionDef) -> list[tuple[str, str, object]]:
    args = f.args
    positional = args.posonlyargs + args.args
    defaults = [inspect.Parameter.empty] * (len(positional) - len(args.defaults)) + [
        ast.literal_eval(d) for d in args.defaults]
    out = [(a.arg, "POSITIONAL_OR_KEYWORD", d) for a, d in zip(positional, defaults) if a.arg != "self"]
    out += [(a.arg, "KEYWORD_ONLY", inspect.Parameter.empty if d is None else ast.literal_eval(d))
            for a, d in zip(args.kwonlyargs, args.kw_defaults)]
    if args.vararg:
        out.insert(len(positional) - 1, (args.vararg.arg, "VAR_POSITIONAL", inspect.Parameter.empty))
    if args.kwarg:
        out.append((args.kwarg.arg, "VAR_KEYWORD", inspect.Parameter.empty))
    return out


ADAPTER_FILES = sorted({ROOT / "autograd_conformance" / "backends" / f"{path.split(':')[0].rsplit('.', 1)[1]}.py"
                        for path in BUILTIN.values()})


@pytest.mark.parametrize("path", ADAPTER_FILES, ids=lambda p: p.stem)
def test_shipped_adapters_signatures_are_the_protocols(path):
    """Every protocol method a shipped adapter defines has the protocol's parameters and defaults
    (a default of None where the protocol says None means the engine's own default, say)."""
    differ = []
    for cls, methods in _adapter_methods(path).items():
        for name, f in methods.items():
            if name in DEFINED and not name.startswith("_"):
                ours, theirs = _source_parameters(f), _parameters(DEFINED[name])
                if ours != theirs:
                    differ.append(f"{cls}.{name}: {ours} where the protocol has {theirs}")
    assert not differ, "\n".join(differ)


def test_the_registry_refuses_a_capability_without_its_methods():
    """The registry's checks are the tables': an adapter that declares a capability and lacks one of
    METHODS[c] (or has none of ONE_OF[c]; a method set to None is lacking) is refused."""
    registry.check(TorchBackend(), "the reference")
    for capability in Capability:
        for names in [*((m,) for m in METHODS.get(capability, ())), *([ONE_OF[capability]] if capability in ONE_OF else [])]:
            lacking = type("Lacking", (TorchBackend,), {"capabilities": frozenset({capability}),
                                                       **{n: None for n in names}})
            with pytest.raises(BackendError, match=f"declares the capability '{capability.value}' but lacks"):
                registry.check(lacking(), "Lacking")


def test_the_adapter_guides_capability_table_is_the_protocols():
    """docs/adapter-guide.md's table: one row per capability, naming exactly the methods it needs."""
    text = (ROOT / "docs" / "adapter-guide.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| `(\w+)` \|[^|]*\|([^|]*)\|$", text, re.M)
    capabilities_only = {c.value for c in Capability} - set(DEFINED)  # a row may name another capability
    table = {cap: set(re.findall(r"`(\w+)`", methods)) - capabilities_only for cap, methods in rows}
    assert set(table) == {c.value for c in Capability}, "one row per capability"
    for capability in Capability:
        expected = set(METHODS.get(capability, ())) | set(ONE_OF.get(capability, ()))
        assert table[capability.value] == expected, \
            f"the guide's row for {capability.value} names {sorted(table[capability.value])}, the protocol {sorted(expected)}"
