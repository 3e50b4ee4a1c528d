# Root conftest of the checkout. The conformance plugin itself is registered by the package's
# pytest11 entry point (pip install .); the project's own tests in tests/ drive pytest in
# subprocesses and in-process through pytester.
pytest_plugins = ["pytester"]
