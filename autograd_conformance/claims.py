"""The claim registry: every checkable claim the seed documents make, in one place.

Each claim has a stable id (never reused or renamed; retire one by leaving it out and noting
why), our own one-line English statement, the seed file and notebook cell (or section, for the
seeds that are blog posts without cells) it comes from, the capabilities a backend needs for
the claim to apply, why (``why``: what the claim's tests observe, which is what makes those
capabilities necessary and no others), and its level:

- SEMANTICS: any engine that has those capabilities must hold it;
- PYTORCH: a PyTorch detail (a class name, a default, a printed table); it applies only to
  backends that declare Capability.PYTORCH_API;
- PIPELINE: a claim about the reference data pipeline (torchvision, torch's DataLoader) that every
  engine's users feed from; checked once per run without the engine, reported apart from it.

``needs`` is what every test of the claim needs. A test that observes more (say, the variant of a
value claim that reads ``.grad`` instead of using ``vjp``) adds it with
``@pytest.mark.needs(...)``; an operation a test calls that the backend lacks makes that test
alone not applicable (see ``protocol.OPERATIONS``).

``about`` lists the operations, beyond the core vocabulary (``protocol.CORE_METHODS``) and the
methods of the capabilities it needs, that the claim is about: its tests call them as their
subject. Any other operation a test calls is a prerequisite it declares with
``@pytest.mark.uses(...)``, checked by the claim ``PREREQUISITES`` names for it (prerequisites.py:
when that claim fails, the test is blocked, not failed). tests/test_vocabulary.py checks, on a
recorded run of the reference, that every test calls nothing else.

Every source must show or state what the claim says (tests/test_seed_rules.py checks that each
cites a cell or section the seed has). Where a seed is wrong or outdated, the statement encodes
what is true and says what the seed showed (``seed_note``). Where a claim goes beyond what the
seeds show (a rule they only use, a property they show at one point), ``generalises`` says what
it extends and the documentation it rests on: the reports mark it as the suite's, not the
seeds'. Tests name their claim with ``@pytest.mark.claim("<id>")``.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

from autograd_conformance.protocol import KEPT_GRADIENTS, AnyOf
from autograd_conformance.protocol import Capability as C

SEMANTICS = "semantics"
PYTORCH = "pytorch-detail"
PIPELINE = "reference-pipeline"

S000 = "000_17a0c5e11f67d8ba.txt"
S001 = "001_b68a8d5263953d7e.txt"
S002 = "002_f03f0faafb1e43ba.txt"
S003 = "003_be57bb8845cb2920.txt"
S004 = "004_3dddc57b0c4431f5.txt"


@dataclass(frozen=True)
class Claim:
    id: str
    statement: str
    source: tuple[str, ...]  # "<seed file> In [n]" or "<seed file> § <section>"
    needs: tuple[C | AnyOf, ...] = ()  # AnyOf: any one of several (KEPT_GRADIENTS)
    level: str = SEMANTICS
    seed_note: str = ""  # where the seed is wrong or outdated: what it showed, and why
    why: str = ""  # what the tests observe: the reason for exactly these needs
    about: tuple[str, ...] = ()  # operations (protocol.OPERATIONS) the claim is about
    generalises: str = ""  # beyond the seeds: what the claim extends, and the documentation it rests on

    @property
    def area(self) -> str:
        """The suite area, the id's first part: graph, backward, optim, ..."""
        return self.id.split(".", 1)[0]

    @property
    def origin(self) -> str:
        """"seeds" where the seeds show or state the claim, "suite" where it generalises them."""
        return "suite" if self.generalises else "seeds"

    @property
    def all_needs(self) -> tuple[C | AnyOf, ...]:
        """needs, and PYTORCH_API for a PyTorch detail: every capability the claim's tests need."""
        return self.needs + ((C.PYTORCH_API,) if self.level == PYTORCH else ())


def _claim(id, statement, source, needs=(), level=SEMANTICS, seed_note="", why="", about=(),
           generalises="") -> Claim:
    sources = (source,) if isinstance(source, str) else tuple(source)
    return Claim(id, statement, sources, tuple(needs), level, seed_note, why, tuple(about), generalises)


def _index(claims: list[Claim]) -> dict[str, Claim]:
    index: dict[str, Claim] = {}
    for c in claims:
        if c.id in index:
            raise RuntimeError(f"duplicate claim id {c.id}")
        index[c.id] = c
    return index


ST, RG, SRG, GN = C.STORES_GRADIENTS, C.REQUIRES_GRAD, C.SET_REQUIRES_GRAD, C.GRAPH_NODES
FG, RT, RB = C.FREES_GRAPH, C.RETAIN_GRAPH, C.REPEAT_BACKWARD
NG, DT, IP, MOD, OPT, CF = C.NO_GRAD, C.DETACH, C.IN_PLACE, C.MODULES, C.OPTIMIZERS, C.CUSTOM_FUNCTION
F64 = C.FLOAT64
KG = KEPT_GRADIENTS  # stored on tensors (STORES_GRADIENTS) or held by the optimizer (OPTIMIZER_GRADIENTS)

