"""The seeds' models and workloads, in one place: the conformance suites check claims on them and
the benchmarks time them, so both run exactly the same thing. Each is built through the adapter
(``B.module``, ``B.sequential``, ``B.linear``, ...), on a given device; data comes from a generator
the caller owns (``rng``), so no test order or other plugin changes it.

A layer's parameters are read by role (``B.linear_parameters``, ``B.conv2d_parameters``), and a
Linear weight is turned into one documented orientation: ``W`` of shape (n_in, n_out), so that a
layer computes ``x @ W + b`` whatever layout the engine stores (``B.linear_layout``)."""

from __future__ import annotations

import math

import numpy as np

# 004 §§ 1-8: the two-layer ReLU net: batch, input, hidden and output sizes
N, D_IN, H, D_OUT = 64, 1000, 100, 10
TWO_LAYER_WORKLOAD = N * D_IN * H + N * H * D_OUT  # multiply-adds of one forward pass


def mynet(B, device, hidden: int = 512, flatten: bool = True):
    """000 In [80] MyNet: attributes in the seed's order (flatten, linear1, linear2, relu); some
    tests narrow the 512 hidden units to stay fast. flatten=False flattens the batch with a reshape
    (what nn.Flatten does to it), for claims that are not about the Flatten layer."""
    def forward(m, x):
        flat = m.flatten(x) if flatten else B.reshape(x, (tuple(B.to_numpy(x).shape)[0], 28 * 28))
        return m.linear2(m.relu(m.linear1(flat)))

    layers = dict(flatten=B.flatten_layer()) if flatten else {}
    return B.module(forward, **layers, linear1=B.linear(28 * 28, hidden, device=device),
                    linear2=B.linear(hidden, 10, device=device), relu=B.relu_layer())


def mynet_layers(m):
    """MyNet's layers in the order its forward calls them (the rows of torchsummary's table)."""
    return [("Flatten", m.flatten), ("Linear", m.linear1), ("ReLU", m.relu), ("Linear", m.linear2)]


def mynet_workload(batch: int, hidden: int = 512) -> int:
    return batch * (28 * 28 * hidden + hidden * 10)


def lenet(B, device, trace=None):
    """001 In [48] Net: conv(1, 6, 3), conv(6, 16, 3), fc 576-120-84-10, max-pool 2 after each
    conv. trace, a list, receives (layer name, output shape) as the forward runs."""
    def shape(t):
        return tuple(B.to_numpy(t).shape)

    def forward(m, x):
        def seen(name, t):
            if trace is not None:
                trace.append((name, shape(t)))
            return t

        x = seen("conv1", m.conv1(x))
        x = seen("pool1", B.max_pool2d(B.relu(x), 2))
        x = seen("conv2", m.conv2(x))
        x = seen("pool2", B.max_pool2d(B.relu(x), 2))
        s = shape(x)
        x = B.reshape(x, (s[0], math.prod(s[1:])))  # x.view(-1, num_flat_features(x))
        x = B.relu(m.fc1(x))
        x = B.relu(m.fc2(x))
        return m.fc3(x)

    return B.module(forward, conv1=B.conv2d(1, 6, 3, device=device), conv2=B.conv2d(6, 16, 3, device=device),
                    fc1=B.linear(16 * 6 * 6, 120, device=device), fc2=B.linear(120, 84, device=device),
                    fc3=B.linear(84, 10, device=device))


def neural_network(B, device):
    """002 In [139] NeuralNetwork: Flatten, then a Sequential 784-512-512-10 with ReLUs. Returns
    the model and its three Linear layers."""
    linears = [B.linear(28 * 28, 512, device=device), B.linear(512, 512, device=device),
               B.linear(512, 10, device=device)]
    stack = B.sequential(linears[0], B.relu_layer(), linears[1], B.relu_layer(), linears[2])

    def forward(m, x):
        return m.linear_relu_stack(m.flatten(x))

    return B.module(forward, flatten=B.flatten_layer(), linear_relu_stack=stack), linears


