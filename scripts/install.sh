#!/usr/bin/env bash
# Install mlp-grader and what its tests use, on a fresh machine (Debian, Python 3.11).
set -euo pipefail
cd "$(dirname "$0")/.."
python -m pip install --quiet -c constraints.txt -e ".[test]"
