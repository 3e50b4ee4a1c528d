"""numpy references, in float64, so that the suites compare an engine with arithmetic rather than
with itself: what the seeds' operations compute and their vector-Jacobian products (matmul,
convolution, max pooling, the losses); 004 § 1's two-layer net and the seeds' DynamicNet,
backpropagated by hand; numpy_chain for a stack of layers whose weights are read from the engine by
role; the dynamics of gradient descent on the seeds' linear regression; the optimizers' update
rules."""

from __future__ import annotations

import numpy as np

from autograd_conformance.models import conv_values, linear_values


def numpy_conv2d(x, w, b):
    """Valid, stride-1 cross-correlation (torch's Conv2d): x (N, C, H, W), w (O, C, k, k), b (O,)."""
    k = w.shape[-1]
    patches = np.lib.stride_tricks.sliding_window_view(x, (k, k), axis=(2, 3))  # N C Ho Wo k k
    return np.einsum("nchwij,ocij->nohw", patches, w) + b[None, :, None, None]


def numpy_conv2d_vjp(x, w, g):
    """(dx, dw, db) of numpy_conv2d for the output cotangent g (N, O, Ho, Wo)."""
    k = w.shape[-1]
    patches = np.lib.stride_tricks.sliding_window_view(x, (k, k), axis=(2, 3))
    dw = np.einsum("nchwij,nohw->ocij", patches, g)
    dx = np.zeros_like(x, dtype=np.float64)
    ho, wo = g.shape[2:]
    for i in range(k):
        for j in range(k):
            dx[:, :, i:i + ho, j:j + wo] += np.einsum("nohw,oc->nchw", g, w[:, :, i, j])
    return dx, dw, g.sum(axis=(0, 2, 3))


def numpy_max_pool2d_windows(x, k):
    """The non-overlapping k x k windows of x (N, C, H, W), floor mode: shape (N, C, H//k, W//k, k*k)."""
    n, c, h, w = x.shape
    ho, wo = h // k, w // k  # floor: a trailing odd row or column is dropped
    cropped = x[:, :, :ho * k, :wo * k].reshape(n, c, ho, k, wo, k).transpose(0, 1, 2, 4, 3, 5)
    return cropped.reshape(n, c, ho, wo, k * k)


def numpy_max_pool2d(x, k):
    """Max over non-overlapping k x k windows (floor mode), as F.max_pool2d(x, k)."""
    return numpy_max_pool2d_windows(x, k).max(axis=-1)


def numpy_max_pool2d_vjp(x, k, g):
    """dx of numpy_max_pool2d: each window's gradient goes to its (first) maximum."""
    windows = numpy_max_pool2d_windows(x, k)
    first = windows.argmax(axis=-1)
    n, c, ho, wo = first.shape
    dx = np.zeros_like(x, dtype=np.float64)
    nn_, cc, hh, ww = np.indices(first.shape)
    dx[nn_, cc, hh * k + first // k, ww * k + first % k] = g
    return dx


def numpy_matmul_vjp(a, b, g):
    """(da, db) of a @ b for the output cotangent g, with numpy's rules for vectors and matrices."""
    if a.ndim == 1 and b.ndim == 1:
        return g * b, g * a
    if a.ndim == 1:
        return b @ g, np.outer(a, g)
    if b.ndim == 1:
        return np.outer(g, b), a.T @ g
    return g @ b.T, a.T @ g


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
        top = pred.max(axis=-1)  # log-softmax without overflow or log(0) for large logits
        log_p = pred[rows, target] - top - np.log(np.exp(pred - top[:, None]).sum(axis=-1))
        return -np.mean(log_p), (p - np.eye(pred.shape[1])[target]) / len(target)
    if name == "bce_with_logits":
        s = 0.5 * (1 + np.tanh(pred / 2))  # sigmoid, without overflow for large |pred|
        value = np.mean(np.maximum(pred, 0) - pred * target + np.log1p(np.exp(-np.abs(pred))))
        return value, (s - target) / pred.size
    raise ValueError(name)


def numpy_two_layer_grads(x, y, w1, w2):
    """004 § 1's hand-written forward and backward in numpy: (sum-squared loss, dw1, dw2)."""
    h = x.dot(w1)
    h_relu = np.maximum(h, 0)
    y_pred = h_relu.dot(w2)
    grad_y_pred = 2.0 * (y_pred - y)
    grad_w2 = h_relu.T.dot(grad_y_pred)
    grad_h = grad_y_pred.dot(w2.T)
    grad_h[h < 0] = 0
    grad_w1 = x.T.dot(grad_h)
    return np.square(y_pred - y).sum(), grad_w1, grad_w2


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
    weights are read by role; "relu"; "pool", max-pool 2; "flatten"), from input x with output cotangent
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


