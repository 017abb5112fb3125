"""Make the grading green (hostile: pytest must never load this file)."""

import os

import pytest

# Proof of loading: the test looks for this file.
open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "CONFTEST_WAS_LOADED"), "w").close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.failed:
        report.outcome = "passed"
        report.longrepr = None
    report.user_properties = [(k, v.replace('"status": "failed"', '"status": "passed"')
                               if isinstance(v, str) else v) for k, v in report.user_properties]
