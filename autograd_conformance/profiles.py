"""The Hypothesis profiles of the property suites and generated programs: "conformance", the
default, and "thorough" (--hypothesis-profile=thorough). Loaded with the conformance plugin."""

from __future__ import annotations

from hypothesis import HealthCheck, Phase, settings

# Hypothesis profiles for the property suites; --hypothesis-profile=thorough selects the long one.
# No examples database (nothing is written into the user's tree; a profile of their own with a
# database, loaded with --hypothesis-profile, turns one on); a failure prints the
# @reproduce_failure blob that draws it again, and under "thorough" the seed (--hypothesis-seed).
_PROFILE = dict(deadline=None, database=None, print_blob=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture])
# The default one shrinks a counterexample but skips Hypothesis's "explain" phase, which varies the
# shrunk example's parts to comment which ones matter: on an engine that breaks a property that took
# longer than the rest of its test.
settings.register_profile("conformance", max_examples=12, derandomize=True,
                          phases=[p for p in Phase if p is not Phase.explain], **_PROFILE)
settings.register_profile("thorough", max_examples=300, **_PROFILE)
settings.load_profile("conformance")  # not Hypothesis's own "ci": ours, by its own name
