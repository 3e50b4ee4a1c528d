"""Benchmarks of the seeds' workloads: the ``--benchmarks`` option, helpers, and the report.

The benchmarks live in ``suites/benchmarks/`` (installed as ``autograd_conformance.suites.benchmarks``).
They are pytest-benchmark tests that take the ``B`` and ``device`` fixtures, so every workload runs
through the backend adapter on every chosen device, like a conformance test. They carry no ``claim``
marker: they never count towards a claim. Workloads an engine lacks the concepts for (modules,
optimizers, custom functions, ...) end as *not applicable*, as conformance tests do.

Running them
------------
A conformance run never collects them (``pytest suites``). ``--benchmarks`` runs only them::

    pytest suites --benchmarks                                   # torch on the CPU
    pytest suites --benchmarks --backend mygrad --device cpu
    pytest suites --benchmarks --device all --benchmark-max-time=0.5

and writes pytest-benchmark's JSON to ``benchmarks.json`` in ``--report-dir`` (default ``reports/``)
unless ``--benchmark-json PATH`` is given. A benchmark run writes no conformance report (it checks no
claim, and would otherwise replace the last conformance run's ``conformance.*``). All of
pytest-benchmark's own options (``--benchmark-*``) apply. ``--benchmarks`` cannot be combined with
xdist (``-n``): parallel workers would compete for the cores being measured. Timings are only as
quiet as the machine: other processes on its cores inflate them (on 2 cores, a busy neighbour stalls
torch's 2-thread matrix products for whole scheduler slices; ``OMP_NUM_THREADS=1`` avoids that at
the cost of single-core speed). Compare runs made on one machine.

Every workload ends by reading its result with ``B.to_numpy``: that forces lazy engines to compute
and waits for asynchronous devices, so the time is that of the finished step. Each benchmark records
in ``extra_info``: ``workload`` (a stable id), ``backend``, ``backend_version``, ``device``, ``dtype``,
``flops`` (matrix-product FLOPs of one call, or null where no meaningful count exists) and, for the
forward-pass workloads, ``graph_saved_bytes`` (bytes of the distinct tensors the engine saves for
backward, measured with ``torch.autograd.graph.saved_tensors_hooks``; null for engines other than
torch) and ``graph_saved_intermediate_bytes`` (the same without the inputs and parameters, i.e. the
memory that only the graph keeps alive).

Report
------
::

    python -m autograd_conformance.benchmarks report reports/benchmarks.json [more.json ...] --out reports/

writes ``benchmarks.md`` (per workload: the median time on every backend and device, its ratio to
torch on the CPU, and the achieved GFLOP/s where the FLOPs are known; the within-run comparisons such
as no_grad vs tracked forward and adapter vs direct torch; the graph memory; the runs' machines) and
``benchmarks.svg`` (the same ratios as a chart, log scale). Give it the JSON files of several runs
(backends, devices, machines) to compare them.

Regression checking
-------------------
pytest-benchmark compares a run with a saved one itself. Save runs per backend, since benchmark names
do not include the backend::

    pytest suites --benchmarks --benchmark-storage=.benchmarks/torch --benchmark-autosave
    # ... change the adapter or the engine version ...
    pytest suites --benchmarks --benchmark-storage=.benchmarks/torch \\
        --benchmark-compare --benchmark-compare-fail=median:10%

``--benchmark-autosave`` stores the run as ``NNNN_<commit>.json`` under the storage folder;
``--benchmark-compare`` (no value: the latest saved run; or a run number such as ``0001``) prints
each benchmark next to the saved one; ``--benchmark-compare-fail=median:10%`` makes the run fail
when any benchmark's median is more than 10% slower than in the saved run. Compare
runs of the same machine only (saved runs are kept per Python version and platform, not per CPU);
``pytest-benchmark --storage .benchmarks/torch compare`` shows all saved runs side by side.
"""

from __future__ import annotations

import argparse
import html
import importlib.util
import json
import math
import os
import shlex
import sys
from pathlib import Path

import pytest