CLAIMS: dict[str, Claim] = _index([
    # ---------------------------------------------------------------- graph recording
    _claim("graph.leaf-has-no-node",
           "A tensor created with requires_grad=True is a leaf: it records operations but has no "
           "graph node of its own.", f"{S001} In [2]", (GN,),
           why='reads grad_fn of a created tensor (its flag too, where the engine has one)'),
    _claim("graph.result-has-node",
           "The result of an operation on a tracked tensor (y = x + 2) carries the graph node that "
           "made it, and that node leads back to the input.", f"{S001} In [3]", (GN,),
           why="reads grad_fn of x + 2 and that node's inputs (which must be x's own node where x has one)"),
    _claim("graph.untracked-input-has-no-node",
           "An input batch that does not require grad has no node, and flattening it creates none: "
           "the first node appears at the first operation that involves a parameter.",
           f"{S000} In [92]", (GN, RG),
           why='needs an input made untracked (the flag) and reads grad_fn; the module variant also uses Flatten and Linear layers',
           about=('reshape', 'matmul', 'flatten_layer', 'linear')),
    _claim("graph.tracked-after-requires-grad",
           "Once requires_grad is switched on for an existing tensor, operations on it are "
           "recorded: (a * a).sum() then has a node.", f"{S001} In [10]", (GN, RG, SRG),
           why='makes an untracked tensor, switches its flag in place, reads grad_fn before and after'),
    _claim("graph.basic-node-names",
           "PyTorch names the nodes of x + 2, y * y * 3, .mean() and .sum() AddBackward0, "
           "MulBackward0, MeanBackward0 and SumBackward0.",
           (f"{S001} In [4]", f"{S001} In [14]", f"{S001} In [10]"), (GN,), PYTORCH,
           why='reads node class names',
           about=('sum', 'mean')),
    _claim("graph.layer-node-names",
           "In the seeds' MLP, the outputs of nn.Linear and nn.ReLU carry AddmmBackward0 and "
           "ReluBackward0 nodes; the versioned suffix 0 is part of today's names.",
           (f"{S000} In [92]", f"{S001} In [52]"), (GN, MOD), PYTORCH,
           seed_note="001 In [52] and In [55] print AddmmBackward and MseLossBackward: names from "
                     "torch before 1.10; today they end in 0.",
           why='reads the node names of Linear and ReLU layer outputs',
           about=('linear', 'relu_layer')),
    _claim("graph.loss-node-names",
           "binary_cross_entropy_with_logits gives a BinaryCrossEntropyWithLogitsBackward0 node, "
           "and z = x @ w + b an AddBackward0 node; MSELoss gives MseLossBackward0.",
           (f"{S002} In [13]", f"{S001} In [55]", f"{S003} § train mode (using AutoGrad)"), (GN,), PYTORCH,
           why='reads the node names of loss outputs',
           about=('matmul', 'bce_with_logits', 'mse_loss')),
    _claim("graph.next-functions-chain",
           "From an MSE loss on a Linear output, grad_fn leads to MseLossBackward0, then "
           "AddmmBackward0, then AccumulateGrad, whose variable is the Linear layer's own bias, not to a "
           "ReLU node.",
           f"{S001} In [59]", (GN, MOD), PYTORCH,
           seed_note="the seed's comments label the second hop 'Linear' and the third 'Relu', but "
                     "its own output shows AccumulateGrad: next_functions[0] of an addmm is the "
                     "bias leaf.",
           why='walks node inputs from a loss on a Linear layer',
           about=('linear', 'linear_parameters', 'relu', 'mse_loss')),

    # ---------------------------------------------------------------- backward and VJP
    _claim("backward.mean-of-3-squares",
           "For x = ones(2, 2), out = mean(3 (x + 2)^2) is 27 and backward gives d out/dx = 4.5 "
           "in every element.", (f"{S001} In [14]", f"{S001} In [15]"), (),
           seed_note="001 In [17] prints 9, not 4.5: the cells In [14] and In [15] were run twice, "
                     "building a second graph whose backward added to x.grad (running only the "
                     "backward cell again raises there); 4.5 = 1.5 (x + 2) follows from In [14].",
           why='gradient values through vjp; the backward variant also reads .grad'),
    _claim("backward.non-scalar-needs-seed",
           "backward() without a seed is defined only for a one-element output: on a vector output "
           "it raises an error rather than inventing a seed, and backward(v) there computes v^T J.",
           (f"{S001} In [15]", f"{S001} In [32] (the first)"), (ST,),
           why='calls backward without a seed on a vector output, then with one, and reads .grad',
           about=('vjp(cotangent)',),
           generalises="001 ties backward() = backward(tensor(1.)) to a scalar output; the error for a vector"
                       " output is documented at "
                       "https://pytorch.org/docs/stable/generated/torch.Tensor.backward.html"),
    _claim("backward.full-jacobian",
           "The engine's Jacobian function gives the full Jacobian of a vector function, whose "
           "row i is the vector-Jacobian product with the i-th unit seed.",
           f"{S001} In [32] (the first)", (),
           seed_note="the text before the first In [32] says torch.autograd cannot compute the full "
                     "Jacobian directly; torch.autograd.functional.jacobian does (built from VJPs).",
           why='the Jacobian operation and vjp values',
           about=('jacobian',),
           generalises="001 says before In [32] that autograd computes vector-Jacobian products, not the full"
                       " Jacobian; the engine's Jacobian function is documented at "
                       "https://pytorch.org/docs/stable/generated/torch.autograd.functional.jacobian.html"),
    _claim("backward.matches-finite-differences",
           "Autograd's gradients are the derivatives: they agree with float64 central finite "
           "differences.", (f"{S001} In [17]", f"{S003} § AutoGrad"), (F64,),
           why='compares float64 vjp gradients with float64 differences',
           generalises="the seeds print gradients at a few points; that they are the derivatives everywhere "
                       "is autograd's definition, checked as gradcheck does "
                       "(https://pytorch.org/docs/stable/autograd.html#numerical-gradient-checking)"),
    _claim("backward.scalar-default-seed",
           "For a scalar output, backward() is the same as backward(tensor(1.)).",
           f"{S001} In [15]", (ST,),
           why='calls backward with and without a seed and reads .grad',
           about=('vjp(cotangent)',)),
    _claim("backward.vjp-seed-vector",
           "backward(v) on a vector output computes the vector-Jacobian product v^T J: for "
           "y = x * 2^10 and v = [0.1, 1, 0.0001], x.grad is [102.4, 1024, 0.1024].",
           (f"{S001} In [31] (the first)", f"{S001} In [32] (the first)"), (),
           seed_note="the text before the first In [32] says autograd cannot compute the full "
                     "Jacobian directly; torch.autograd.functional.jacobian does (see "
                     "backward.full-jacobian).",
           why='gradient values through vjp; the backward variant also reads .grad',
           about=('vjp(cotangent)',)),
    _claim("backward.vjp-linear-in-seed",
           "The vector-Jacobian product is linear in the seed vector: VJP(a u + b v) = "
           "a VJP(u) + b VJP(v).", f"{S001} In [32] (the first)", (),
           why='gradient values through vjp',
           about=('vjp(cotangent)',),
           generalises="001 In [32] uses one seed vector; linearity in it follows from the product v^T J that"
                       " 001's text describes "
                       "(https://pytorch.org/docs/stable/generated/torch.autograd.functional.vjp.html)"),
    _claim("backward.only-leaves-get-grad",
           "After backward only leaf tensors that require grad hold .grad: an intermediate "
           "result (y) and the seed vector (v) have none.",
           (f"{S001} In [33]", f"{S001} In [34]", f"{S002} In [14]"), (ST,),
           seed_note="001 In [33] prints None for y.grad silently; today's torch also warns that "
                     "the .grad of a non-leaf is not populated (retain_grad() would keep it).",
           why='reads .grad of a leaf, an intermediate and the seed after backward'),
    _claim("backward.chain-rule-40",
           "For w = 2, z = 10 w^2 + 25 gives dz/dw = 20 w = 40 (and 20 w at any w), through the "
           "functional VJP and through z.backward() and w.grad; and in general the gradient of a "
           "program of the seeds' operations with respect to each tracked input is the chain rule's.", f"{S003} § AutoGrad", (),
           why='gradient values through vjp; the backward variant also reads .grad'),
    _claim("backward.bce-rows-equal-bias-grad",
           "With x = ones(5), z = x @ w + b and a BCE-with-logits loss, every row of dL/dw "
           "equals dL/db, and dL/db = (sigmoid(z) - y) / 3.", f"{S002} In [14]", (),
           why='gradient values through vjp',
           about=('bce_with_logits',)),
    _claim("backward.matmul-vector-shape",
           "matmul of a length-5 vector with a 5x3 matrix treats the vector as a row and gives "
           "a length-3 vector.", f"{S002} In [12]", (),
           why='the shape of a vector-matrix product',
           about=('matmul',)),
    _claim("backward.mse-loss",
           "MSE with mean reduction is mean((out - t)^2) with gradient 2 (out - t) / n; with "
           "reduction='sum' it is the sum, with gradient 2 (out - t).",
           (f"{S001} In [55]", f"{S004} § 5. nn 모듈", f"{S004} § 1. Numpy를 이용해서 가중치 갱신해보기"), (),
           why='loss and gradient values through vjp',
           about=('mse_loss',),
           generalises="004 § 1 writes the summed loss and its gradient 2 (y_pred - y); the mean reduction is"
                       " MSELoss's documented default "
                       "(https://pytorch.org/docs/stable/generated/torch.nn.MSELoss.html)"),
    _claim("backward.cross-entropy",
           "Cross-entropy of logits against integer labels is the mean negative log-softmax of "
           "the true class, with gradient (softmax - onehot) / batch.", f"{S000} In [83]", (),
           why='loss and gradient values through vjp',
           about=('cross_entropy',),
           generalises="000 In [83] uses CrossEntropyLoss; its formula and gradient are the documentation's "
                       "(https://pytorch.org/docs/stable/generated/torch.nn.CrossEntropyLoss.html)"),
    _claim("backward.sum-is-zero-dim",
           "(y_pred - y).pow(2).sum() is a 0-dimensional tensor (shape ()), and backward() from it "
           "without a seed gives d loss / d y_pred = 2 (y_pred - y).", (f"{S004} § 3. Autograd", f"{S004} § 1. Numpy를 이용해서 가중치 갱신해보기"), (),
           seed_note="the seed's comment says the loss has shape (1,); it has shape (). (A "
                     "one-element tensor of shape (1,) would also take backward() without a seed: "
                     "the 0-d shape is what sum returns, not what backward requires.)",
           why='the shape of a sum; the backward variant also reads .grad',
           about=('sum',)),
    _claim("backward.relu-dead-units-zero-grad",
           "A unit whose ReLU is inactive for every sample gets exactly zero gradient in the "
           "weights and bias that produce it and in the next layer's weights that read it.",
           (f"{S002} In [300]", f"{S000} In [83]"), (),
           why='gradient values through vjp',
           about=('relu',)),
    _claim("backward.module-vjp-fills-param-grads",
           "backward(v) from a module's non-scalar output fills every parameter's .grad with a "
           "tensor of the parameter's shape, equal to the functional VJP.",
           f"{S001} In [53]", (ST, MOD),
           why="backward from a module's output, then each parameter's .grad",
           about=('vjp(cotangent)',)),
    _claim("backward.lenet-grads",
           "In the seeds' LeNet, out.backward(v) from the (1, 10) output gives all 10 parameters a "
           "gradient, and an MSE loss's backward populates conv1.bias.grad with non-zero values; "
           "every gradient equals numpy backprop through the convolutions, ReLUs, max-pooling and "
           "Linear layers.", (f"{S001} In [53]", f"{S001} In [60]"), (ST, MOD),
           why="backward from LeNet's output and loss, then each parameter's .grad",
           about=('vjp(cotangent)',)),

    # ---------------------------------------------------------------- accumulation and zeroing
    _claim("accumulation.second-backward-adds",
           "A second backward through a retained graph adds to .grad: mean(3 (x + 2)^2) gives 9 "
           "after two backward passes.", (f"{S002} In [79]", f"{S002} In [81]"), (KG, RB),
           seed_note="001 In [17]'s 9 is not such a case: it comes from two separate graphs "
                     "(see backward.mean-of-3-squares).",
           why='runs backward twice through one graph and reads .grad'),
    _claim("accumulation.retain-twice-equals-double",
           "backward(retain_graph=True) then backward() leaves .grad equal to twice a single "
           "backward.", (f"{S002} In [79]", f"{S002} In [81]"), (KG, RB),
           why='runs backward k times through one graph and reads .grad'),
    _claim("accumulation.no-zero-grad-accumulates",
           "Without zero_grad, each iteration's backward adds its fresh gradient to .grad: after "
           "k iterations .grad is the sum of the k per-iteration gradients.",
           (f"{S002} In [301]", f"{S004} § 4. 새로운 Autograd 기능 정의하기"), (KG,),
           why='.grad after backward through several graphs without zeroing; the module variant also steps an optimizer'),
    _claim("accumulation.zero-grad-each-step-fresh",
           "With optimizer.zero_grad() before each backward, .grad after each backward equals the "
           "gradient at the current weights alone.", f"{S002} In [300]", (KG, MOD, OPT),
           why='optimizer.zero_grad between backward passes, then .grad'),
    _claim("accumulation.no-step-same-grad",
           "Without optimizer.step(), repeated zero_grad/backward on the same input gives "
           "bit-identical gradients; with step() they drift as the weights change.",
           f"{S002} In [300]", (KG, MOD, OPT),
           seed_note="In [305], headed 'without optimizer.step()', still calls optimizer.step(): "
                     "its output equals In [300]'s and drifts (0.0023 -> 0.0022) because of that, so "
                     "no seed cell runs the loop without step().",
           why='.grad over iterations with and without optimizer.step',
           generalises="002 In [300] shows the drift with step(); without step() the weights, and so the "
                       "gradients, stay as they are: step() is what changes parameters "
                       "(https://pytorch.org/docs/stable/optim.html)"),
    _claim("accumulation.zero-grad-sets-none",
           "zero_grad() called without arguments sets gradients to None (the default since torch "
           "2.0), for an optimizer and a module alike; zero_grad(set_to_none=False) fills them with "
           "zeros instead.",
           f"{S001} In [60]", (ST, MOD, OPT), PYTORCH,
           seed_note="the seed prints tensor([0., ...]) for conv1.bias.grad after "
                     "net.zero_grad(): the behaviour of torch < 2.0.",
           why='.grad after zero_grad with its default and set_to_none=False',
           about=('module_zero_grad',),
           generalises="001 In [60] shows zeros (torch before 2.0); None is the documented default since "
                       "torch 2.0 "
                       "(https://pytorch.org/docs/stable/generated/torch.optim.Optimizer.zero_grad.html)"),
    _claim("accumulation.multi-task-losses-sum",
           "Two different losses on one graph, loss1.backward(retain_graph=True) then "
           "loss2.backward(), leave in .grad the sum of the two losses' gradients.",
           f"{S002} § 튜토리얼 외의 내용", (KG, RB),
           why='two backward passes from different roots of one graph, then .grad'),
    _claim("accumulation.manual-zero-resets",
           "w.grad.zero_() after a manual update makes the next backward start from zero.",
           f"{S004} § 3. Autograd", (ST, IP),
           why='zeroes a stored gradient in place, then backward again'),

    # ---------------------------------------------------------------- retain_graph
    _claim("retain.second-backward-errors",
           "A second backward through a graph whose nodes saved tensors for backward raises an "
           "error (RuntimeError, ValueError, SystemError or AssertionError, never silence) once the first "
           "backward has freed them; the tensors themselves (x, w, b, z, loss) remain usable.",
           f"{S002} In [5]", (FG,),
           seed_note="002 says backward deletes x, w, b, z, y and loss; it frees the tensors the "
                     "graph saved for backward, not the tensors the program holds.",
           why='a second backward through a graph that backward freed: backward from an output '
               '(STORES_GRADIENTS), or a second pullback of a recording (record); the values afterwards'),
    _claim("retain.error-names-retain-graph",
           "The freed-graph error is a RuntimeError that tells the user to pass "
           "retain_graph=True.", f"{S002} In [5]", (ST, FG), PYTORCH,
           why='the message of the freed-graph error'),
    _claim("retain.retain-graph-allows-second",
           "backward(retain_graph=True) keeps the graph so that a second backward succeeds.",
           f"{S002} In [9]", (RT,),
           seed_note="002's summary says retain_graph restores the graph that backward removed; it "
                     "keeps the graph from being freed in the first place.",
           why='backward(retain_graph=True), then backward again (its .grad doubles), or a '
               'retained recording pulled back twice (the same gradients)'),
    _claim("retain.second-backward-without-saved-tensors",
           "A graph that saved no tensors for backward ((x + 2).sum()) can be backpropagated "
           "twice without retain_graph, and the gradients add.",
           f"{S002} § 튜토리얼 외의 내용", (ST, FG), PYTORCH,
           seed_note="the seed says backward is possible only once per graph; the error comes from "
                     "freed saved tensors, so a graph that saved none does not raise.",
           why='a second backward through a freed graph that saved nothing',
           generalises="002 says a graph is backpropagated once; what is freed is the saved tensors, so a "
                       "graph that saved none runs again "
                       "(https://pytorch.org/docs/stable/notes/autograd.html#saved-tensors)"),
    _claim("retain.doubling-graph-vjp-twice-errors",
           "Repeating y.backward(v) on the seed's doubling graph (y = x * 2 ... * 2) raises, "
           "because multiplication by a Python number saves that number for backward.",
           (f"{S001} In [None]", f"{S002} In [5]"), (ST, FG), PYTORCH,
           seed_note="the seed's cell re-runs y.backward(v) without output; on today's torch it "
                     "raises the freed-graph error.",
           why='a second backward through the freed doubling graph',
           about=('vjp(cotangent)',),
           generalises="001 In [None] repeats y.backward(v) but was never run; the error it would raise is "
                       "002 In [5]'s, for a graph whose nodes saved tensors "
                       "(https://pytorch.org/docs/stable/notes/autograd.html#saved-tensors)"),

    # ---------------------------------------------------------------- no_grad, detach, .data
    _claim("retain.functional-grad-frees-graph",
           "The functional gradient call (torch.autograd.grad) frees the graph as backward does: a "
           "second call through the same graph raises unless the first kept it (retain_graph=True), "
           "and then both give the same gradients.", f"{S002} In [5]", (FG,),
           why="the engine's functional gradient call (record's pullback: torch's autograd.grad, "
               "a TensorFlow tape) called twice, without and with retain_graph",
           about=('record',)),
    _claim("tracking.default-untracked",
           "Tensors are untracked by default, and so are results computed only from untracked "
           "tensors.", f"{S001} In [7]", (RG,),
           why='the flag of new tensors and of their results'),
    _claim("tracking.requires-grad-in-place",
           "requires_grad_(True) switches tracking on for the same tensor object without "
           "changing its values.", f"{S001} In [9]", (RG, SRG),
           why='switches the flag of an existing tensor and reads it'),
    _claim("tracking.result-of-tracked-is-tracked",
           "Operations on a tracked tensor give tracked results: (x ** 2).requires_grad is True.",
           f"{S001} In [31] (the second)", (RG,),
           why='the flag of a result'),
    _claim("tracking.no-grad-untracked",
           "Inside no_grad, results of operations on tracked tensors are not tracked and have no "
           "graph node.", (f"{S001} In [32] (the second)", f"{S002} In [18]"), (NG, RG),
           why='the flag (and node, where the engine has them) of results made in no_grad'),
    _claim("tracking.no-grad-ends-with-its-block",
           "no_grad lasts as long as its block: after it, operations on tracked tensors are tracked "
           "again, whether the block ended normally or by an exception.",
           (f"{S001} In [31] (the second)", f"{S001} In [32] (the second)", f"{S001} In [36]"), (NG, RG),
           why='the flag of a result made after a no_grad block that ended normally, and by an exception',
           generalises="the seeds show tracking before and inside a no_grad block and a tracked x after "
                       "it; that the block's end (an exception's included) turns tracking back on is "
                       "no_grad being a context manager: "
                       "https://pytorch.org/docs/stable/generated/torch.no_grad.html"),
    _claim("tracking.no-grad-same-values",
           "no_grad changes tracking, not values: predictions under no_grad equal tracked ones.",
           (f"{S003} § test mode", f"{S002} In [18]"), (NG,),
           why='values inside and outside no_grad'),
    _claim("tracking.detach-untracked-equal",
           "detach() returns an untracked tensor with the same values (x.eq(x.detach()).all()).",
           (f"{S001} In [36]", f"{S002} In [21]"), (DT,),
           why='values of detach(x) and that no gradient flows through it (its flag too, where the engine has one)'),
    _claim("tracking.detach-shares-storage",
           "A detached tensor shares storage with the original: an in-place change to it shows "
           "in the original.", f"{S001} In [36]", (DT, IP),
           why='an in-place change of the detached tensor, seen in the original',
           generalises="001 In [36] shows detach's flag and values; the shared storage is the documentation's"
                       " (https://pytorch.org/docs/stable/generated/torch.Tensor.detach.html)"),
    _claim("tracking.data-shares-storage-untracked",
           "tensor.data shares storage with the tensor but does not track history: an update "
           "through .data changes the tensor and adds no node.",
           (f"{S004} § 3. Autograd", f"{S001} In [61]"), (IP, RG),
           why='the flag of t.data, an in-place change through it (recorded where the engine '
               'records in-place changes) and the graph node of t after it',
           about=('sub_recorded',)),
    _claim("tracking.in-place-on-tracked-leaf-errors",
           "Changing a leaf that requires grad in place outside no_grad raises an error and leaves "
           "it unchanged; the same change under no_grad, or on a leaf that does not require grad, "
           "is allowed.", f"{S004} § 3. Autograd", (RG, IP),
           why="an engine's own in-place subtraction on a tracked leaf, outside and inside no_grad",
           about=('sub_recorded',),
           generalises="004 § 3 updates leaves only under no_grad; the error outside it is documented at "
                       "https://pytorch.org/docs/stable/notes/autograd.html#in-place-operations-with-autograd"),
    _claim("tracking.variable-returns-tensor",
           "torch.autograd.Variable(t) still works: it returns a plain Tensor with t's values, which "
           "a model takes as input like any tensor.",
           (f"{S003} § Neural Net 모델 생성 - Linear Regression", f"{S003} § train mode (using AutoGrad)"),
           (RG,), PYTORCH,
           seed_note="003 wraps its inputs in Variable, deprecated since torch 0.4: today it returns "
                     "a Tensor that does not require grad.",
           why='the type and values of Variable(t), and a Linear layer applied to it',
           about=('variable',)),
    _claim("tracking.printed-form-shows-tracking",
           "A tensor's printed form shows its tracking state: requires_grad=True for a tracked leaf, "
           "grad_fn=<AddBackward0> for x + 2, and neither for an untracked tensor or a result "
           "computed under no_grad.", (f"{S001} In [2]", f"{S001} In [3]", f"{S001} In [14]"),
           (RG, NG), PYTORCH,
           why="repr() of tensors the adapter made: a leaf with and without tracking, a recorded "
               "result, a result under no_grad"),
    _claim("ops.item-python-number",
           "item() of a one-element tensor gives a Python float equal to the tensor's value (a loss "
           "printed with loss.item()).", (f"{S003} § train mode (using AutoGrad)", f"{S004} § 3. Autograd"),
           why="item() of one-element tensors of both float dtypes, against to_numpy's value",
           about=('item',)),
    _claim("tracking.frozen-parameter-no-grad",
           "A parameter with requires_grad switched off (frozen), or made without it, gets no "
           "gradient while the others do.", f"{S002} § Gradient tracking 멈추기", (ST,),
           why="switches a leaf's flag off (set_requires_grad) or makes it untracked (the flag at "
               "creation), then .grad after backward"),

    # ---------------------------------------------------------------- modules and parameters
    _claim("modules.linear-computes-affine",
           "A Linear layer computes the affine map of its input with its own weight and bias (the "
           "seeds' y = Wx + b), and the gradients it gives its input, weight and bias are those of "
           "that map.", f"{S001} In [48]", (MOD,),
           why="a Linear layer's output from its own parameters, read by role, and its gradients "
               "(vjp for the input; .grad, the optimizer's, or value_and_grad for the parameters)",
           about=("linear", "linear_parameters")),
    _claim("modules.mynet-param-counts",
           "The seeds' MyNet (Flatten, Linear(784, 512), ReLU, Linear(512, 10)) has 401,920 + "
           "5,130 = 407,050 parameters, all trainable; Flatten and ReLU have none.",
           f"{S000} In [81]", (MOD,),
           why="named_parameters of the seed's MyNet",
           about=('flatten_layer', 'linear', 'relu_layer')),
    _claim("modules.mynet-output-shapes",
           "MyNet's layers give outputs of shape [B, 784], [B, 512], [B, 512], [B, 10].",
           f"{S000} In [81]", (MOD,),
           why="output shapes of MyNet's layers",
           about=('flatten_layer', 'linear', 'relu_layer')),
    _claim("modules.summary-sizes",
           "torchsummary's sizes for MyNet follow from float32 element counts: input 0.00 MB, "
           "forward/backward 0.01 MB, params 1.55 MB, total 1.57 MB.", f"{S000} In [81]",
           (MOD,), PYTORCH,
           why="torchsummary's figures for MyNet",
           about=('flatten_layer', 'linear', 'relu_layer')),
    _claim("modules.hooks-fire-in-call-order",
           "Forward hooks fire in the order forward calls the sub-modules, not the order they were "
           "assigned: torchsummary's table lists MyNet's layers Flatten, Linear, ReLU, Linear although "
           "relu was assigned last.", (f"{S000} In [80]", f"{S000} In [81]"), (MOD,), PYTORCH,
           why="register_forward_hook on MyNet's sub-modules, then one forward"),
    _claim("modules.lenet-shapes",
           "In the seeds' LeNet a 32x32 input becomes 6@30x30, 6@15x15, 16@13x13, 16@6x6: fc1 "
           "takes 16*6*6 = 576 features, and the output has shape (1, 10).",
           (f"{S001} In [48]", f"{S001} In [49]", f"{S001} In [52]"), (MOD,),
           seed_note="the comments in In [48] trace a 28x28 input (26, 13, 11, 6), but 11 pooled "
                     "by 2 is 5: a 28x28 input gives 16*5*5 = 400 features, not 576.",
           why='shapes through LeNet (conv and pooling operations)',
           about=('conv2d', 'max_pool2d', 'relu', 'reshape', 'linear')),
    _claim("modules.lenet-printed-structure",
           "print(net) of the seeds' LeNet lists conv1 Conv2d(1, 6, kernel_size=(3, 3), stride=(1, 1)), "
           "conv2 Conv2d(6, 16, ...), fc1 Linear(in_features=576, out_features=120, bias=True), fc2 "
           "and fc3, in assignment order.", f"{S001} In [49]", (MOD,), PYTORCH,
           why="the module's printed representation",
           about=('conv2d', 'linear')),
    _claim("modules.lenet-parameters",
           "LeNet has 10 parameter tensors, the first conv1.weight of shape (6, 1, 3, 3), 81,194 "
           "parameters in all, in the order the layers were assigned.", f"{S001} In [50]",
           (MOD,),
           why='named_parameters of LeNet (conv layers)',
           about=('conv2d', 'linear')),
    _claim("modules.lenet-rejects-28x28",
           "The seeds' LeNet rejects a 28x28 input: its convolutions and pools leave 16*5*5 = 400 "
           "features where fc1 takes 576, and the engine raises an error instead of computing; a "
           "Linear layer given any number of features other than its own raises too.",
           f"{S001} In [52]", (MOD,),
           why="calls LeNet on a 28x28 batch, and Linear layers on inputs of the wrong width",
           about=('linear',)),
    _claim("modules.neuralnetwork-parameters",
           "The seeds' NeuralNetwork (784-512-512-10 in a Sequential) has 669,706 parameters in 6 "
           "tensors, listed layer by layer, so that list(parameters())[2:4] are the second Linear's "
           "weight and bias (torch lists the weight first: [3] is the bias, of shape (512,)).",
           (f"{S002} In [139]", f"{S002} In [300]"), (MOD,),
           why="named_parameters of the seed's NeuralNetwork",
           about=('flatten_layer', 'linear', 'linear_parameters', 'relu_layer')),
    _claim("modules.two-layer-parameters",
           "The two-layer nets of the PyTorch examples (Linear(1000, 100), ReLU, Linear(100, 10)) "
           "have 101,110 parameters; DynamicNet, with a shared Linear(100, 100), has 111,210.",
           (f"{S004} § 5. nn 모듈", f"{S004} § 7. nn.Module 적극적으로 이용하기",
            f"{S004} § 8. 제어 흐름(Control Flow) + 가중치 공유(Weight Sharing)"), (MOD,),
           why='parameter counts of the two-layer nets',
           about=('linear', 'relu_layer', 'relu')),
    _claim("modules.parameters-trainable",
           "Parameters of built-in layers require grad by default; inputs and targets need not.",
           (f"{S000} In [81]", f"{S004} § 5. nn 모듈"), (MOD, RG),
           why='the flag of layer parameters, inputs and the loss',
           about=('linear', 'conv2d', 'relu_layer')),
    _claim("modules.parameter-registered",
           "A tensor wrapped as a parameter and assigned to a module is registered, requires "
           "grad, and appears in parameters() in assignment order.",
           f"{S003} § torch.nn.Parameter", (MOD,),
           why='named_parameters of a module with wrapped parameters'),
    _claim("modules.plain-tensor-not-registered",
           "A plain tensor assigned to a module is not registered as a parameter, so an "
           "optimizer built from parameters() never updates it.", f"{S003} § custom layer",
           (MOD, OPT),
           why='named_parameters, then an optimizer step from them (from stored gradients, or '
               'from value_and_grad where gradients are returned)'),
    _claim("modules.custom-layer-forward-only",
           "A custom layer that defines only forward (x @ W + b) maps (5, 7) to (5, 12) and gets "
           "the analytic gradients dW = x^T g, db = sum(g) from autograd.",
           f"{S003} § custom layer", (MOD,),
           why="a custom layer's parameter gradients: backward and .grad, or value_and_grad where "
               "gradients are returned"),
    _claim("modules.parameter-is-tensor-with-no-name",
           "nn.Parameter is a Tensor subclass, and a parameter's .name is None: names come from "
           "named_parameters().", (f"{S003} § torch.nn.Parameter",
                                   f"{S003} § Linear Regression으로 찾은 parameter 조합 확인하기"),
           (MOD,), PYTORCH,
           why='the type and .name of parameters',
           about=('linear',)),
    _claim("modules.flatten-single-sample",
           "Flatten on a single unbatched [1, 28, 28] image gives [1, 784]: the channel axis acts "
           "as the batch axis, which is why feeding training_data[1012] directly works.",
           f"{S002} In [300]", (MOD,),
           why='Flatten and a Sequential on one unbatched image',
           about=('flatten_layer',)),

    # ---------------------------------------------------------------- optimizers
    _claim("optim.step-updates-model-weights",
           "optimizer.step() updates the weights the model itself holds: the model's parameter "
           "objects are the ones changed, and the next forward sees the new values.",
           (f"{S000} In [83]", f"{S000} § Test 1 Conclusion"), (MOD, OPT),
           why="the model's own parameter objects after optimizer.step, from stored gradients "
               "(backward) or from gradients given explicitly (value_and_grad, apply_gradients)"),
    _claim("optim.step-in-place",
           "step() mutates parameter storage in place: an alias taken before the step sees the "
           "new values.", f"{S000} § Test 1 Conclusion", (MOD, OPT, KG, IP),
           why='an alias (t.data) taken before optimizer.step',
           generalises="000's conclusion infers call by reference (the same objects); that the storage itself"
                       " changes is the documentation's (https://pytorch.org/docs/stable/optim.html)"),
    _claim("optim.sgd-update-rule",
           "Plain SGD updates p <- p - lr * grad at every step, with no state carried between steps: "
           "on leaves, and on the seeds' MLP at their own settings (lr 0.1, cross-entropy, 10 batches).",
           (f"{S001} In [61]", f"{S001} In [62]", f"{S004} § 3. Autograd", f"{S000} In [83]"),
           (OPT,),
           why='parameter values after SGD steps, from stored gradients or from vjp gradients given '
               'explicitly (apply_gradients)'),
    _claim("optim.zero-grad-element-unchanged",
           "Under plain SGD an element whose gradient is exactly zero stays bit-identical.",
           f"{S000} In [83]", (MOD, OPT),
           seed_note="ORDER 5 of the seed's output shows the same weight before and after step.",
           why='elements with zero gradient (stored, or given explicitly) across an SGD step'),
    _claim("optim.manual-update-equals-sgd",
           "Updating every parameter by p.data -= lr * p.grad, or by param -= lr * param.grad "
           "under no_grad (the Python operator, changing the module's own parameter), gives the "
           "same weights as optim.SGD(lr).step().",
           (f"{S001} In [61]", f"{S001} In [62]", f"{S004} § 3. Autograd", f"{S004} § 5. nn 모듈"), (MOD, OPT),
           why='manual updates against SGD steps: p.data -= lr * p.grad where the engine stores '
               'gradients and updates in place, else value_and_grad and load_parameters; the -= '
               'operator on parameters under no_grad where tensors change in place'),
    _claim("optim.sgd-momentum-rule",
           "SGD with momentum m keeps a buffer b <- m b + grad (b = grad at the first step) and "
           "updates p <- p - lr * b.",
           f"{S004} § 8. 제어 흐름(Control Flow) + 가중치 공유(Weight Sharing)", (OPT,),
           why='parameter values after SGD-with-momentum steps (stored or explicit gradients)',
           generalises="004 § 8 passes momentum=0.9; the update rule is the documentation's "
                       "(https://pytorch.org/docs/stable/generated/torch.optim.SGD.html)"),
    _claim("optim.adam-update-rule",
           "Adam updates p <- p - lr * m_hat / (sqrt(v_hat) + eps) with bias-corrected moments "
           "(betas 0.9, 0.999, eps 1e-8); its first step moves each weight whose gradient is "
           "well above eps by about lr, against the gradient.",
           f"{S004} § 6. Optimizer", (OPT,),
           why='parameter values after Adam steps (stored or explicit gradients)',
           about=('adam',),
           generalises="004 § 6 constructs Adam; the update rule is the documentation's "
                       "(https://pytorch.org/docs/stable/generated/torch.optim.Adam.html)"),

    # ---------------------------------------------------------------- custom functions
    _claim("custom.myrelu-equals-relu",
           "A custom Function with ReLU's forward (clamp(min=0)) and its hand-written backward "
           "gives the built-in ReLU's outputs, and its gradients wherever the input is not "
           "exactly 0.", f"{S004} § 4. 새로운 Autograd 기능 정의하기",
           (CF,), seed_note="at an input of exactly 0 the seed's MyReLU passes the gradient "
                            "through (its mask is input < 0) while the built-in relu gives 0: the "
                            "two differ there, which the property test found.",
           why="a custom function's values and vjp gradients",
           about=('relu',)),
    _claim("custom.backward-rule-is-used",
           "The gradient of a custom Function is what its backward returns, even when that "
           "differs from the derivative of its forward.",
           f"{S004} § 4. 새로운 Autograd 기능 정의하기", (CF,),
           why='the vjp gradient of a custom function'),
    _claim("custom.residuals-reach-backward",
           "Tensors saved in forward (save_for_backward) reach backward unchanged.",
           f"{S004} § 4. 새로운 Autograd 기능 정의하기", (CF,),
           why='what the custom backward receives'),
    _claim("custom.training-matches-builtin",
           "Training the two-layer net with the custom ReLU gives the same weights as with the "
           "built-in ReLU.", (f"{S004} § 4. 새로운 Autograd 기능 정의하기", f"{S004} § 3. Autograd"), (CF, ST, IP),
           why='training with backward and in-place updates',
           about=('relu',)),

    # ---------------------------------------------------------------- manual backprop
    _claim("custom.non-tensor-residuals-reach-backward",
           "Objects other than tensors that forward saves for backward (a Python number) reach "
           "backward unchanged; in PyTorch save_for_backward takes tensors only, and such objects "
           "travel as attributes of ctx.", f"{S004} § 4. 새로운 Autograd 기능 정의하기", (CF,),
           seed_note="the seed's docstring says arbitrary objects are cached with "
                     "ctx.save_for_backward; that method takes tensors (or None) only and raises "
                     "TypeError for a Python number, which goes on ctx as an attribute instead",
           why="a custom Function whose forward saves a Python number next to a tensor, and whose "
               "backward scales by it"),
    _claim("manual.numpy-equals-autograd",
           "The seeds' hand-written numpy backprop for the two-layer ReLU net gives the same "
           "grad_w1 and grad_w2 as autograd.", (f"{S004} § 1. Numpy를 이용해서 가중치 갱신해보기",
                                                 f"{S004} § 3. Autograd"), (),
           why='gradient values through vjp',
           about=('relu',)),
    _claim("manual.training-equals-autograd",
           "Gradient descent with manual numpy backprop and with autograd produce the same weights "
           "step after step.", (f"{S004} § 1. Numpy를 이용해서 가중치 갱신해보기",
                                f"{S004} § 3. Autograd"), (ST, IP),
           why='training with backward and in-place updates',
           about=('relu',)),
    _claim("manual.tensor-backprop-equals-numpy",
           "The seeds' hand-written backprop, written with the engine's tensors (matmul, clamp, "
           "transpose, masking) on the chosen device, gives numpy's grad_w1 and grad_w2 and the "
           "same weights over gradient-descent steps; also as 004 writes it, with clone() then a "
           "boolean-mask assignment (which leaves the original unchanged) and in-place w -= lr * grad.",
           f"{S004} § 1. Numpy를 이용해서 가중치 갱신해보기", (),
           seed_note="004 has no section 2: the torch version of the numpy code is the second "
                     "code block of § 1.",
           why='tensor operations only, no autograd',
           about=('matmul', 'relu', 'transpose', 'where', 'lt', 'clone', 'mask_assign_')),

    # ---------------------------------------------------------------- dynamic graphs, sharing
    _claim("dynamic.graph-follows-control-flow",
           "The graph is built anew by every forward: with 0 to 3 uses of the middle layer, the "
           "gradients are those of the path actually run.",
           (f"{S002} § Computational Graph", f"{S004} § 8. 제어 흐름(Control Flow) + 가중치 공유(Weight Sharing)"),
           (MOD,),
           why="a module's parameter gradients after forwards of different depth (.grad, or "
               "value_and_grad where gradients are returned), against numpy backprop"),
    _claim("dynamic.shapes-change-between-iterations",
           "Because the graph is rebuilt by every forward, the input's shape may change between "
           "iterations: each backward gives the gradient for that iteration's batch.",
           f"{S002} § Computational Graph", (),
           why='gradient values through vjp; the module variant reads its parameters\' gradients (.grad, or value_and_grad where gradients are returned)'),
    _claim("dynamic.weight-sharing-sums-grads",
           "Reusing one layer k times gives it the sum of the gradients that k separate copies "
           "with the same weights would get.",
           (f"{S004} § 8. 제어 흐름(Control Flow) + 가중치 공유(Weight Sharing)", f"{S002} § Computational Graph"), (),
           why='gradient values through vjp'),
    _claim("dynamic.unused-parameter-no-grad",
           "A parameter not used by this forward receives no gradient contribution.",
           f"{S004} § 8. 제어 흐름(Control Flow) + 가중치 공유(Weight Sharing)", (MOD,),
           why="an unused parameter's gradient: its .grad after backward, or what value_and_grad "
               "returns for it"),
    _claim("dynamic.data-dependent-loop",
           "Python control flow on tensor values (while y.norm() < 1000: y = y * 2) builds a graph "
           "of the length actually run.", f"{S001} In [31] (the first)", (),
           why='gradient values through vjp'),

    # ---------------------------------------------------------------- training convergence
    _claim("training.linreg-fits",
           "Linear regression on y = 2x + 1 (x = 0..10) with MSE and SGD(lr 0.01) follows gradient "
           "descent's dynamics, whatever the initialisation: late in training the loss falls by the "
           "factor (1 - 2 lr l)^2 per epoch (0.98883, l = 0.27995 the smallest eigenvalue of the "
           "data's normal matrix), the error (w - 2, b - 1) lies along that eigenvalue's eigenvector "
           "(slope error / bias error = -0.1440), and with enough epochs w = 2, b = 1.",
           (f"{S003} § train mode (using AutoGrad)", f"{S003} § train 사전 세팅",
            f"{S003} § Linear Regression으로 찾은 parameter 조합 확인하기"),
           (MOD, OPT),
           seed_note="the seed's last losses, 0.12882 and 0.12738, fall by 0.98883, and its final "
                     "w = 2.0956, b = 0.3361 err in the ratio -0.1440: both as derived. After 100 "
                     "epochs its bias is still far from 1 because that direction converges slowly.",
           why='a Linear layer trained by SGD'),
    _claim("training.two-layer-autograd-manual",
           "The two-layer net trained by autograd with manual no_grad updates (lr 1e-6) lowers "
           "its loss.", f"{S004} § 3. Autograd", (ST, IP),
           why='training with backward and in-place updates',
           generalises="004 § 3 prints the loss every 100 steps but shows no output; the falling loss is the "
                       "tutorial's (https://pytorch.org/tutorials/beginner/pytorch_with_examples.html)"),
    _claim("training.two-layer-functional",
           "Gradient descent on the two-layer net with gradients from a functional VJP and "
           "out-of-place updates (w = w - lr * g) lowers its loss.", f"{S004} § 3. Autograd", (),
           why='training with vjp and new tensors',
           generalises="004 § 3 updates under no_grad after backward; the functional form (gradients "
                       "returned, w = w - lr g) is "
                       "https://pytorch.org/docs/stable/generated/torch.autograd.grad.html"),
    _claim("training.two-layer-sgd",
           "nn.Sequential / TwoLayerNet with SGD (lr 1e-4, sum-reduced MSE) lowers its loss.",
           (f"{S004} § 5. nn 모듈", f"{S004} § 7. nn.Module 적극적으로 이용하기"), (MOD, OPT),
           why='Sequential/TwoLayerNet trained by SGD',
           generalises="004 § 5 and § 7 show no output; the falling loss is the tutorial's "
                       "(https://pytorch.org/tutorials/beginner/pytorch_with_examples.html)"),
    _claim("training.two-layer-adam",
           "nn.Sequential with Adam (lr 1e-4) lowers its loss.", f"{S004} § 6. Optimizer",
           (MOD, OPT),
           why='Sequential trained by Adam',
           about=('adam',),
           generalises="004 § 6 shows no output; the falling loss is the tutorial's "
                       "(https://pytorch.org/tutorials/beginner/pytorch_with_examples.html)"),
    _claim("training.dynamic-net-momentum",
           "DynamicNet, its middle layer reused a random 0 to 3 times per step, trained with "
           "sum-reduced MSE and SGD(lr 1e-4, momentum 0.9), takes numpy's momentum step at every "
           "step (a layer the forward skipped, whose gradient zero_grad() left None, is not "
           "stepped) and lowers its loss.",
           f"{S004} § 8. 제어 흐름(Control Flow) + 가중치 공유(Weight Sharing)", (MOD, OPT, KG),
           why='a module of Linear layers trained by SGD with momentum',
           generalises="004 § 8 trains DynamicNet with momentum and prints no loss; the momentum rule and the"
                       " skipped parameter come from "
                       "https://pytorch.org/docs/stable/generated/torch.optim.SGD.html"),
    _claim("training.fashion-mlp-learns",
           "The seeds' FashionMNIST MLP trained with cross-entropy and SGD lowers its loss and "
           "beats chance accuracy on the test split.",
           (f"{S000} In [83]", f"{S002} In [139]"), (MOD, OPT),
           why='an MLP trained by SGD on FashionMNIST',
           generalises="the seeds train the MLP (000 In [83], 002 In [300]) but print no loss or accuracy; "
                       "that training lowers the loss and beats chance is the PyTorch tutorial's result: "
                       "https://pytorch.org/tutorials/beginner/basics/optimization_tutorial.html"),

    # ---------------------------------------------------------------- the seeds' operations against numpy
    _claim("ops.matmul-matches-numpy",
           "matmul with a vector or a matrix on either side (vector @ matrix, matrix @ vector, "
           "matrix @ matrix, vector @ vector) gives numpy's values and gradients, in float32 and "
           "float64.", (f"{S002} In [12]", f"{S004} § 1. Numpy를 이용해서 가중치 갱신해보기",
                        f"{S003} § custom layer"), (),
           why='values and vjp gradients of the operation',
           about=('matmul',)),
    _claim("ops.conv2d-matches-numpy",
           "The convolution of the seeds' LeNet (valid, stride 1, with bias), functional and as a "
           "layer, computes numpy's cross-correlation, with numpy's gradients for input, weight and "
           "bias, in float32 and float64.", (f"{S001} In [48]", f"{S001} In [60]"), (),
           why='values and vjp gradients of the operation; the layer variant reads its weights by '
               'role and (with backward) their .grad',
           about=('convolve2d', 'conv2d', 'conv2d_parameters'),
           generalises="001 shows the layers and their shapes; that Conv2d is a cross-correlation is the "
                       "documentation's (https://pytorch.org/docs/stable/generated/torch.nn.Conv2d.html)"),
    _claim("ops.max-pool2d-matches-numpy",
           "max_pool2d(x, 2) takes the maximum of each non-overlapping 2 x 2 window (dropping an odd "
           "last row and column) and sends each window's gradient to its maximum, in float32 and "
           "float64.", f"{S001} In [48]", (),
           why='values and vjp gradients of the operation',
           about=('max_pool2d',),
           generalises="001 shows the windows and the dropped odd row (576 features); the gradient going to "
                       "each window's maximum is max's derivative "
                       "(https://pytorch.org/docs/stable/generated/torch.nn.MaxPool2d.html)"),
    _claim("ops.max-pool2d-window-pair",
           "A square pooling window given as one number is the same window as the pair: "
           "max_pool2d(x, 2) equals max_pool2d(x, (2, 2)) in values and gradients.", f"{S001} In [48]",
           why="values and vjp gradients of max_pool2d with the window as a number and as a pair",
           about=('max_pool2d',)),
    _claim("ops.powers-match-numpy",
           "Small integer powers, t ** 2 and t ** 3, give numpy's values and gradients (2 t, 3 t^2), "
           "in float32 and float64.", (f"{S004} § 3. Autograd", f"{S003} § AutoGrad"), (),
           why='values and vjp gradients of the operation (t ** 2 is of the core vocabulary)',
           about=("** 3",)),
    _claim("ops.broadcast-matches-numpy",
           "An elementwise + - * / between a matrix and a row, as the bias in x @ W + b, applies the "
           "row to every row of the matrix, and the row's gradient is the sum over the rows, in "
           "float32 and float64.", f"{S003} § custom layer", (),
           why='values and vjp gradients of the broadcast operators',
           about=("broadcast",)),
    _claim("ops.relu-matches-numpy",
           "relu (clamp(min=0)) gives numpy's values, and gradient 1 where the input is positive and "
           "0 where it is negative, in float32 and float64.",
           (f"{S004} § 3. Autograd", f"{S001} In [48]"), (),
           why='values and vjp gradients of the operation',
           about=('relu', 'relu_layer')),
    _claim("ops.sum-mean-match-numpy",
           "sum and mean give numpy's values and gradients (ones, and 1/n), in float32 and float64.",
           (f"{S001} In [14]", f"{S004} § 3. Autograd"), (),
           why='values and vjp gradients of the operations',
           about=('sum', 'mean')),
    _claim("ops.transpose-matches-numpy",
           "The transpose of a matrix (the seeds' .T and .t()) gives numpy's values and gradient, in "
           "float32 and float64.", f"{S004} § 1. Numpy를 이용해서 가중치 갱신해보기", (),
           why='values and vjp gradients of the operation',
           about=('transpose',)),
    _claim("ops.reshape-matches-numpy",
           "Reshaping (x.view(-1, n)) and the Flatten layer keep the elements in row-major order, "
           "with numpy's values, and return the gradient in the input's shape, in float32 and "
           "float64.", (f"{S001} In [48]", f"{S000} In [81]"), (),
           why='values and vjp gradients of the operation; the layer variant builds a Flatten layer',
           about=("reshape", "flatten_layer")),
    _claim("ops.where-matches-numpy",
           "Masking by a comparison, as the seeds' grad_h[h < 0] = 0 (where(h < 0, 0, g)), gives "
           "numpy's values and sends each element's gradient to the branch it took, in float32 and "
           "float64.", (f"{S004} § 1. Numpy를 이용해서 가중치 갱신해보기",
                        f"{S004} § 4. 새로운 Autograd 기능 정의하기"), (),
           why='values and vjp gradients of the operation',
           about=("where", "lt")),
    _claim("ops.losses-match-numpy",
           "The seeds' losses, MSE (mean and sum), cross-entropy and BCE with logits, give numpy's "
           "values and gradients, in float32 and float64.",
           (f"{S001} In [55]", f"{S000} In [83]", f"{S002} In [1]", f"{S004} § 5. nn 모듈"), (),
           why='values and vjp gradients of the losses',
           about=('mse_loss', 'cross_entropy', 'bce_with_logits'),
           generalises="the seeds use cross-entropy and BCE with logits without their formulas (004 § 1 "
                       "writes the summed squared error); those are the documentation's "
                       "(https://pytorch.org/docs/stable/generated/torch.nn.CrossEntropyLoss.html, "
                       "https://pytorch.org/docs/stable/generated/torch.nn.BCEWithLogitsLoss.html)"),

    # ---------------------------------------------------------------- devices
    _claim("devices.round-trip-keeps-values",
           "A tensor or a model moved to a device (.to(device), .cuda()) and back (.cpu().numpy()) "
           "keeps its values, lives on that device meanwhile, and the moved model computes there "
           "what it computed before the move.",
           (f"{S003} § train 사전 세팅", f"{S003} § train mode (using AutoGrad)", f"{S003} § test mode"),
           (), why='values and devices of moved tensors; the model variant moves a module',
           about=('to_device', 'module_to')),

    # ---------------------------------------------------------------- data
    _claim("data.fashionmnist-loads",
           "torchvision's FashionMNIST class loads the dataset's IDX files from root with "
           "download=False; the real dataset has 60,000 training and 10,000 test images.",
           (f"{S000} In [69]", f"{S002} In [139]"), (),
           PIPELINE,
           why='torchvision alone: the reference data pipeline, checked once per run'),
    _claim("data.totensor-format",
           "With ToTensor an item of the training and of the test split is a float32 image of shape "
           "[1, 28, 28] with values in [0, 1] (uint8 / 255) and an integer label in 0..9.", (f"{S000} In [69]", f"{S002} In [300]"), (),
           PIPELINE,
           why='torchvision alone: the reference data pipeline, checked once per run',
           generalises="the seeds feed ToTensor's images to the models without printing them; the format is "
                       "the documentation's "
                       "(https://pytorch.org/vision/stable/generated/torchvision.transforms.ToTensor.html)"),
    _claim("data.dataloader-batches",
           "DataLoader(batch_size=16 or 64) yields images [B, 1, 28, 28] float32 and labels [B] "
           "int64, in dataset order when not shuffled, with a smaller last batch.",
           (f"{S000} In [69]", f"{S000} In [92]", f"{S002} In [139]"), (),
           PIPELINE,
           why="torch's DataLoader alone: the reference data pipeline, checked once per run",
           generalises="the seeds iterate DataLoaders without printing a batch; shapes, dtypes and order are "
                       "the documentation's (https://pytorch.org/docs/stable/data.html)"),
    _claim("data.train-test-distinct",
           "train=False selects the test split, which differs from the training split.",
           f"{S002} In [139]", (),
           seed_note="000 In [69] builds its test_data with train=True, so that test loader "
                     "iterates training images.",
           level=PIPELINE,
           why='torchvision alone: the reference data pipeline, checked once per run'),

    # ---------------------------------------------------------------- determinism
    _claim("determinism.same-seed-same-training",
           "With the generators seeded the same, model initialisation and a training run give "
           "bit-identical weights.", (f"{S002} In [77]", f"{S002} In [300]"), (MOD, OPT),
           why='initialisation and SGD training twice from one seed'),
    _claim("determinism.manual-seed-1-golden",
           "torch.manual_seed(1) then randn(5, 3) and randn(3) on the CPU generator reproduce the "
           "seed's BCE gradient dL/db = [0.1083, 0.0369, 0.0726], and after a retained second "
           "backward [0.2166, 0.0739, 0.1452], twice the first.",
           (f"{S002} In [77]", f"{S002} In [79]", f"{S002} In [81]"), (ST,),
           PYTORCH,
           why="torch's generator and .grad"),

    # ---------------------------------------------------------------- memory held by the graph
    _claim("memory.no-grad-saves-nothing",
           "A forward under no_grad keeps no intermediate tensors alive for backward.",
           f"{S002} § Gradient tracking 멈추기", (NG,),
           why='whether a graph keeps an intermediate alive under no_grad',
           about=('watch',)),
    _claim("memory.graph-holds-saved-tensors",
           "A tracked forward keeps the intermediates that backward needs alive until backward.",
           (f"{S002} § Gradient tracking 멈추기", f"{S000} § Test 2"), (ST, FG),
           why='whether a graph that backward frees keeps its saved intermediate until then',
           about=('watch',)),
    _claim("memory.graph-freed-after-backward",
           "A graph releases what it saved once it is no longer needed: after backward without "
           "retain_graph, and when its output is dropped without any backward (an evaluation "
           "forward).", (f"{S000} § Test 2", f"{S002} § 튜토리얼 외의 내용"), (ST, FG),
           why='whether backward, or dropping the output, lets the saved intermediate go',
           about=('watch',)),
])


