"""Benchmarks of the seeds' workloads (pytest-benchmark), per backend and device.

Not part of a conformance run: ``pytest suites --benchmarks`` runs only these (see
``autograd_conformance.benchmarks``). They check no claim and carry no claim marker.
"""
