"""Where an engine keeps gradients, and the one way a test takes through it.

An engine keeps gradients in one of three places (protocol.py, "Where gradients live"):

- **held by its optimizer**: ``optimizer_backward(opt, loss)`` adds the loss's gradients to those the
  optimizer holds, ``optimizer_grad(opt, p)`` reads one, ``step(opt)`` applies them and
  ``zero_grad(opt)`` clears them (an engine whose ``opt.backward(loss)`` and ``opt.step()`` work so);
- **stored on tensors** (Capability.STORES_GRADIENTS): ``backward(loss)`` stores them where ``grad(t)``
  reads them, and ``step(opt)`` applies the stored ones;
- **returned**: ``vjp``, ``value_and_grad`` return them, and ``apply_gradients(opt, grads)`` steps.

A claim about optimizers, training or accumulation holds or fails the same way on each; the
helpers here take the engine's own place: the optimizer's where it holds gradients, else the
tensors' where the engine stores them, else the returned ones. An engine with none of the methods
a path needs gets ``Unsupported`` naming them (the test is not applicable).
"""

from __future__ import annotations

from autograd_conformance.protocol import Capability, Unsupported


def optimizer_holds(B) -> bool:
    """Whether the engine's optimizers hold the gradients they apply (OPTIMIZER_GRADIENTS)."""
    return Capability.OPTIMIZER_GRADIENTS in B.capabilities


def stores(B) -> bool:
    """Whether backward stores gradients on tensors (Capability.STORES_GRADIENTS)."""
    return Capability.STORES_GRADIENTS in B.capabilities


class KeptGradients:
    """Gradients kept between backward and an optimizer step, as the seeds' loops handle them:
    ``backward(loss)`` adds to them, ``grad(p)`` reads one, ``zero()`` clears them, ``step()`` applies
    them. With an optimizer ``opt``: held by it where the engine's optimizers hold gradients, else
    stored on the parameters. Without one: stored on the tensors ``params`` where the engine stores
    gradients, else held by an optimizer made to hold them (SGD with learning rate 0, never
    stepped)."""

    def __init__(self, B, params, opt=None) -> None:
        self.B, self.params = B, list(params)
        if opt is not None:
            self.held = optimizer_holds(B)
        else:
            self.held = not stores(B) and optimizer_holds(B)
            if self.held:
                opt = B.sgd(self.params, lr=0.0)
        if not self.held and not stores(B):
            raise Unsupported("stored gradients (backward and grad, or optimizer_backward and "
                              "optimizer_grad)")
        self.opt = opt

    def zero(self) -> None:
        self.B.zero_grad(self.opt)

    def backward(self, loss, retain_graph: bool = False) -> None:
        if self.held:
            self.B.optimizer_backward(self.opt, loss, retain_graph=retain_graph)
        else:
            self.B.backward(loss, retain_graph=retain_graph)

    def grad(self, p):
        return self.B.optimizer_grad(self.opt, p) if self.held else self.B.grad(p)

    def step(self) -> None:
        self.B.step(self.opt)


def train_step(B, opt, model, loss_fn):
    """One optimizer step of model on loss_fn() (which calls model); returns the loss before it:
    the seeds' zero_grad, backward, step where the optimizer holds or the engine stores gradients,
    else value_and_grad then apply_gradients (which puts new arrays into the model if the engine
    makes new ones)."""
    if optimizer_holds(B) or stores(B):
        grads = KeptGradients(B, [p for _, p in B.named_parameters(model)], opt)
        loss = loss_fn()
        grads.zero()
        grads.backward(loss)
        grads.step()
        return loss
    loss, grads = B.value_and_grad(model, loss_fn)
    B.apply_gradients(opt, list(grads))
    return loss


def step_with_gradients(B, opt, params, loss, zero_grad=True, every=True):
    """One optimizer step on the leaves params from the gradient of loss(*params) at their current
    values. Returns (the gradients the step used, None for a parameter the engine holds none for;
    the parameters after the step): held or stored gradients (after zero_grad where zero_grad is
    True), else those of B.vjp given to apply_gradients. every: each parameter must get one."""
    if optimizer_holds(B) or stores(B):
        grads = KeptGradients(B, params, opt)
        if zero_grad:
            grads.zero()
        grads.backward(loss(*params))
        used = [grads.grad(p) for p in params]
        assert not every or all(g is not None for g in used), "backward must give every parameter a gradient"
        used = [None if g is None else B.to_numpy(g).copy() for g in used]
        grads.step()
        return used, params
    _, given = B.vjp(loss, params)
    used = [B.to_numpy(g).copy() for g in given]
    return used, list(B.apply_gradients(opt, list(given)))


def module_step(B, opt, model, loss_fn, zero_grad=True) -> dict:
    """One optimizer step on model's parameters from the gradient of loss_fn() (which calls model).
    Returns the gradients the step used, as numpy, by parameter name."""
    names = [name for name, _ in B.named_parameters(model)]
    if optimizer_holds(B) or stores(B):
        grads = KeptGradients(B, [p for _, p in B.named_parameters(model)], opt)
        if zero_grad:
            grads.zero()
        grads.backward(loss_fn())
        used = {name: grads.grad(p) for name, p in B.named_parameters(model)}
        used = {name: None if g is None else B.to_numpy(g).copy() for name, g in used.items()}
        grads.step()
        return used
    _, given = B.value_and_grad(model, loss_fn)
    used = {name: None if g is None else B.to_numpy(g).copy() for name, g in zip(names, given)}
    B.apply_gradients(opt, list(given))
    return used


def returned_grads(B, model, loss_fn) -> dict:
    """{parameter name: the gradient of loss_fn() (which calls model) with respect to it}, from
    B.value_and_grad: the path of an engine whose gradients are returned rather than stored."""
    _, grads = B.value_and_grad(model, loss_fn)
    return {name: g for (name, _), g in zip(B.named_parameters(model), grads, strict=True)}


def module_grads(B, model, loss_fn) -> dict:
    """{parameter name: the gradient of loss_fn() (which calls model) with respect to it, or None},
    each read where the engine keeps it: stored on the parameters (after a fresh backward; the
    module's earlier gradients are cleared first), held by an optimizer over the module (one with
    learning rate 0, never stepped), or returned by value_and_grad."""
    if stores(B):
        named = B.named_parameters(model)
        if any(B.grad(p) is not None for _, p in named):
            B.module_zero_grad(model)
        B.backward(loss_fn())
        return {name: B.grad(p) for name, p in named}
    if optimizer_holds(B):
        held = KeptGradients(B, [p for _, p in B.named_parameters(model)])
        held.backward(loss_fn())
        return {name: held.grad(p) for name, p in B.named_parameters(model)}
    return returned_grads(B, model, loss_fn)
