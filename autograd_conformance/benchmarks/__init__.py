"""Benchmarks of the seeds' workloads: the ``--benchmarks`` option, helpers, and the report.

The benchmarks live in ``suites/benchmarks/`` (installed as ``autograd_conformance.suites.benchmarks``).
They are pytest-benchmark tests that take the ``B`` and ``device`` fixtures, so every workload runs
through the backend adapter on every chosen device, like a conformance test. They carry no ``claim``
marker: they never count towards a claim. Workloads an engine lacks the concepts for (modules,
optimizers, custom functions, ...) end as *not applicable*, as conformance tests do.

Running them
------------
pytest-benchmark is the ``benchmarks`` extra (``pip install 'autograd-conformance[benchmarks]'``),
not a dependency: installed, it loads itself into every pytest run of the environment. Without it a
conformance run is unchanged (the benchmark modules still import: ``hooks`` declares their marker)
and ``--benchmarks`` is a usage error naming the extra.

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
memory that only the graph keeps alive). ``matmul_peak`` measures the peak the workloads are
compared with (``peak``: a matrix product alone, through the adapter and in numpy); at the end of
the run each benchmark with a FLOP count gets ``gflops`` and ``fraction_of_peak``, and the run's
information the ``peaks`` (``peak.annotate``).

Report
------
::

    python -m autograd_conformance.benchmarks report reports/benchmarks.json [more.json ...] --out reports/

writes ``benchmarks.md`` (per workload: the median time on every backend and device, its ratio to
torch on the CPU, and the achieved GFLOP/s where the FLOPs are known with its fraction of the run's
peak; the peaks; the within-run comparisons such
as no_grad vs tracked forward and adapter vs direct torch; the graph memory; the runs' machines) and
``benchmarks.svg`` (the same ratios and the fractions as a chart, log scale). Give it the JSON files
of several runs (backends, devices, machines) to compare them; ``--readme README.md`` also writes the
short table of GFLOP/s and fractions between the README's ``<!-- benchmarks:start/end -->`` markers.

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

Modules: ``hooks`` (the pytest side: the option, collection, the JSON's run information),
``workloads`` (what the benchmarks measure and record: FLOP counts, graph memory), ``peak`` (the
matrix-product peak and each workload's fraction of it), ``report``
(the Markdown table from the JSON) and ``chart`` (the SVG), ``__main__`` (the command line).
"""