BENCHMARKS_JSON = "benchmarks.json"
REPORT_FILES = ("benchmarks.md", "benchmarks.svg")
REFERENCE = ("torch", "cpu")  # backend, device every other column is compared with


# ------------------------------------------------------------------ the pytest plugin
def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("autograd-conformance", "autograd conformance suite")
    group.addoption(
        "--benchmarks", action="store_true",
        help="run only the benchmarks of the seeds' workloads (suites/benchmarks; excluded from "
             "conformance runs) and write pytest-benchmark JSON to <report-dir>/benchmarks.json "
             "unless --benchmark-json is given.")


def is_benchmark(item: pytest.Item) -> bool:
    """A conformance benchmark: a test using pytest-benchmark's ``benchmark`` and the backend ``B``.

    Other projects' benchmarks in the same environment (no ``B``) are left alone."""
    names = getattr(item, "fixturenames", ())
    return "benchmark" in names and "B" in names


def _benchmark_dirs() -> set[Path]:
    """Where the suite's benchmark package lives (checkout and installed copy)."""
    dirs = {Path(__file__).resolve().parent.parent / "suites" / "benchmarks"}
    try:
        spec = importlib.util.find_spec("autograd_conformance.suites")
    except (ImportError, ValueError):
        spec = None
    for location in (spec.submodule_search_locations or []) if spec else []:
        dirs.add(Path(location).resolve() / "benchmarks")
    return dirs


def pytest_ignore_collect(collection_path: Path, config: pytest.Config):
    """Without --benchmarks the benchmark package is not even collected (nor imported)."""
    if collection_path.name != "benchmarks" or config.getoption("benchmarks", False):
        return None
    if collection_path.is_dir() and collection_path.resolve() in _benchmark_dirs():
        return True
    return None


@pytest.hookimpl(tryfirst=True)  # before pytest-benchmark and the report writer read their options
def pytest_configure(config: pytest.Config) -> None:
    if not config.getoption("benchmarks", False):
        return
    if not any(map(config.pluginmanager.hasplugin, ("benchmark", "pytest_benchmark.plugin"))):
        raise pytest.UsageError("--benchmarks needs pytest-benchmark: pip install pytest-benchmark "
                                "(and do not disable it with -p no:benchmark)")
    if getattr(config.option, "numprocesses", None) or config.getoption("dist", "no") != "no":
        raise pytest.UsageError("--benchmarks cannot be combined with xdist (-n/--dist): parallel "
                                "workers compete for the cores being measured. Drop -n.")
    # A benchmark run checks no claim: keep the last conformance run's conformance.* as they are.
    # plugin.pytest_configure is tryfirst too, so it may already have registered the writer.
    if hasattr(config.option, "no_report"):
        config.option.no_report = True
    writer = config.pluginmanager.get_plugin("autograd_conformance.report.writer")
    if writer is not None:
        writer.enabled = False
    if config.getoption("benchmark_json", None) is None and not config.option.collectonly:
        directory = Path(config.invocation_params.dir, config.getoption("report_dir", None) or "reports")
        directory.mkdir(parents=True, exist_ok=True)
        config.option.benchmark_json = directory / BENCHMARKS_JSON


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    wanted = config.getoption("benchmarks", False)
    keep, drop = [], []
    for item in items:  # --benchmarks: only benchmarks; otherwise: everything but them
        (keep if is_benchmark(item) == wanted else drop).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


def pytest_report_header(config: pytest.Config) -> str | None:
    if not config.getoption("benchmarks", False):
        return None
    return f"benchmarks: only the workload benchmarks run; JSON to {config.getoption('benchmark_json')}"


@pytest.hookimpl(optionalhook=True)
def pytest_benchmark_update_json(config: pytest.Config, benchmarks, output_json: dict) -> None:
    """Add the backend, devices and thread count of the run to pytest-benchmark's JSON."""
    from autograd_conformance import plugin

    backend = config.stash.get(plugin.backend_key, None)
    if backend is None:
        return
    info = {"backend": backend.name, "backend_version": str(backend.version),
            "devices": list(config.stash.get(plugin.devices_key, [])),
            "suite_version": _suite_version(),
            "command": shlex.join(["pytest", *config.invocation_params.args])}
    torch = sys.modules.get("torch")
    if torch is not None:
        info["torch_threads"] = torch.get_num_threads()
    if hasattr(os, "getloadavg"):  # other work on the machine at the end of the run (1, 5, 15 min)
        info["load_average"] = [round(x, 2) for x in os.getloadavg()]
    info["cpu_count"] = os.cpu_count()
    output_json["autograd_conformance"] = info


