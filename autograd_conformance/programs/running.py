"""A program run by the engine, through the adapter B: its leaves as tensors, every node, its loss,
the gradients of its tracked leaves."""

from __future__ import annotations

from autograd_conformance.programs.operations import OPS, PSEUDO_OPERATIONS
from autograd_conformance.programs.program import Program


def make_leaves(B, device, program: Program, tracking: bool = True) -> dict[str, object]:
    """The program's leaves as the engine's tensors (the tracked ones with requires_grad=True where
    tracking is True)."""
    return {leaf.name: B.tensor(leaf.value, device=device, dtype="int64" if leaf.integer else program.dtype,
                                requires_grad=True if leaf.tracked and tracking else None)
            for leaf in program.leaves}


def run(B, program: Program, tensors: dict[str, object], detach=frozenset(), ops=None) -> dict[str, object]:
    """Every node of the program computed by the engine from tensors (name -> tensor: the leaves,
    and any node given, which is then taken as given rather than computed); the nodes in detach are
    detached as they are made; ops: operations run another way (name -> engine(B, *tensors, const)).
    Notes the pseudo-operations it uses in B.called."""
    env = dict(tensors)
    for step in program.steps:
        if step.name in env:
            continue
        B.called.update(op for op in step.operations if op in PSEUDO_OPERATIONS)
        engine = (ops or {}).get(step.op, OPS[step.op].engine)
        out = engine(B, *(env[a] for a in step.args), step.const)
        env[step.name] = B.detach(out) if step.name in detach else out
    return env


def weights_tensor(B, device, program: Program):
    return None if program.weights is None else B.tensor(program.weights, device=device, dtype=program.dtype)


def loss_fn(B, program: Program, leaves: dict[str, object], weights=None, detach=frozenset(), given=None,
            ops=None):
    """fn(*tracked leaves) -> the program's output, or sum(output * weights) where weights (a
    tensor) are given; given: nodes taken as given, detach and ops: as for run."""
    names = [leaf.name for leaf in program.tracked]

    def loss(*tracked):
        out = run(B, program, {**leaves, **(given or {}), **dict(zip(names, tracked))}, detach, ops)[program.output]
        return out if weights is None else B.sum(out * weights)
    return loss


def gradients(B, device, program: Program, detach=frozenset()):
    """(the leaves, the loss, {tracked leaf: the gradient of the loss}) through B.vjp."""
    leaves = make_leaves(B, device, program)
    value, grads = B.vjp(loss_fn(B, program, leaves, weights_tensor(B, device, program), detach),
                         [leaves[leaf.name] for leaf in program.tracked])
    return leaves, value, dict(zip([leaf.name for leaf in program.tracked], grads))
