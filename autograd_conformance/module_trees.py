"""Generated module trees: claims about modules checked on trees no seed builds.

A *tree* is a few custom modules (``B.module``) nested up to three levels: each module is assigned
one or two parameters first, then a plain tensor now and then (never registered), then its sub-modules;
a sub-module is a new module or one made before, so that one module is registered under two names
(in two parents, or twice in one); forward multiplies its input by each parameter, adds each plain
tensor, then adds each sub-module's output, calling one of them twice now and then (a module reused
in forward). Every value has the shape (n,).

``expected_parameters`` says what ``named_parameters`` of the root lists: each module once, under
the first name it is reached by, depth first in assignment order; each module's parameters in
assignment order, each parameter once. ``repr`` of a tree is the code that builds it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from hypothesis import assume
from hypothesis import strategies as st

N = 3  # the length of every value


@dataclass(frozen=True)
class Module:
    params: tuple[str, ...]  # names of its parameters, in assignment order
    tensors: tuple[str, ...]  # names of its plain tensors
    children: tuple[tuple[str, int], ...]  # (name, index of the module), in assignment order
    calls: tuple[str, ...]  # the sub-modules forward calls, in order (one may be called twice)


@dataclass(frozen=True)
class Tree:
    modules: tuple[Module, ...]  # sub-modules before the modules that hold them; the root last
    values: dict  # (module index, attribute name) -> float64 values of a parameter or plain tensor

    def __repr__(self) -> str:
        lines = ["# a generated module tree (B the adapter; x a tensor of shape (3,))"]
        for i, m in enumerate(self.modules):
            attrs = [f"{name}=B.parameter(B.tensor({_list(self.values[i, name])}, device=device))" for name in m.params]
            attrs += [f"{name}=B.tensor({_list(self.values[i, name])}, device=device)" for name in m.tensors]
            attrs += [f"{name}=m{j}" for name, j in m.children]
            lines.append(f"m{i} = B.module(forward({m.params}, {m.tensors}, {m.calls}), {', '.join(attrs)})")
        return "\n".join(lines)

    def _repr_pretty_(self, printer, cycle) -> None:  # how Hypothesis prints a falsifying example
        printer.text("\n" + repr(self))

    @property
    def root(self) -> int:
        return len(self.modules) - 1

    def expected_parameters(self) -> list[tuple[str, tuple[int, str]]]:
        """(dotted name, (module index, attribute)) of each parameter named_parameters(root) lists."""
        seen, found = set(), []

        def visit(i, prefix):
            if i in seen:
                return
            seen.add(i)
            found.extend((prefix + name, (i, name)) for name in self.modules[i].params)
            for name, j in self.modules[i].children:
                visit(j, f"{prefix}{name}.")
        visit(self.root, "")
        return found

    def plain_tensor_paths(self) -> set[str]:
        """Every dotted name a plain tensor of the tree is reachable by (for an engine that lists
        them too: whether it should is modules.plain-tensor-not-registered's claim)."""
        found = set()

        def visit(i, prefix):
            found.update(prefix + name for name in self.modules[i].tensors)
            for name, j in self.modules[i].children:
                visit(j, f"{prefix}{name}.")
        visit(self.root, "")
        return found

    def numpy_forward(self, x: np.ndarray, values: dict | None = None, i: int | None = None) -> np.ndarray:
        """What module i (the root) computes from x in float64, with values (default: the tree's)."""
        i, values = self.root if i is None else i, self.values if values is None else values
        m, h = self.modules[i], np.asarray(x, dtype=np.float64)
        for name in m.params:
            h = h * values[i, name]
        for name in m.tensors:
            h = h + values[i, name]
        children = dict(m.children)
        for name in m.calls:
            h = h + self.numpy_forward(h, values, children[name])
        return h

    def numpy_gradients(self, x, w, values: dict) -> dict:
        """{(module, parameter): the gradient of sum(root(x) * w)} at values, by float64 central
        differences (the forward is a polynomial of low degree: exact to ~1e-10)."""
        def loss(v):
            return float(np.sum(self.numpy_forward(x, v) * w))

        grads, eps = {}, 1e-6
        for key in {where for _, where in self.expected_parameters()}:
            g = np.zeros(N)
            for k in range(N):
                step = np.zeros(N)
                step[k] = eps
                g[k] = (loss({**values, key: values[key] + step}) - loss({**values, key: values[key] - step})) / (2 * eps)
            grads[key] = g
        return grads


def _list(values) -> str:
    return repr([float(v) for v in values])


def forward(params, tensors, calls):
    """The forward of a generated module (what Tree.numpy_forward computes), in tensor operators."""
    def run(m, x):
        h = x
        for name in params:
            h = h * getattr(m, name)
        for name in tensors:
            h = h + getattr(m, name)
        for name in calls:
            h = h + getattr(m, name)(h)
        return h
    return run


def build(B, device, tree: Tree) -> list:
    """The tree's modules, made through B (the root last)."""
    made = []
    for i, m in enumerate(tree.modules):
        attrs = {name: B.parameter(B.tensor(tree.values[i, name], device=device)) for name in m.params}
        attrs.update({name: B.tensor(tree.values[i, name], device=device) for name in m.tensors})
        attrs.update({name: made[j] for name, j in m.children})
        made.append(B.module(forward(m.params, m.tensors, m.calls), **attrs))
    return made


def resolve(module, dotted: str):
    """The attribute at a dotted path (a.b.w) of module."""
    for part in dotted.split("."):
        module = getattr(module, part)
    return module


@st.composite
def trees(draw, max_depth: int = 3) -> Tree:
    """A random tree (see the module docstring) with at least one parameter."""
    modules: list[Module] = []
    values: dict = {}
    depth_of: list[int] = []  # the height of each module's subtree
    # drawn from a generator Hypothesis seeds, as programs are (strategy.py)
    rng = np.random.default_rng(draw(st.integers(0, 2 ** 32 - 1), label="tree seed"))

    def signed():  # |v| in [0.5, 1.5]: products of a few stay near 1
        return rng.uniform(0.5, 1.5, size=N) * rng.choice([-1.0, 1.0], size=N)

    def make(level: int) -> int:
        children = []
        if level < max_depth:
            for k in range(int(rng.integers(0, 3))):
                made = [j for j in range(len(modules)) if depth_of[j] + level < max_depth]
                if made and rng.random() < 0.5:  # a module made before: registered twice
                    children.append((f"shared{k}", made[int(rng.integers(len(made)))]))
                else:
                    children.append((f"sub{k}", make(level + 1)))
        i = len(modules)
        params = tuple(f"w{k}" for k in range(int(rng.integers(1, 3))))
        tensors = ("t",) if rng.random() < 0.25 else ()
        calls = [name for name, _ in children]
        if calls and rng.random() < 1 / 3:
            calls.append(calls[int(rng.integers(len(calls)))])  # reused in forward
        for name in params + tensors:
            values[i, name] = signed()
        modules.append(Module(params, tensors, tuple(children), tuple(calls)))
        depth_of.append(1 + max((depth_of[j] for _, j in children), default=0))
        return i

    make(1)
    tree = Tree(tuple(modules), values)
    assume(tree.expected_parameters())
    return tree
