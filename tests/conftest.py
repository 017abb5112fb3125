"""The harness's own tests. Hypothesis runs with the grader's profile, loaded explicitly so
that CI (which sets CI=true and would load Hypothesis' `ci` profile) runs the same examples."""

from hypothesis import settings

from grader.checks.base import PROFILE

settings.load_profile(PROFILE)

# Hostile submissions are data for tests/test_hostile.py, never test modules.
collect_ignore = ["hostile", "zoo", "specs_ok"]
