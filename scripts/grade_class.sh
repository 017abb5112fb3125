#!/usr/bin/env bash
# Every step of .github/workflows/grade-class.yml, so the same commands run locally and in
# tests/test_workflows.py on a sample class:
#   bash scripts/grade_class.sh roster SUBMISSIONS SHARDS     prints count=K and shards=[1..K]
#   bash scripts/grade_class.sh grade SUBMISSIONS I K REPORTS grade shard I of K into REPORTS
#   bash scripts/grade_class.sh summary REPORTS               rebuild index.html and grades.csv
#   bash scripts/grade_class.sh verify SUBMISSIONS REPORTS    every student has a results.json
# A shard's students land in REPORTS/students/<name>/ (what the workflow uploads); the
# summary job merges every shard's students/ into one REPORTS/students/ first.
set -euo pipefail

is_student() { case "$(basename "$1")" in .*|_*) return 1 ;; esac; [ -d "$1" ]; }

roster() {
    local submissions=$1 shards=$2 students=0 dir
    if ! [[ "$shards" =~ ^[1-9][0-9]*$ ]]; then echo "::error::shards must be a positive integer, not '$shards'" >&2; exit 4; fi
    for dir in "$submissions"/*; do is_student "$dir" && students=$((students + 1)); done
    if [ "$students" -eq 0 ]; then echo "::error::no student folders in $submissions" >&2; exit 5; fi
    [ "$shards" -gt "$students" ] && shards=$students
    echo "count=$shards"
    echo "shards=[$(seq -s, 1 "$shards")]"
}

grade() {
    local submissions=$1 index=$2 count=$3 reports=$4 code=0
    # Exit codes (grader/cli.py): 0 graded, whatever the scores; 3 the grader failed; 4 usage
    # error; 5 nothing to grade (a shard can be empty when the class is small).
    grader grade "$submissions" -n auto --reports-dir "$reports" -- --shard "$index/$count" || code=$?
    case $code in
        0) echo "graded shard $index of $count" ;;
        5) echo "::notice::shard $index holds no student"; mkdir -p "$reports/students" ;;
        *) echo "::error::grader grade exited with $code" >&2; exit "$code" ;;
    esac
}

summary() {
    local reports=$1
    mkdir -p "$reports/students"
    grader summary "$reports"
    echo "$(($(wc -l < "$reports/grades.csv") - 1)) students in grades.csv"
}

verify() {
    local submissions=$1 reports=$2 missing=0 dir
    for dir in "$submissions"/*; do
        is_student "$dir" || continue
        if [ ! -f "$reports/students/$(basename "$dir")/results.json" ]; then
            echo "::error::no results for $(basename "$dir")" >&2; missing=$((missing + 1))
        fi
    done
    [ "$missing" -eq 0 ]
}

command=${1:?usage: grade_class.sh roster|grade|summary|verify ...}
shift
case $command in
    roster|grade|summary|verify) "$command" "$@" ;;
    *) echo "grade_class.sh: unknown command $command" >&2; exit 4 ;;
esac
