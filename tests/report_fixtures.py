"""Results of four made-up students, built from the rubric's checks without running any
student code, for the report, export and browser tests.

    ada          full marks (100), losses and reference losses recorded
    Grace        72: wrong gradient (example, numbers compared, hint), partial schedule,
                 a loss that does not fall, a skipped hidden check
    mallory      92: prints a <script> and returns HTML-looking messages
    zed-crashed  4: mlp.py crashes on import; a note from the run
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

from grader import spec
from grader.outcome import Outcome
from grader.report import write_reports
from grader.results import SubmissionResult

RUBRIC = spec.assignment(spec.DEFAULT).rubric  # the default assignment's

STARTED = "2026-03-01T09:30:00+0000"
SCRIPT = "<script>alert(1)</script><b>bold</b>"
HTML_MESSAGE = 'forward returned <img src=x onerror="alert(2)"> instead of a tensor'
LOSSES = [0.8694, 0.6550, 0.4956, 0.3829, 0.3123, 0.2747, 0.2424, 0.2137]
REFERENCE_LOSSES = [0.7868, 0.4666, 0.2719, 0.1656, 0.1187, 0.0979, 0.0842, 0.0738]
FLAT_LOSSES = [0.91, 0.9, 0.9, 0.89, 0.9, 0.89, 0.89, 0.88]
GRADIENT_HINT = "the derivative of the mean of squares brings down a factor 2"
GRADIENT_MESSAGE = ("self.grad_W2 differs from the expected values: largest error 0.25 at [0,1] "
                    "(expected 0.5, got 0.25; tolerance 1e-06 + 0.0001 x 0.5)")
CRASH_MESSAGE = "importing mlp.py crashed: SystemExit: 1"
CRASH_NOTE = "the worker was restarted after mlp.py exited"


def passed(check: spec.CheckSpec, **details) -> Outcome:
    return Outcome(check, float(check.points), "passed", details=details, seconds=0.5, student_seconds=0.25)


def build(name: str, changed: dict[str, Outcome], notes: list[str] | None = None,
          assignment: str = spec.DEFAULT) -> SubmissionResult:
    """Every check of the assignment passes except those in `changed` (check id -> outcome)."""
    outcomes = [changed.get(c.id) or passed(c) for c in spec.assignment(assignment).rubric.checks]
    return SubmissionResult(name, outcomes, execution_time=12.5, notes=notes or [], started=STARTED,
                            assignment=assignment)


def check(check_id: str, assignment: str = spec.DEFAULT) -> spec.CheckSpec:
    return spec.assignment(assignment).rubric[check_id]


def full_marks() -> SubmissionResult:
    loss_falls = check("training.loss_falls")
    return build("ada", {loss_falls.id: passed(loss_falls, losses=LOSSES, reference_losses=REFERENCE_LOSSES)})


def with_failures() -> SubmissionResult:
    gradient = Outcome(check("backward.matches_reference"), 0.0, "failed", GRADIENT_MESSAGE, hint=GRADIENT_HINT,
                       details={"compared": "self.grad_W2", "max_abs_error": 0.25, "max_rel_error": 0.5,
                                "worst_index": [0, 1], "expected_scale": 0.5,
                                "samples": [{"index": [0, 1], "expected": 0.5, "got": 0.25},
                                            {"index": [0, 0], "expected": -0.125, "got": -0.0625}],
                                "example": {"dims": [2, 3, 1], "N": 2, "X": [[0.0, 1.0], [1.5, -2.0]],
                                            "y": [[1.0], [0.0]], "W1": "array(3, 2), |max| 0.9"}},
                       seconds=2.0, student_seconds=0.5)
    schedule = Outcome(check("training.schedule"), 4.0, "partial",
                       "the learning rate was not decayed after epoch 50", details={"failed_parts": ["learning_rates"]})
    loss = Outcome(check("training.loss_falls"), 0.0, "failed",
                   "with shuffle=True the loss went from 0.91 to 0.88 in 8 epochs",
                   details={"losses": FLAT_LOSSES, "reference_losses": REFERENCE_LOSSES})
    hidden = Outcome(check("checkpoint.test_mse"), 0.0, "skipped",
                     "compared with the reference solution at grading time")
    return build("Grace", {o.check.id: o for o in (gradient, schedule, loss, hidden)})


def hostile() -> SubmissionResult:
    forward = Outcome(check("forward.matches_reference"), 0.0, "failed", HTML_MESSAGE, hint="<i>return</i> a tensor",
                      details={"example": {"X": "<svg onload=alert(3)>"}}, output=SCRIPT)
    return build("mallory", {forward.check.id: forward})


def crashed() -> SubmissionResult:
    changed = {c.id: Outcome(c, 0.0, "failed", "mlp.py could not be imported") for c in RUBRIC.checks
               if c.id != "no_autograd.source"}
    changed["structure.imports"] = Outcome(check("structure.imports"), 0.0, "error", CRASH_MESSAGE,
                                           details={"stage": "import", "status": "crashed"},
                                           output="Traceback (most recent call last):\nSystemExit: 1")
    return build("zed-crashed", changed, notes=[CRASH_NOTE])


ALL = (full_marks, with_failures, hostile, crashed)


CHROMIUM = "/usr/bin/chromium"  # Debian's; never a browser that playwright downloads
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]


def launch_chromium(playwright):
    """Headless Debian chromium, as the browser tests and docs/make_screenshots.py use it."""
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)


def write_class(reports_dir: Path) -> Path:
    """results.json and index.html of the four students, as the plugin writes them."""
    for make in ALL:
        write_reports(make(), reports_dir)
    return reports_dir


class _Text(HTMLParser):
    def __init__(self):
        super().__init__()
        self.parts: list[str] = []
        self.hidden = 0

    def handle_starttag(self, tag, attrs):
        self.hidden += tag in ("style", "script", "title")

    def handle_endtag(self, tag):
        self.hidden -= tag in ("style", "script", "title")

    def handle_data(self, data):
        if not self.hidden:
            self.parts.append(data)


def visible_text(html: str) -> str:
    """What a reader sees (tags dropped, entities decoded, whitespace collapsed), so tests
    assert content rather than markup."""
    parser = _Text()
    parser.feed(html)
    return " ".join(" ".join(parser.parts).split())


def element(html: str, tag: str, element_id: str) -> str:
    """The markup of the <tag id="element_id"> element, up to its matching closing tag."""
    start = re.search(f'<{tag}\\b[^>]*\\bid="{re.escape(element_id)}"', html).start()
    depth = 0
    for match in re.finditer(f"<(/?){tag}\\b[^>]*>", html[start:]):
        depth += -1 if match.group(1) else 1
        if depth == 0:
            return html[start:start + match.end()]
    raise ValueError(f"<{tag} id={element_id!r}> is not closed")