class UnknownClaim(ValueError):
    """A claim id that the registry does not have; the message names the nearest known ids."""


def known(cid: str, where: str = "") -> str:
    """cid itself if the registry has it; else UnknownClaim naming where it was written and the
    nearest known ids. Every place that writes a claim id (a test's claim marker, the tables
    below, an expectation file, the project's faulty-backend tables) reads it through this."""
    if cid in CLAIMS:
        return cid
    near = difflib.get_close_matches(str(cid), CLAIMS, n=3, cutoff=0.5)
    hint = f"; did you mean {' or '.join(repr(n) for n in near)}?" if near else \
        "; the known ids are in autograd_conformance/claims.py"
    raise UnknownClaim(f"{where + ' names ' if where else ''}unknown claim {cid!r}{hint}")


# The prerequisites: each operation a test may call without being about it, and the claim (or claims)
# that check it. A test that calls one declares it (@pytest.mark.uses), and is blocked, not failed,
# where that claim fails (prerequisites.py). "vjp(cotangent)" is vjp (or backward) with a cotangent tensor: on a
# function whose output is more than one number. sum is in the core vocabulary, so tests use it
# without declaring it; it is a prerequisite all the same.
PREREQUISITES = {
    "sum": "ops.sum-mean-match-numpy",
    "mean": "ops.sum-mean-match-numpy",
    "matmul": ("ops.matmul-matches-numpy", "backward.matmul-vector-shape"),
    "relu": "ops.relu-matches-numpy",
    "relu_layer": "ops.relu-matches-numpy",
    "transpose": "ops.transpose-matches-numpy",
    "reshape": "ops.reshape-matches-numpy",
    "** 3": "ops.powers-match-numpy",
    "broadcast": "ops.broadcast-matches-numpy",
    "flatten_layer": "ops.reshape-matches-numpy",
    "where": "ops.where-matches-numpy",
    "lt": "ops.where-matches-numpy",
    "max_pool2d": "ops.max-pool2d-matches-numpy",
    "convolve2d": "ops.conv2d-matches-numpy",
    "conv2d": "ops.conv2d-matches-numpy",
    "conv2d_parameters": "ops.conv2d-matches-numpy",
    "mse_loss": "ops.losses-match-numpy",
    "cross_entropy": "ops.losses-match-numpy",
    "bce_with_logits": "ops.losses-match-numpy",
    "linear": "modules.linear-computes-affine",
    "linear_parameters": "modules.linear-computes-affine",
    "adam": "optim.adam-update-rule",
    "vjp(cotangent)": "backward.vjp-seed-vector",
}
# The order in which the prerequisites' own tests may be blocked by other prerequisites: each only by
# those before it, so that no two claims can block each other and a failure always shows on a claim.
PREREQUISITE_ORDER = (
    "ops.sum-mean-match-numpy", "ops.powers-match-numpy", "ops.broadcast-matches-numpy",
    "ops.reshape-matches-numpy", "ops.transpose-matches-numpy",
    "ops.relu-matches-numpy", "ops.where-matches-numpy", "ops.matmul-matches-numpy",
    "backward.matmul-vector-shape", "ops.losses-match-numpy", "ops.max-pool2d-matches-numpy",
    "ops.conv2d-matches-numpy", "modules.linear-computes-affine", "backward.vjp-seed-vector",
    "optim.adam-update-rule")


