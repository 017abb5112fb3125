"""Write a synthetic class: OUT/submissions/student-000 ... and OUT/roster.json.

    python bench/make_class.py OUT N [--seed S] [--no-checkpoint]

The mix of correct and buggy submissions is tests/classgen.py's MIX; a pytest.ini is written
at OUT so that `cd OUT && python -m pytest submissions` grades the class into OUT/reports.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from classgen import make_class, roster  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("n", type=int)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-checkpoint", action="store_true",
                        help="do not copy submissions/example-correct/model.pth into the submissions")
    args = parser.parse_args(argv)
    if args.n < 1:
        parser.error("N must be at least 1")
    existing = args.out / "submissions"
    if existing.is_dir() and any(existing.iterdir()):
        parser.error(f"{existing} is not empty")
    names = make_class(args.out, args.n, args.seed, checkpoint=not args.no_checkpoint)
    ini = args.out / "pytest.ini"
    if not ini.exists():
        ini.write_text("[pytest]\n")
    mix = Counter(roster(args.out).values())
    print(f"wrote {len(names)} submissions to {existing}: " + ", ".join(f"{k} {v}" for k, v in mix.most_common()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
