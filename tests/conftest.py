"""The project's own tests start many Python processes: forked and fresh pytest runs, their xdist
workers, the TensorFlow process. Each caches what it compiles, as pytest caches the modules it
rewrites for assertions (hypothesis, this package and the suites), also where the environment says
PYTHONDONTWRITEBYTECODE: else every process compiles them again, about a second of its start."""

import os

os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