def _suite_version() -> str:
    from importlib import metadata
    try:
        return metadata.version("autograd-conformance")
    except metadata.PackageNotFoundError:
        return "unknown"


# ------------------------------------------------------------------ helpers for the benchmarks
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


# ------------------------------------------------------------------ the report
class ReportError(Exception):
    """A benchmark JSON file could not be read; the message says which and why."""


def load(paths: list[Path]) -> tuple[list[dict], list[dict], list[str]]:
    """(records, runs, notes) from pytest-benchmark JSON files.

    A record is one benchmark of one run: workload, column (backend, version, device), median,
    min, rounds, flops, comparison target and graph memory. Benchmarks without a ``workload`` in
    their extra_info (not the suite's) are left out, with a note."""
    records, runs, notes = [], [], []
    for path in paths:
        try:
            doc = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ReportError(f"{path}: cannot read benchmark JSON ({exc})") from None
        if not isinstance(doc, dict) or not isinstance(doc.get("benchmarks"), list):
            raise ReportError(f"{path}: not a pytest-benchmark JSON file (no 'benchmarks' list); "
                              "write one with pytest --benchmarks or --benchmark-json")
        meta = doc.get("autograd_conformance") or {}
        machine = doc.get("machine_info") or {}
        runs.append({"file": str(path), "date": doc.get("datetime"), "meta": meta,
                     "cpu": (machine.get("cpu") or {}).get("brand_raw"),
                     "python": machine.get("python_version"), "node": machine.get("node"),
                     "pytest_benchmark": doc.get("version"),
                     "commit": (doc.get("commit_info") or {}).get("id")})
        foreign = 0
        for bench in doc["benchmarks"]:
            info, stats = bench.get("extra_info") or {}, bench.get("stats") or {}
            if "workload" not in info or "median" not in stats:
                foreign += 1
                continue
            records.append({
                "workload": info["workload"], "name": bench.get("fullname", bench.get("name")),
                "column": (info.get("backend") or meta.get("backend") or "?",
                           str(info.get("backend_version") or meta.get("backend_version") or "?"),
                           info.get("device") or "?"),
                "median": stats["median"], "min": stats.get("min"), "rounds": stats.get("rounds"),
                "flops": info.get("flops"), "compare_to": info.get("compare_to"),
                "comparison": info.get("comparison"),
                "graph_memory": "graph_saved_bytes" in info,  # measured, or null: no hook
                "graph_saved_bytes": info.get("graph_saved_bytes"),
                "graph_saved_intermediate_bytes": info.get("graph_saved_intermediate_bytes"),
                "file": str(path)})
        if foreign:
            notes.append(f"{path}: {foreign} benchmark(s) without a suite workload id left out")
    return records, runs, notes


def _table(records: list[dict], notes: list[str]):
    """workloads (ordered), columns (reference first), cell[(workload, column)] -> record."""
    cells: dict[tuple, dict] = {}
    for r in records:
        key = (r["workload"], r["column"])
        if key in cells:
            notes.append(f"{r['workload']} on {_label(r['column'])} measured more than once; "
                         f"shown: {cells[key]['file']}, left out: {r['file']}")
            continue
        cells[key] = r
    columns = list(dict.fromkeys(r["column"] for r in records))
    ref = next((c for c in columns if (c[0], c[2]) == REFERENCE), None)
    if ref is not None:
        columns.remove(ref)
        columns.insert(0, ref)
    workloads = list(dict.fromkeys(r["workload"] for r in records))
    return workloads, columns, ref, cells


def _label(column: tuple) -> str:
    backend, version, device = column
    return f"{backend} {version} · {device}"