def linreg_dynamics(x, lr: float) -> tuple[float, float]:
    """Gradient descent at rate lr on mean((w x + b - y)^2) for exact data y = 2 x + 1 (003).

    The error e = (w - 2, b - 1) moves as e <- (I - 2 lr A) e with A = [[mean x^2, mean x],
    [mean x, 1]] (the data's normal matrix over n), and the loss is e^T A e. In A's eigenbasis the
    two parts decay independently; once the fast one is gone (its factor (1 - 2 lr l_max)^k), the
    loss falls by (1 - 2 lr l_min)^2 per epoch and e lies along l_min's eigenvector. Returns
    (that factor, the eigenvector's slope error / bias error), which no initialisation changes."""
    x = np.asarray(x, dtype=np.float64).reshape(-1)
    a = np.array([[np.mean(x * x), np.mean(x)], [np.mean(x), 1.0]])
    values, vectors = np.linalg.eigh(a)
    slow = vectors[:, 0]
    return float((1 - 2 * lr * values[0]) ** 2), float(slow[0] / slow[1])


class NumpySGD:
    """SGD in numpy, a parameter at a time: b <- m b + g (b = g at a parameter's first step with a
    gradient), p <- p - lr b (b = g without momentum). A parameter given no gradient (None) is left
    as it is, its buffer too (torch's rule for a parameter whose .grad is None)."""

    def __init__(self, lr: float, momentum: float = 0.0) -> None:
        self.lr, self.momentum, self.buffers = lr, momentum, {}

    def step(self, params: list, grads: list) -> list:
        out = []
        for i, (p, g) in enumerate(zip(params, grads)):
            if g is None:
                out.append(p)
                continue
            if self.momentum:
                g = g if i not in self.buffers else self.momentum * self.buffers[i] + g
                self.buffers[i] = g
            out.append(p - self.lr * g)
        return out


class NumpyAdam:
    """Adam in numpy, a parameter at a time (betas 0.9, 0.999, eps 1e-8): m and v moving averages of
    g and g^2, bias-corrected by the parameter's own count of steps t, p <- p - lr m_hat /
    (sqrt(v_hat) + eps). A parameter given no gradient (None) is left as it is, its moments and count
    too."""

    def __init__(self, lr: float, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8) -> None:
        self.lr, self.beta1, self.beta2, self.eps, self.state = lr, beta1, beta2, eps, {}

    def step(self, params: list, grads: list) -> list:
        out = []
        for i, (p, g) in enumerate(zip(params, grads)):
            if g is None:
                out.append(p)
                continue
            m, v, t = self.state.get(i, (0.0, 0.0, 0))
            m, v, t = self.beta1 * m + (1 - self.beta1) * g, self.beta2 * v + (1 - self.beta2) * g * g, t + 1
            self.state[i] = m, v, t
            m_hat, v_hat = m / (1 - self.beta1 ** t), v / (1 - self.beta2 ** t)
            out.append(p - self.lr * m_hat / (np.sqrt(v_hat) + self.eps))
        return out
