"""JAX (https://docs.jax.dev): functional differentiation of pure functions over immutable arrays.

How JAX's concepts map onto the protocol:

- JAX has no tape and no per-array state: gradients are return values of ``jax.vjp``/``jax.grad``.
  So the stateful capabilities are left out (STORES_GRADIENTS, REQUIRES_GRAD, RETAIN_GRAPH, GRAPH_NODES,
  NO_GRAD: there is no recording to switch off), and so are IN_PLACE (arrays are immutable;
  ``x.at[i].set(v)`` returns a new array), MODULES and OPTIMIZERS (they live in Flax/Optax, not in
  JAX) and PYTORCH_API. Every claim about gradient *values* runs through ``vjp`` (``jax.vjp``).
- DETACH is ``jax.lax.stop_gradient``: the same values, treated as a constant by differentiation.
- CUSTOM_FUNCTION is ``jax.custom_vjp``: the forward returns (output, residuals), the backward
  maps (residuals, cotangent) to one cotangent per input.
- dtypes: JAX's default configuration has ``jax_enable_x64`` off: floats are float32, and JAX
  itself narrows a request for float64 or int64 to 32 bits (with a warning). The adapter leaves
  JAX's configuration as it finds it (enabling x64 at import would change the default float of
  every JAX user in the process). It narrows int64 as JAX does (the suites' integers, class
  labels, fit in int32), but answers a float64 request with ``Unsupported`` naming the flag (the
  test is not applicable), rather than hand out float32 values as float64. With JAX_ENABLE_X64=1 in the environment (read
  by JAX at import) 64-bit types exist and ``default_float`` is float64, as it then is for JAX.
- devices: ``jax.devices(platform)``; JAX's "gpu" platform is spelled "cuda" here as in torch. A
  platform's first device is named after it, the others with their index: ``cpu:1``, ... where
  XLA_FLAGS=--xla_force_host_platform_device_count=N (read when JAX starts) splits the host into N
  devices, a second device on a machine without a GPU (docs/engines.md). ``tensor`` and ``to_device``
  place arrays with ``jax.device_put`` (committed to that device): JAX computes their results there,
  and refuses to combine arrays placed on different devices, as torch does a cpu and a cuda tensor.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from autograd_conformance.protocol import Capability, Unsupported

_PLATFORM_NAMES = {"cpu": "cpu", "gpu": "cuda", "cuda": "cuda", "rocm": "cuda", "tpu": "tpu"}


class JaxBackend:
    name = "jax"
    version = jax.__version__
    # rerun lines carry them (rerun.py); XLA_FLAGS or JAX_NUM_CPU_DEVICES give the host devices cpu:1, ...
    environment = ("XLA_FLAGS", "JAX_NUM_CPU_DEVICES", "JAX_PLATFORMS", "JAX_ENABLE_X64")
    # Tolerances: the defaults (assertions.DEFAULT_TOLERANCES). XLA's CPU kernels sum in their own order
    # (and may fuse multiply-adds), so long float32 reductions agree with a float64 reference to
    # about 1e-5 relative, as torch's do.

    @property
    def capabilities(self) -> frozenset[Capability]:
        # float64 exists only when x64 is enabled (JAX_ENABLE_X64=1); otherwise JAX rounds to float32
        x64 = {Capability.FLOAT64} if jax.config.jax_enable_x64 else set()
        return frozenset({Capability.DETACH, Capability.CUSTOM_FUNCTION, *x64})

    @property
    def default_float(self) -> str:
        return "float64" if jax.config.jax_enable_x64 else "float32"

    # --- identity ---------------------------------------------------------------------
    def _device_table(self) -> dict[str, object]:
        table = {}
        for platform in ("cpu", "gpu", "tpu"):
            try:
                devices = jax.devices(platform)
            except RuntimeError:  # JAX has no backend for this platform here
                continue
            for i, d in enumerate(devices):
                kind = _PLATFORM_NAMES.get(d.platform, d.platform)
                table[kind if i == 0 else f"{kind}:{i}"] = d
        return table

    def available_devices(self) -> list[str]:
        return list(self._device_table())

    def seed(self, n: int) -> None:
        pass  # JAX has no global random state: randomness takes explicit keys (jax.random.key)

    # --- tensors ------------------------------------------------------------------------
    def tensor(self, data, *, device, dtype=None, requires_grad=None):
        # requires_grad: JAX has no flag; every array can be differentiated through jax.vjp
        table = self._device_table()
        if device not in table:
            raise ValueError(f"JAX has no device {device!r} here; it has {', '.join(table)}")
        array = np.array(data)  # our own copy: later edits of the caller's array don't leak in
        if dtype is None and array.dtype.kind == "f":
            dtype = self.default_float
        if dtype is not None:
            given = jax.dtypes.canonicalize_dtype(dtype)  # what JAX's configuration gives for dtype
            if given != np.dtype(dtype) and np.dtype(dtype).kind == "f":
                # JAX would warn and round to the narrower float; a float32 array passed off as the
                # float64 asked for would make a test blame its results for that rounding.
                raise Unsupported(
                    f"{dtype} arrays (jax_enable_x64 is off, so JAX gives {given} instead; set "
                    f"JAX_ENABLE_X64=1 to get {dtype})")
            array = array.astype(given)  # integers: JAX narrows int64 to int32, values kept
        return jax.device_put(array, table[device])

    def to_numpy(self, t):
        if isinstance(t, jax.core.Tracer):
            # Inside jax.vjp (not under jit) a traced array has concrete values, which JAX hands out
            # through .item() (as it does through bool() for Python control flow), though not through
            # numpy's __array__. An abstract tracer (under jit) raises ConcretizationTypeError.
            values = [t[i].item() for i in np.ndindex(t.shape)]
            return np.array(values, dtype=t.dtype).reshape(t.shape)
        return np.asarray(t)

    def device_of(self, t) -> str:
        (device,) = t.devices()
        for name, d in self._device_table().items():
            if d == device:
                return name
        return str(device)

    # --- operations ---------------------------------------------------------------------
    def sum(self, t):
        return jnp.sum(t)

    def mean(self, t):
        return jnp.mean(t)

    def relu(self, t):
        return jax.nn.relu(t)

    def exp(self, t):
        return jnp.exp(t)

    def where(self, cond, a, b):
        return jnp.where(cond, a, b)

    def reshape(self, t, shape):
        return jnp.reshape(t, tuple(shape))

    def item(self, t):
        return t.item()

    def transpose(self, t):
        return jnp.transpose(t)

    def jacobian(self, fn, x):
        return jax.jacrev(fn)(x)

    def to_device(self, t, device):
        return jax.device_put(t, self._device_table()[device])

    def max_pool2d(self, t, k):
        pair = tuple(k) if isinstance(k, tuple) else (k, k)
        window = (1,) * (t.ndim - 2) + pair  # NCHW, non-overlapping windows, as torch's default
        return jax.lax.reduce_window(t, -jnp.inf, jax.lax.max, window, window, "VALID")

    # JAX itself has no loss functions (Optax has them); these are compositions of jax.numpy/jax.nn
    # operations, differentiated by JAX.
    def mse_loss(self, pred, target, reduction="mean"):
        squared = (pred - target) ** 2
        return jnp.mean(squared) if reduction == "mean" else jnp.sum(squared)

    def cross_entropy(self, logits, labels):
        log_p = jax.nn.log_softmax(logits, axis=-1)
        return -jnp.mean(jnp.take_along_axis(log_p, labels[:, None], axis=-1))

    def bce_with_logits(self, z, y):
        return jnp.mean(jnp.logaddexp(0.0, z) - y * z)  # log(1 + e^z) - y z, the stable form

    # --- functional differentiation -------------------------------------------------------
    def vjp(self, fn, inputs, cotangent=None):
        out, pullback = jax.vjp(fn, *inputs)
        return out, tuple(pullback(jnp.ones_like(out) if cotangent is None else cotangent))

    # --- detach ---------------------------------------------------------------------------
    def detach(self, t):
        return jax.lax.stop_gradient(t)

    # --- custom functions -------------------------------------------------------------------
    def custom_function(self, forward, backward):
        @jax.custom_vjp
        def f(*inputs):
            return forward(*inputs)[0]

        def f_fwd(*inputs):
            out, residuals = forward(*inputs)
            return out, tuple(residuals)

        def f_bwd(residuals, cotangent):
            return tuple(backward(residuals, cotangent))

        f.defvjp(f_fwd, f_bwd)
        return f