def _short(column: tuple) -> str:
    return f"{column[0]} · {column[2]}"


def fmt_time(seconds: float) -> str:
    for unit, scale in (("s", 1), ("ms", 1e-3), ("µs", 1e-6), ("ns", 1e-9)):
        if seconds >= scale or unit == "ns":
            value = seconds / scale
            return f"{value:.3g} {unit}" if value < 1000 else f"{value:.0f} {unit}"
    return f"{seconds} s"  # unreachable


def fmt_bytes(n: int | None) -> str:
    if n is None:
        return "n/a"
    for unit, scale in (("MiB", 2 ** 20), ("KiB", 2 ** 10)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} B"


def gflops(record: dict) -> float | None:
    if not record.get("flops") or not record.get("median"):
        return None
    return record["flops"] / record["median"] / 1e9


def ratios(records: list[dict]) -> dict:
    """The numbers the Markdown table and the chart show."""
    notes: list[str] = []
    workloads, columns, ref, cells = _table(records, notes)
    vs_ref = {}  # (workload, column) -> ratio to the reference column on the same workload
    for (w, c), r in cells.items():
        base = cells.get((w, ref)) if ref else None
        vs_ref[w, c] = r["median"] / base["median"] if base else None
    within = []  # (label, baseline workload, workload, {column: ratio})
    for w in workloads:
        for c in columns:
            r = cells.get((w, c))
            if r is None or not r["compare_to"]:
                continue
            base = cells.get((r["compare_to"], c))
            if base is None:
                continue
            entry = next((e for e in within if e[2] == w), None)
            if entry is None:
                entry = (r["comparison"] or f"{w} / {r['compare_to']}", r["compare_to"], w, {})
                within.append(entry)
            entry[3][c] = r["median"] / base["median"]
    return {"workloads": workloads, "columns": columns, "reference": ref, "cells": cells,
            "vs_reference": vs_ref, "within": within, "notes": notes}


def markdown(records: list[dict], runs: list[dict], notes: list[str]) -> str:
    data = ratios(records)
    workloads, columns, ref, cells = (data[k] for k in ("workloads", "columns", "reference", "cells"))
    out = ["# Benchmarks of the seeds' workloads", ""]
    if not records:
        return "\n".join(out + ["No suite benchmark in the given files.", ""])
    ref_text = _short(ref) if ref else "torch · cpu (not in these files: no ratios)"
    out += [f"Median time of one call over pytest-benchmark's rounds on each backend · device; "
            f"`×` is the ratio to {ref_text} on the same workload (below 1: faster); GFLOP/s is "
            "the workload's matrix-product FLOPs divided by the median time. Every call ends with "
            "the result read back as numpy (lazy engines compute, devices synchronise).", ""]
    out.append("| workload | MFLOP | " + " | ".join(_label(c) for c in columns) + " |")
    out.append("|---|---:|" + "---:|" * len(columns))
    for w in workloads:
        flops = next((cells[w, c]["flops"] for c in columns if (w, c) in cells and cells[w, c]["flops"]), None)
        row = [f"`{w}`", f"{flops / 1e6:.2f}" if flops else "–"]
        for c in columns:
            r = cells.get((w, c))
            if r is None:
                row.append("·")
                continue
            parts = [fmt_time(r["median"])]
            ratio = data["vs_reference"].get((w, c))
            if ratio is not None:
                parts.append(_ratio(ratio))
            g = gflops(r)
            if g is not None:
                parts.append(f"{g:.1f} GFLOP/s")
            row.append(" · ".join(parts))
        out.append("| " + " | ".join(row) + " |")
    if data["within"]:
        out += ["", "## Within-run comparisons", "",
                "Median of the workload divided by the median of its baseline, on the same backend "
                "and device (below 1: the workload is faster).", "",
                "| comparison | workload / baseline | " + " | ".join(_short(c) for c in columns) + " |",
                "|---|---|" + "---:|" * len(columns)]
        for label, base, w, by_col in data["within"]:
            vals = [_ratio(by_col[c], 3) if c in by_col else "·" for c in columns]
            out.append(f"| {label} | `{w}` / `{base}` | " + " | ".join(vals) + " |")
    memory = [(w, c, cells[w, c]) for w in workloads for c in columns
              if (w, c) in cells and cells[w, c]["graph_memory"]]
    if memory:
        out += ["", "## Memory held by the graph", "",
                "Bytes of the distinct tensors saved for backward during one forward pass "
                "(torch: `saved_tensors_hooks`; n/a: the engine has no such hook). "
                "\"intermediates\" leaves out the inputs and parameters, which exist anyway.", "",
                "| workload | backend · device | saved for backward | intermediates only |",
                "|---|---|---:|---:|"]
        for w, c, r in memory:
            out.append(f"| `{w}` | {_short(c)} | {fmt_bytes(r['graph_saved_bytes'])} | "
                       f"{fmt_bytes(r['graph_saved_intermediate_bytes'])} |")
    out += ["", "## Runs", "",
            "Load average: the machine's 1/5/15-minute load at the end of the run; a load near or "
            "above the CPU count means other work competed for the cores and inflated the times.", "",
            "| file | backend | devices | date | machine | Python | threads | CPUs | load average |",
            "|---|---|---|---|---|---|---:|---:|---|"]
    for run in runs:
        meta = run["meta"]
        backend = f"{meta.get('backend', '?')} {meta.get('backend_version', '')}".strip()
        out.append(f"| `{run['file']}` | {backend} | {', '.join(meta.get('devices', [])) or '?'} | "
                   f"{run['date'] or '?'} | {run['cpu'] or run['node'] or '?'} | "
                   f"{run['python'] or '?'} | {meta.get('torch_threads', '–')} | "
                   f"{meta.get('cpu_count', '?')} | "
                   f"{' / '.join(map(str, meta['load_average'])) if meta.get('load_average') else '?'} |")
    all_notes = notes + data["notes"]
    if all_notes:
        out += ["", "Notes:", *[f"- {n}" for n in all_notes]]
    return "\n".join(out) + "\n"


