"""A pytest plugin for the project's own tests: after collecting the suite, write every test's
claim, markers, fixtures and parameters to the JSON file given with --collect-items-to."""

import json


def pytest_addoption(parser):
    parser.addoption("--collect-items-to", default=None)


def pytest_collection_finish(session):
    path = session.config.getoption("collect_items_to")
    if not path:
        return
    items = []
    for item in session.items:
        claim = item.get_closest_marker("claim")
        callspec = getattr(item, "callspec", None)
        items.append({
            "nodeid": item.nodeid,
            "claim": claim.args[0] if claim else None,
            "inputs": [m.args[0] for m in item.iter_markers("inputs")],
            "uses": [op for m in item.iter_markers("uses") for op in m.args],
            "programs": item.get_closest_marker("programs") is not None,
            "needs": [c for m in item.iter_markers("needs") for c in m.args],
            "optional": [c for m in item.iter_markers("optional") for c in m.args],
            "fixtures": list(getattr(item, "fixturenames", ())),
            "hypothesis": bool(getattr(getattr(item, "obj", None), "is_hypothesis_test", False)),
            "params": {k: str(v) for k, v in callspec.params.items()} if callspec else {},
        })
    with open(path, "w", encoding="utf-8") as f:
        json.dump(items, f)
