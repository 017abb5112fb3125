"""What a newcomer expects of a Python project: `tox` runs the README's tests, `--version`
and `--help` tell the truth, every option says what it does."""

from __future__ import annotations

import argparse
import configparser
import re
from pathlib import Path

import grader
from grader import cli

ROOT = Path(__file__).resolve().parents[1]


def test_tox_runs_the_readmes_test_command_by_default():
    tox = configparser.ConfigParser()
    tox.read(ROOT / "tox.ini")
    default = tox["tox"]["env_list"].split(",")[0].strip()
    assert default == "py311" and f"testenv:{default}" not in tox  # the [testenv] section itself
    assert tox["testenv"]["commands"].strip() == "python -m pytest tests {posargs}"
    assert "python -m pytest tests" in (ROOT / "README.md").read_text()
    fast = tox["testenv:fast"]["commands"].split()
    assert all((ROOT / f).is_file() for f in fast if f.startswith("tests/"))


def test_version(capsys):
    assert cli.main(["--version"]) == 0
    assert capsys.readouterr().out == f"grader {grader.__version__}\n"


def subcommands() -> dict[str, argparse.ArgumentParser]:
    action = next(a for a in cli.build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def test_every_option_of_every_command_has_help():
    for name, parser in subcommands().items():
        for action in parser._actions:
            assert action.help, f"grader {name} {'/'.join(action.option_strings) or action.dest} has no help"


def test_grade_help_lists_the_exit_codes_and_kit_help_its_default():
    grade = subcommands()["grade"].format_help()
    for code, meaning in ((0, "grading completed"), (3, "the grader itself failed"), (4, "usage error"),
                          (5, "nothing to grade")):
        assert re.search(rf"^\s+{code}\s+{meaning}", grade, re.M), grade
    assert "(default: dist/mlp-grader-kit.zip)" in " ".join(subcommands()["kit"].format_help().split())
