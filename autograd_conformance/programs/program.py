"""A generated program: its leaves, its steps, and how it prints (the code an engine author pastes)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from autograd_conformance.programs.operations import OPS


@dataclass(frozen=True)
class Leaf:
    name: str
    value: np.ndarray  # float64 as drawn; the engine holds it rounded to the program's dtype
    tracked: bool
    integer: bool = False  # class labels


@dataclass(frozen=True)
class Step:
    name: str
    op: str
    args: tuple[str, ...]
    const: object = None  # a Python float, a shape: what the operation takes besides tensors
    broadcast: bool = False  # a binary step whose second operand is a row broadcast over a matrix

    @property
    def operations(self) -> tuple[str, ...]:
        """The adapter methods and pseudo-operations this step uses beyond the core vocabulary."""
        return OPS[self.op].needs + (("broadcast",) if self.broadcast else ())


@dataclass(frozen=True)
class Program:
    dtype: str
    leaves: tuple[Leaf, ...]
    steps: tuple[Step, ...]
    weights: np.ndarray | None = field(default=None)  # loss = sum(output * weights); None: the output is one number
    seeded: bool = False  # the weights are the seed of a vjp of the output (what code() prints)

    @property
    def output(self) -> str:
        return self.steps[-1].name

    @property
    def tracked(self) -> list[Leaf]:
        return [leaf for leaf in self.leaves if leaf.tracked]

    @property
    def operations(self) -> set[str]:
        return {op for step in self.steps for op in step.operations}

    def size(self) -> int:
        return len(self.steps) + 1

    def __repr__(self) -> str:
        return self.code()

    def _repr_pretty_(self, printer, cycle) -> None:  # how Hypothesis prints a falsifying example
        printer.text("\n" + self.code())

    def code(self, with_loss: bool = True) -> str:
        """The program as Python in the adapter's terms (paste it where B, device and numpy as np
        are defined): the leaves, `fn` computing the output from the tracked ones, and (with_loss)
        the loss and its gradients through B.vjp."""
        names = [leaf.name for leaf in self.tracked]
        lines = [f"# a generated program in {self.dtype}; tracked: {', '.join(names)}"]
        for leaf in self.leaves:
            dtype = "int64" if leaf.integer else self.dtype
            flag = ", requires_grad=True" if leaf.tracked else ""
            lines.append(f"{leaf.name} = B.tensor(np.array({_literal(leaf.value)}), device=device, "
                         f"dtype={dtype!r}{flag})")
        lines.append(f"def fn({', '.join(names)}):")
        lines += [f"    {step.name} = {OPS[step.op].code(step)}" for step in self.steps]
        lines.append(f"    return {self.output}")
        if with_loss:
            if self.seeded:
                lines.append(f"cotangent = B.tensor(np.array({_literal(self.weights)}), device=device, "
                             f"dtype={self.dtype!r})")
                lines.append(f"value, grads = B.vjp(fn, [{', '.join(names)}], cotangent)")
                return "\n".join(lines)
            if self.weights is None:
                lines.append("loss = fn")
            else:
                lines.append(f"weights = B.tensor(np.array({_literal(self.weights)}), device=device, "
                             f"dtype={self.dtype!r})")
                lines.append("loss = lambda *tracked: B.sum(fn(*tracked) * weights)")
            lines.append(f"value, grads = B.vjp(loss, [{', '.join(names)}])")
        return "\n".join(lines)


def _literal(value: np.ndarray) -> str:
    return np.array2string(np.asarray(value), separator=", ", precision=17, threshold=10**6,
                           max_line_width=10**6).replace("\n", "")
