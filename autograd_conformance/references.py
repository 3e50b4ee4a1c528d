"""numpy references, in float64: what the seeds' operations compute and their vector-Jacobian
products (convolution, max pooling, the losses), the seeds' DynamicNet backprop by hand, and
numpy_chain for a stack of layers whose weights are read from the engine by role, so that the
suites compare an engine with arithmetic rather than with itself."""

from __future__ import annotations

import numpy as np

from autograd_conformance.check import conv_values, linear_values


def numpy_conv2d(x, w, b):
    """Valid, stride-1 cross-correlation (torch's Conv2d): x (N, C, H, W), w (O, C, k, k), b (O,)."""
    k = w.shape[-1]
    patches = np.lib.stride_tricks.sliding_window_view(x, (k, k), axis=(2, 3))  # N C Ho Wo k k
    return np.einsum("nchwij,ocij->nohw", patches, w) + b[None, :, None, None]


def numpy_conv2d_vjp(x, w, g):
    """(dx, dw, db) of numpy_conv2d for the output seed g (N, O, Ho, Wo)."""
    k = w.shape[-1]
    patches = np.lib.stride_tricks.sliding_window_view(x, (k, k), axis=(2, 3))
    dw = np.einsum("nchwij,nohw->ocij", patches, g)
    dx = np.zeros_like(x, dtype=np.float64)
    ho, wo = g.shape[2:]
    for i in range(k):
        for j in range(k):
            dx[:, :, i:i + ho, j:j + wo] += np.einsum("nohw,oc->nchw", g, w[:, :, i, j])
    return dx, dw, g.sum(axis=(0, 2, 3))


def _windows(x, k):
    n, c, h, w = x.shape
    ho, wo = h // k, w // k  # floor: a trailing odd row or column is dropped
    cropped = x[:, :, :ho * k, :wo * k].reshape(n, c, ho, k, wo, k).transpose(0, 1, 2, 4, 3, 5)
    return cropped.reshape(n, c, ho, wo, k * k)


def numpy_max_pool2d(x, k):
    """Max over non-overlapping k x k windows (floor mode), as F.max_pool2d(x, k)."""
    return _windows(x, k).max(axis=-1)


def numpy_max_pool2d_vjp(x, k, g):
    """dx of numpy_max_pool2d: each window's gradient goes to its (first) maximum."""
    windows = _windows(x, k)
    first = windows.argmax(axis=-1)
    n, c, ho, wo = first.shape
    dx = np.zeros_like(x, dtype=np.float64)
    nn_, cc, hh, ww = np.indices(first.shape)
    dx[nn_, cc, hh * k + first // k, ww * k + first % k] = g
    return dx


def numpy_softmax(z):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def numpy_losses(name, pred, target):
    """(value, d value / d pred) of the seeds' losses: mse (mean or sum), cross_entropy (mean over the
    batch, integer labels), bce_with_logits (mean)."""
    if name in ("mse", "mse-sum"):
        n = 1 if name == "mse-sum" else pred.size
        return np.sum((pred - target) ** 2) / n, 2 * (pred - target) / n
    if name == "cross_entropy":
        p, rows = numpy_softmax(pred), np.arange(len(target))
        return -np.mean(np.log(p[rows, target])), (p - np.eye(pred.shape[1])[target]) / len(target)
    if name == "bce_with_logits":
        s = 1 / (1 + np.exp(-pred))
        value = np.mean(np.maximum(pred, 0) - pred * target + np.log1p(np.exp(-np.abs(pred))))
        return value, (s - target) / pred.size
    raise ValueError(name)


def numpy_dynamic_grads(x, y, uses, w_in, b_in, w_mid, b_mid, w_out, b_out):
    """004 § 8's DynamicNet path (weights as (n_in, n_out)), sum-reduced MSE, backprop by hand:
    the gradients of the six weights, the middle layer's summed over its `uses`."""
    hs = [np.maximum(x @ w_in + b_in, 0)]
    for _ in range(uses):
        hs.append(np.maximum(hs[-1] @ w_mid + b_mid, 0))
    g = 2 * (hs[-1] @ w_out + b_out - y)
    d_out, db_out = hs[-1].T @ g, g.sum(axis=0)
    g = g @ w_out.T
    d_mid, db_mid = np.zeros_like(w_mid), np.zeros_like(b_mid)
    for k in range(uses, 0, -1):
        g = g * (hs[k] > 0)
        d_mid += hs[k - 1].T @ g
        db_mid += g.sum(axis=0)
        g = g @ w_mid.T
    g = g * (hs[0] > 0)
    return [x.T @ g, g.sum(axis=0), d_mid, db_mid, d_out, db_out]


def numpy_elementwise_dynamic_grads(x, y, uses, w_in, b_in, w_mid, b_mid, w_out, b_out):
    """DynamicNet's structure in the core vocabulary, every layer elementwise (h <- h w + b, the
    middle layer reused `uses` times, no activation), a summed squared error, backprop by hand:
    the gradients of the six weights, the middle layer's summed over its uses."""
    hs = [x * w_in + b_in]
    for _ in range(uses):
        hs.append(hs[-1] * w_mid + b_mid)
    g = 2 * (hs[-1] * w_out + b_out - y)
    d_w_out, d_b_out = g * hs[-1], g
    g = g * w_out
    d_w_mid, d_b_mid = np.zeros_like(w_mid), np.zeros_like(b_mid)
    for h_prev in reversed(hs[:-1]):
        d_w_mid, d_b_mid = d_w_mid + g * h_prev, d_b_mid + g
        g = g * w_mid
    return [g * x, g, d_w_mid, d_b_mid, d_w_out, d_b_out]


def numpy_chain(B, steps, x, g):
    """Forward and backprop in float64 numpy through steps ("linear"/"conv" with a layer, whose
    weights are read by role; "relu"; "pool", max-pool 2; "flatten"), from input x with output seed
    g. Returns (output, {id(layer): (dW, db)}), dW of a Linear as (n_in, n_out), of a conv as
    (c_out, c_in, k, k); a layer used twice gets the sum of both uses."""
    values, seen = [], []
    for kind, layer in steps:
        seen.append(x)
        if kind == "linear":
            w, b = linear_values(B, layer)
            x = x @ w + b
        elif kind == "conv":
            x = numpy_conv2d(x, *conv_values(B, layer))
        elif kind == "relu":
            x = np.maximum(x, 0)
        elif kind == "pool":
            x = numpy_max_pool2d(x, 2)
        elif kind == "flatten":
            x = x.reshape(len(x), -1)
        values.append(x)
    out, grads = x, {}
    for (kind, layer), x_in in reversed(list(zip(steps, seen))):
        if kind == "linear":
            w, _ = linear_values(B, layer)
            dw, db = x_in.T @ g, g.sum(axis=0)
            g = g @ w.T
        elif kind == "conv":
            w, _ = conv_values(B, layer)
            g, dw, db = numpy_conv2d_vjp(x_in, w, g)
        else:
            g = {"relu": lambda: g * (x_in > 0), "pool": lambda: numpy_max_pool2d_vjp(x_in, 2, g),
                 "flatten": lambda: g.reshape(x_in.shape)}[kind]()
            continue
        old = grads.get(id(layer), (0, 0))
        grads[id(layer)] = (old[0] + dw, old[1] + db)
    return out, grads