def two_layer_sequential(B, device):
    """004 § 5-6: Sequential(Linear(D_in, H), ReLU(), Linear(H, D_out))."""
    return B.sequential(B.linear(D_IN, H, device=device), B.relu_layer(), B.linear(H, D_OUT, device=device))


def two_layer_net(B, device):
    """004 § 7 TwoLayerNet: linear1, clamp(min=0), linear2."""
    def forward(m, x):
        return m.linear2(B.relu(m.linear1(x)))

    return B.module(forward, linear1=B.linear(D_IN, H, device=device), linear2=B.linear(H, D_OUT, device=device))


def dynamic_net(B, device, depth=None):
    """004 § 8 DynamicNet: input layer, the middle layer reused depth["uses"] times, output layer.
    The seed draws the number of uses (0 to 3) inside forward; here the caller sets it in depth
    (default 2), since a module is called with tensors only."""
    depth = {"uses": 2} if depth is None else depth

    def forward(m, x):
        h = B.relu(m.input_linear(x))
        for _ in range(depth["uses"]):  # the same middle layer reused: its parameters count once
            h = B.relu(m.middle_linear(h))
        return m.output_linear(h)

    return B.module(forward, input_linear=B.linear(D_IN, H, device=device),
                    middle_linear=B.linear(H, H, device=device), output_linear=B.linear(H, D_OUT, device=device))


DYNAMIC_NET_WEIGHTS = ("w_in", "b_in", "w_mid", "b_mid", "w_out", "b_out")


def dynamic_net_path(B, form, x, uses, w_in, b_in, w_mid, b_mid, w_out, b_out):
    """DynamicNet's forward over its six weights, the middle layer used `uses` times: form "seed"
    as 004 § 8 writes it (relu(x @ W + b), W as (n_in, n_out)), form "core" its structure in the
    core vocabulary (every layer h <- h w + b elementwise)."""
    if form == "core":
        h = x * w_in + b_in
        for _ in range(uses):
            h = h * w_mid + b_mid
        return h * w_out + b_out
    h = B.relu(B.matmul(x, w_in) + b_in)
    for _ in range(uses):
        h = B.relu(B.matmul(h, w_mid) + b_mid)
    return B.matmul(h, w_out) + b_out


def dynamic_net_of(B, device, form, weights, depth):
    """DynamicNet as a module that owns the given six weights (numpy arrays, DYNAMIC_NET_WEIGHTS'
    order) as its parameters, its forward dynamic_net_path in form, the middle layer used
    depth["uses"] times."""
    params = {n: B.parameter(B.tensor(w, device=device)) for n, w in zip(DYNAMIC_NET_WEIGHTS, weights)}

    def forward(m, x):
        return dynamic_net_path(B, form, x, depth["uses"], *(getattr(m, n) for n in DYNAMIC_NET_WEIGHTS))

    return B.module(forward, **params)


def my_liner(B, device, rng, *, plain=(), order=("weights", "bias"), n_in=7, n_out=12):
    """003 § custom layer MyLiner: x @ weights + bias. Names in `plain` are plain tensors (the
    seed's commented-out Tensor(...) variant), the others B.parameter."""
    values = {"weights": rng.standard_normal((n_in, n_out)), "bias": rng.standard_normal(n_out)}
    attrs = {}
    for name in order:
        t = B.tensor(values[name], device=device, requires_grad=name in plain)
        attrs[name] = t if name in plain else B.parameter(t)

    def forward(m, x):
        return B.matmul(x, m.weights) + m.bias

    return B.module(forward, **attrs)


def two_layer_arrays(rng, dtype=np.float64) -> list[np.ndarray]:
    """004 § 1's data and weights: x (N, D_in), y (N, D_out), w1 (D_in, H), w2 (H, D_out)."""
    x, y = rng.standard_normal((N, D_IN)), rng.standard_normal((N, D_OUT))
    w1, w2 = rng.standard_normal((D_IN, H)), rng.standard_normal((H, D_OUT))
    return [a.astype(dtype) for a in (x, y, w1, w2)]


