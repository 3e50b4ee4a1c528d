"""What a benchmark measures and records: the FLOPs of the seeds' dense-layer workloads, the
benchmark's description in its ``extra_info`` (read by the report), and the memory its graph keeps."""

from __future__ import annotations

import sys


def mlp_forward_flops(batch: int, dims: tuple[int, ...]) -> int:
    """FLOPs of the matrix products of a forward pass through dense layers dims[0] -> ... -> dims[-1].

    A product (m x k) @ (k x n) counts 2*m*k*n (one multiply and one add per term). Bias adds,
    activations and losses are O(batch * width) and not counted."""
    return sum(2 * batch * a * b for a, b in zip(dims, dims[1:]))


def mlp_step_flops(batch: int, dims: tuple[int, ...]) -> int:
    """FLOPs of the matrix products of one training step (forward + backward) of dense layers.

    Backward computes, per layer, the weight gradient (same cost as the forward product) and the
    gradient of the layer's input (same cost again), except for the first layer, whose input (the
    data) needs no gradient: 3 * forward - 2 * batch * dims[0] * dims[1]. For the seeds' two-layer
    net (004 § 1; N=64, D_in=1000, H=100, D_out=10) that is 4*N*D_in*H + 6*N*H*D_out = 25.98 MFLOP,
    exactly the products of the hand-written backprop."""
    return 3 * mlp_forward_flops(batch, dims) - 2 * batch * dims[0] * dims[1]


def describe(benchmark, B, device: str, workload: str, *, flops: int | None = None,
             compare_to: str | None = None, comparison: str | None = None, **extra) -> None:
    """Record what a benchmark measured in its extra_info (read by the report)."""
    benchmark.extra_info.update({
        "workload": workload, "backend": B.name, "backend_version": str(B.version),
        "device": device, "dtype": B.default_float, "flops": flops,
        "compare_to": compare_to, "comparison": comparison, **extra})


def graph_memory(B, forward, inputs) -> dict:
    """Bytes of the tensors the engine saves for backward while ``forward()`` runs.

    Measured for torch tensors with ``torch.autograd.graph.saved_tensors_hooks`` (every tensor an
    operation saves passes through the pack hook); distinct storages are counted once.
    ``graph_saved_intermediate_bytes`` leaves out the storages of ``inputs`` (data and parameters,
    which exist anyway): what only the graph keeps alive. Other engines have no such hook: null."""
    result = {"graph_saved_bytes": None, "graph_saved_intermediate_bytes": None,
              "graph_memory_method": None}
    torch = sys.modules.get("torch")
    if torch is None or not all(isinstance(t, torch.Tensor) for t in inputs):
        forward()
        return result
    saved: dict[int, int] = {}

    def pack(t):
        storage = t.untyped_storage()
        saved[storage.data_ptr()] = storage.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = forward()
    del out
    own = {t.untyped_storage().data_ptr() for t in inputs}
    result.update(graph_saved_bytes=sum(saved.values()),
                  graph_saved_intermediate_bytes=sum(n for p, n in saved.items() if p not in own),
                  graph_memory_method="torch.autograd.graph.saved_tensors_hooks")
    return result
