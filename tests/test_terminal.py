"""What the plugin prints: control characters made visible, the smallest failing example as
a small table, the score table with full names, the assignment and the maxima."""

from __future__ import annotations

import report_fixtures as fx
from grader import terminal


def test_printable_spells_out_every_control_character_but_newline_and_tab():
    assert terminal.printable("a\tb\nc\x1b[2J\x07\r\x7f\x9b\x85é") == "a\tb\nc\\x1b[2J\\x07\\x0d\\x7f\\x9b\\x85é"


def test_the_smallest_failing_example_is_a_small_table():
    example = {"dims": [3, 2, 1], "X": [[0.5, -1.0], [2.0, 0.25]], "seed": 7,
               "W1": [[float(i) for i in range(5)] for _ in range(2)]}
    assert terminal.example_table(example).splitlines() == [
        "  dims       3  3 2 1",
        "  X        2×2  0.5 -1 2 0.25",
        "  seed  scalar  7",
        "  W1       2×5  0 1 2 3 4 0 1 2 … (2 more)",
    ]


def test_the_score_table_has_full_names_the_assignment_and_the_maxima():
    long = fx.build("a-student-with-a-name-longer-than-twenty-four-characters", {})
    lines = terminal.score_table([long, fx.with_failures()])
    assert [line.split() for line in lines] == [
        ["student", "assignment", "score", "structure", "init", "forward", "backward", "no_autograd", "training",
         "checkpoint"],
        ["(max)", "mlp-regression", "100", "10", "12", "14", "22", "8", "18", "16"],
        ["a-student-with-a-name-longer-than-twenty-four-characters", "mlp-regression", "100", "10", "12", "14",
         "22", "8", "18", "16"],
        ["Grace", "mlp-regression", "72", "10", "12", "14", "12", "8", "12", "4"],
    ]
