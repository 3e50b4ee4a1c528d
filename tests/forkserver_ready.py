"""Imported last by the forkserver of tests/conformance_run.py, after the preloaded modules: it moves
every object they made into the garbage collector's permanent generation, so that a forked run's
collections (pytest runs several full ones at exit) do not walk torch's heap again each time."""

import gc

gc.collect()
gc.freeze()
