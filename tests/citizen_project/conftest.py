import sys

import pytest


def pytest_addoption(parser):
    parser.addoption("--backend", default="own-backend", help="this project's own --backend")


@pytest.fixture
def device():
    return "this project's device"


def pytest_sessionfinish(session):
    # what the conformance plugin must not have done to this run, written for the outer test
    with open("imported.txt", "w") as f:
        f.write("\n".join(sorted(m for m in ("torch", "jax", "autograd_conformance.plugin") if m in sys.modules)))
