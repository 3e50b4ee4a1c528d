import sys

import pytest


def pytest_addoption(parser):
    parser.addoption("--backend", default="own-backend", help="this project's own --backend")
    parser.addoption("--timeout", default="own-timeout", help="this project's own --timeout")


@pytest.fixture
def device():
    return "this project's device"


@pytest.fixture
def benchmark():
    return "this project's benchmark"  # a str: no plugin may set attributes on it


def pytest_sessionfinish(session):
    # what the conformance plugin must not have done to this run, written for the outer test
    with open("imported.txt", "w") as f:
        f.write("\n".join(sorted(m for m in ("torch", "jax", "autograd_conformance.plugin") if m in sys.modules)))
