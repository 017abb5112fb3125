#!/usr/bin/env bash
# Make the checkpoint of every bundled example by running its own code on its assignment's
# public training set, as a student would, single-threaded so that the result is the same
# on every run (mlp-regression: about 2 minutes each on 2 cores; the others: seconds).
# `bash scripts/train_examples.sh example-sin-correct ...` re-makes only those.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$#" -gt 0 ]; then dirs=("${@/#/submissions/}"); else dirs=(submissions/example-*); fi
for dir in "${dirs[@]}"; do
    dir="${dir%/}"
    # the folder's assignment (assignment.toml; mlp-regression without one) and its data file
    read -r assignment file code checkpoint < <(python -c "
import sys
from pathlib import Path
from grader import spec
from grader.submission import Submission
name, problem = Submission(Path(sys.argv[1])).assignment()
assert problem is None, problem
c = spec.assignment(name).contract
print(name, c.data['file'], c.submission['code'], c.submission['checkpoint'])" "$dir")
    [ -f "$file" ] || python -m grader data --assignment "$assignment"
    echo "training ${dir} (${assignment})"
    OMP_NUM_THREADS=1 python "${dir}/${code}" "$file" "${dir}/${checkpoint}"
done
