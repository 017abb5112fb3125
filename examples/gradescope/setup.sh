#!/usr/bin/env bash
# Gradescope runs this once, as root, when it builds the autograder image. The autograder
# zip is this repository's root (grader/, reference/, ta/, constraints.txt, pyproject.toml,
# plus examples/gradescope/run_autograder and setup.sh copied to the zip's top level), which
# Gradescope unpacks to /autograder/source.
#
# The grader needs Python >= 3.11 (tomllib). It is installed editable on purpose: the
# reference solution (reference/) and the TA configuration (ta/config.toml) are found next
# to the package, never inside the installed copy that the student's code could see.
set -euo pipefail

SOURCE="${GRADER_SOURCE:-/autograder/source}"
VENV="${GRADER_VENV:-/autograder/venv}"
PYTHON="${GRADER_PYTHON:-python3.11}"

export DEBIAN_FRONTEND=noninteractive
apt-get update
# bubblewrap: the worker runs student code in a sandbox when bwrap is present (without it
# every report carries a "reduced isolation" note).
apt-get install -y --no-install-recommends "${PYTHON}" "${PYTHON}-venv" bubblewrap

"${PYTHON}" -m venv "${VENV}"
# constraints.txt pins torch; pass e.g. PIP_EXTRA_INDEX_URL (pip reads it) to fetch the
# CPU-only torch build and keep the image small.
"${VENV}/bin/python" -m pip install --upgrade pip
"${VENV}/bin/python" -m pip install -c "${SOURCE}/constraints.txt" -e "${SOURCE}"