def _ratio(v: float, digits: int = 2) -> str:
    if v >= 100:
        return f"{v:.0f}×"
    return f"{v:.{digits}f}×" if v >= 0.1 else f"{v:.{digits}g}×"


PALETTE = ("#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#b07aa1", "#76b7b2", "#edc948", "#9c755f")


def svg_chart(records: list[dict]) -> str:
    """A hand-written SVG: per workload one bar per backend · device, the ratio to the reference
    on a log scale, drawn from 1× (left: faster, right: slower); then the within-run comparisons."""
    data = ratios(records)
    columns, workloads = data["columns"], data["workloads"]
    sections = []
    if data["reference"] is not None:
        sections.append((f"Median time relative to {_short(data['reference'])} (same workload)",
                         [(w, [(i, data["vs_reference"].get((w, c))) for i, c in enumerate(columns)
                               if (w, c) in data["cells"]]) for w in workloads]))
    if data["within"]:
        sections.append(("Within-run comparisons (workload / baseline, same backend · device)",
                         [(label, [(i, by_col.get(c)) for i, c in enumerate(columns) if c in by_col])
                          for label, _, _, by_col in data["within"]]))
    values = [v for _, rows in sections for _, bars in rows for _, v in bars if v]
    lo, hi = min(values + [1.0]) / 1.3, max(values + [1.0]) * 1.3
    lo, hi = min(lo, 0.5), max(hi, 2.0)
    label_w, plot_w, bar_h, gap, pad = 330, 520, 12, 8, 20
    x0 = label_w + pad

    def x(v: float) -> float:
        return x0 + (math.log10(v) - math.log10(lo)) / (math.log10(hi) - math.log10(lo)) * plot_w

    ticks = [m * 10 ** e for e in range(math.floor(math.log10(lo)), math.ceil(math.log10(hi)) + 1)
             for m in (1, 2, 5) if lo <= m * 10 ** e <= hi]
    if len(ticks) > 12:
        ticks = [t for t in ticks if math.log10(t).is_integer()]
    parts, y = [], 30
    legend = [f"<rect x='{x0 + 170 * (i % 3)}' y='{y + 22 * (i // 3)}' width='12' height='12' "
              f"fill='{PALETTE[i % len(PALETTE)]}'/><text x='{x0 + 18 + 170 * (i % 3)}' "
              f"y='{y + 10 + 22 * (i // 3)}'>{html.escape(_label(c))}</text>"
              for i, c in enumerate(columns)]
    parts += legend
    y += 22 * ((len(columns) + 2) // 3) + 10
    for title, rows in sections:
        y += 18
        parts.append(f"<text x='{pad}' y='{y}' class='h'>{html.escape(title)}</text>")
        y += 10
        top, bars_start = y, len(parts)
        for label, bars in rows:
            height = max(1, len(bars)) * (bar_h + 2)
            parts.append(f"<text x='{label_w}' y='{y + height / 2 + 4}' text-anchor='end'>"
                         f"{html.escape(label)}</text>")
            for i, v in bars:
                color = PALETTE[i % len(PALETTE)]
                if v:
                    a, b = sorted((x(1.0), x(v)))
                    parts.append(f"<rect x='{a:.1f}' y='{y}' width='{max(b - a, 1.5):.1f}' "
                                 f"height='{bar_h}' fill='{color}'><title>{html.escape(label)} · "
                                 f"{html.escape(_label(columns[i]))}: {_ratio(v)}</title></rect>")
                    tx = x(v) + 4 if v >= 1 else x(v) - 4
                    anchor = "start" if v >= 1 else "end"
                    parts.append(f"<text x='{tx:.1f}' y='{y + bar_h - 2}' text-anchor='{anchor}' "
                                 f"class='v'>{_ratio(v)}</text>")
                y += bar_h + 2
            y += gap
        grid = []  # drawn first, under the bars
        for t in ticks:
            grid.append(f"<line x1='{x(t):.1f}' y1='{top - 4}' x2='{x(t):.1f}' y2='{y}' "
                        f"class='{'one' if t == 1 else 'grid'}'/>")
            grid.append(f"<text x='{x(t):.1f}' y='{y + 12}' text-anchor='middle' class='v'>{t:g}×</text>")
        parts[bars_start:bars_start] = grid
        y += 24
    if not sections:
        parts.append(f"<text x='{pad}' y='{y + 20}'>No ratio to show: no torch · cpu reference and "
                     "no within-run comparison in these files.</text>")
        y += 40
    width, height = x0 + plot_w + 80, y + 10
    return (f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height}' "
            f"viewBox='0 0 {width} {height}' font-family='sans-serif' font-size='11'>\n"
            "<style>.h{font-weight:bold;font-size:12px}.v{fill:#444;font-size:10px}"
            ".grid{stroke:#ddd}.one{stroke:#000}</style>\n"
            f"<rect width='{width}' height='{height}' fill='white'/>\n"
            f"<text x='{pad}' y='18' class='h'>Benchmarks of the seeds' workloads "
            "(log scale; left of 1×: faster)</text>\n" + "\n".join(parts) + "\n</svg>\n")


def write_report(paths: list[Path], out: Path) -> list[Path]:
    records, runs, notes = load(paths)
    out.mkdir(parents=True, exist_ok=True)
    md, svg = out / REPORT_FILES[0], out / REPORT_FILES[1]
    md.write_text(markdown(records, runs, notes), encoding="utf-8")
    svg.write_text(svg_chart(records), encoding="utf-8")
    return [md, svg]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m autograd_conformance.benchmarks")
    sub = parser.add_subparsers(dest="command", required=True)
    r = sub.add_parser("report", help="Markdown table and SVG chart from benchmark JSON files")
    r.add_argument("files", nargs="+", type=Path, help="pytest-benchmark JSON files (pytest --benchmarks)")
    r.add_argument("--out", type=Path, required=True, help="directory for benchmarks.md and benchmarks.svg")
    args = parser.parse_args(argv)
    try:
        written = write_report(args.files, args.out)
    except (ReportError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print("wrote " + ", ".join(map(str, written)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