def prerequisite_claims(operation: str) -> tuple[str, ...]:
    """The claims that check operation (PREREQUISITES), in PREREQUISITE_ORDER."""
    found = PREREQUISITES.get(operation, ())
    return (found,) if isinstance(found, str) else tuple(found)

# Claims about values (gradients, losses, updates) that the seeds show at their own numbers: each is
# tested at those numbers and on random inputs (tests marked @pytest.mark.inputs("seed") and
# inputs("random"); tests/test_seed_rules.py checks both exist), because the seeds' inputs (ones,
# symmetric matrices) hide transposed, summed or scaled gradients.
VALUE_CLAIMS = frozenset({
    "backward.mean-of-3-squares", "backward.vjp-seed-vector", "backward.chain-rule-40",
    "backward.bce-rows-equal-bias-grad", "backward.full-jacobian", "backward.lenet-grads",
    "accumulation.second-backward-adds", "accumulation.multi-task-losses-sum",
    "dynamic.data-dependent-loop", "dynamic.shapes-change-between-iterations",
    "manual.tensor-backprop-equals-numpy",
    "ops.matmul-matches-numpy", "ops.conv2d-matches-numpy", "ops.max-pool2d-matches-numpy",
    "ops.powers-match-numpy", "ops.relu-matches-numpy", "ops.sum-mean-match-numpy",
    "ops.transpose-matches-numpy", "ops.losses-match-numpy", "ops.reshape-matches-numpy",
    "ops.where-matches-numpy", "ops.broadcast-matches-numpy", "ops.max-pool2d-window-pair",
    "ops.item-python-number",
})

# Claims about modules in general (every parameter of a module): their tests run on each layer kind
# the seeds use (models.SEED_LAYER_KINDS, parametrized as "kind"; tests/test_seed_rules.py checks).
LAYER_CLAIMS = frozenset({
    "backward.module-vjp-fills-param-grads", "modules.parameters-trainable",
    "accumulation.zero-grad-sets-none", "devices.round-trip-keeps-values",
})

# Cell numbers a seed gives to two cells: a source citing one says which ("In [31] (the first)").
DUPLICATE_CELLS = {S001: frozenset({31, 32})}

# Every id these tables write is a registered claim (an import error naming the nearest id, else).
for _cid in (*(c for v in PREREQUISITES.values() for c in ((v,) if isinstance(v, str) else v)),
             *PREREQUISITE_ORDER, *VALUE_CLAIMS, *LAYER_CLAIMS):
    known(_cid, "claims.py's tables")
del _cid
