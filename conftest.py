# Root conftest of the checkout: `pytest --backend NAME` here runs the conformance suite (testpaths:
# suites), so this is where the conformance plugin is loaded (autograd_conformance/autoload.py loads
# it earlier in a checkout; elsewhere nothing does unless asked: see autograd_conformance/plugin.py).
# pytester drives pytest for the project's own tests in tests/; tests/citizen_project is another
# project that tests/test_citizenship.py runs on its own, never part of this run.
pytest_plugins = ["pytester", "autograd_conformance.plugin"]
collect_ignore = ["tests/citizen_project"]
