#!/usr/bin/env bash
# Run the course's visible checks on this repository's mlp.py (and model.pth, if any),
# exactly as the self-check workflow does on every push:
#   bash check.sh            # after `bash mlp-grader-kit/scripts/install.sh` once
# The report is written to mlp-grader-kit/reports/students/<name>/index.html; the exit code is
# pytest's: 0 when every check that ran passed, 1 when some failed.
set -euo pipefail
cd "$(dirname "$0")"
kit=mlp-grader-kit
name="${CHECK_NAME:-me}"
case "$name" in .*|_*|*/*|"") echo "check.sh: CHECK_NAME must be a plain folder name" >&2; exit 4 ;; esac
[ -f mlp.py ] || { echo "check.sh: no mlp.py at the top of the repository" >&2; exit 4; }

# A fresh copy each time: only mlp.py and model.pth, as the graders will see them.
rm -rf "$kit/submissions/$name" "$kit/reports/students/$name"
mkdir -p "$kit/submissions/$name"
cp mlp.py "$kit/submissions/$name/"
[ -f model.pth ] && cp model.pth "$kit/submissions/$name/"

cd "$kit"
code=0
python -m pytest "submissions/$name" -p no:cacheprovider || code=$?
echo "report: $kit/reports/students/$name/index.html"
exit "$code"