# ------------------------------------------------------------------ what the seeds' models use
# The computations the seeds' models and training loops make (suites/test_ops.py checks each against
# numpy, in float32 and float64; tests/test_seed_rules.py checks that it does), and the layer kinds
# they build (the claims about modules in general run on each kind: test_seed_rules.py checks that too).
SEED_COMPUTATIONS = ("vector @ matrix", "matrix @ vector", "matrix @ matrix", "vector @ vector",
                     "conv2d", "max_pool2d", "pow2", "pow3", "relu", "sum", "mean", "transpose",
                     "reshape", "where", "mse", "mse-sum", "cross_entropy", "bce_with_logits",
                     "matrix + row", "matrix - row", "matrix * row", "matrix / row")
SEED_LAYER_KINDS = ("linear", "conv2d", "sequential", "custom", "reused")
# The operations each kind's module calls: a test parametrized by kind declares them
# (@pytest.mark.uses), each a prerequisite checked by its own claim.
LAYER_KIND_OPERATIONS = {
    "linear": ("linear", "linear_parameters"),
    "conv2d": ("conv2d", "conv2d_parameters"),
    "sequential": ("linear", "linear_parameters", "relu_layer"),
    "custom": ("linear", "linear_parameters", "relu"),
    "reused": ("linear", "linear_parameters", "relu"),
}


def layer_of_kind(B, device, kind, rng):
    """(module, input batch, steps) for one layer kind the seeds use: a Linear; a Conv2d (001's
    conv1); a Sequential with Linear and ReLU (004 § 5); a custom module holding a Linear (000's
    MyNet); a custom module reusing one Linear twice (004 § 8's shared middle layer). steps is what
    the module computes, as numpy_chain reads it: ("linear", layer), ("conv", layer), ("relu", None)."""
    def batch(*shape):
        return B.tensor(rng.standard_normal(shape), device=device)

    if kind == "linear":
        layer = B.linear(6, 4, device=device)
        return layer, batch(3, 6), [("linear", layer)]
    if kind == "conv2d":
        layer = B.conv2d(1, 6, 3, device=device)
        return layer, batch(2, 1, 7, 7), [("conv", layer)]
    if kind == "sequential":
        first, second = B.linear(6, 5, device=device), B.linear(5, 4, device=device)
        return (B.sequential(first, B.relu_layer(), second), batch(3, 6),
                [("linear", first), ("relu", None), ("linear", second)])
    if kind == "custom":
        layer = B.linear(6, 4, device=device)
        return (B.module(lambda m, x: B.relu(m.linear(x)), linear=layer), batch(3, 6),
                [("linear", layer), ("relu", None)])
    if kind == "reused":
        layer = B.linear(6, 6, device=device)
        return (B.module(lambda m, x: m.middle(B.relu(m.middle(x))), middle=layer), batch(3, 6),
                [("linear", layer), ("relu", None), ("linear", layer)])
    raise ValueError(kind)


# ------------------------------------------------------------------ Linear layers, by role
def as_in_out(B, array: np.ndarray) -> np.ndarray:
    """A Linear weight (or its gradient) as stored by the engine -> shape (n_in, n_out)."""
    return array.T if B.linear_layout == "out_in" else array


def linear_values(B, layer) -> tuple[np.ndarray, np.ndarray]:
    """(W as (n_in, n_out), b; zeros when the layer has no bias), float64."""
    weight, bias = B.linear_parameters(layer)
    w = as_in_out(B, np.array(B.to_numpy(weight), dtype=np.float64))
    b = np.zeros(w.shape[1]) if bias is None else np.array(B.to_numpy(bias), dtype=np.float64)
    return w, b


def linear_forward(B, layer, x: np.ndarray) -> np.ndarray:
    """What the layer computes from its current values, in float64 numpy."""
    w, b = linear_values(B, layer)
    return x @ w + b


# ------------------------------------------------------------------ conv layers, by role
def conv_values(B, layer) -> tuple[np.ndarray, np.ndarray]:
    """(weight as (c_out, c_in, k, k), bias), float64, read with B.conv2d_parameters."""
    weight, bias = B.conv2d_parameters(layer)
    return (np.array(B.to_numpy(weight), dtype=np.float64), np.array(B.to_numpy(bias), dtype=np.float64))
