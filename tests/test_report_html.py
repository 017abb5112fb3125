"""The per-student page, the class summary and their SVG charts, rendered from made-up
results (tests/report_fixtures.py) without running any student code."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest

import report_fixtures as fx
from grader import spec
from grader.report import render_student, render_summary, svg, write_reports
from grader.report.student import OUTPUT_CAP


def page_of(result, tmp_path: Path) -> str:
    return render_student(result.to_gradescope(), tmp_path / result.name / "index.html").read_text()


def results_with(result, check_id: str, **extra_data) -> dict:
    """The Gradescope dict of `result`, with one check's extra_data changed (e.g. NaN losses,
    which results.json itself can never hold)."""
    data = result.to_gradescope()
    for test in data["tests"]:
        if test["extra_data"]["id"] == check_id:
            test["extra_data"].update(extra_data)
    return data


# -- the student page ------------------------------------------------------------------------

def test_full_marks_page_shows_total_categories_and_run(tmp_path):
    html = page_of(fx.full_marks(), tmp_path)
    text = fx.visible_text(html)
    assert "<title>ada: 100 / 100</title>" in html
    assert "ada 24 passed 100 / 100 points" in text
    assert fx.visible_text(fx.element(html, "div", "categories")) == (
        "structure 10 / 10 init 12 / 12 forward 14 / 14 backward 22 / 22 no_autograd 8 / 8 training 18 / 18 "
        "checkpoint 16 / 16")
    assert ("assignment mlp-regression grader version 0.1.0 started 2026-03-01 09:30:00 +0000 "
            "duration 12.5 s checks 24 notes none") in text
    assert text.count("passed") == 25  # the summary pill and one badge per check


def test_training_curve_draws_student_and_reference_on_log_scale(tmp_path):
    html = page_of(fx.full_marks(), tmp_path)
    chart = html[html.index('id="training-curve"'):html.index("<h2>Checks</h2>")]
    assert chart.count("<svg") == 1 and chart.count("<polyline") == 2
    assert "loss (log scale)" in chart
    assert "your train(), epoch 1: 0.8694" in chart and "reference, epoch 8: 0.0738" in chart
    assert chart.count("<circle") == len(fx.LOSSES) + len(fx.REFERENCE_LOSSES)
    assert "The losses of this check are drawn in the" in html  # not drawn twice


def test_failures_show_message_hint_example_and_numbers(tmp_path):
    html = page_of(fx.with_failures(), tmp_path)
    text = fx.visible_text(html)
    gradient = fx.visible_text(fx.element(html, "details", "check-backward.matches_reference"))
    assert gradient.startswith("failed backward's gradients equal the reference gradients "
                               "backward.matches_reference 0 / 10")
    assert fx.GRADIENT_MESSAGE in gradient
    assert f"Hint: {fx.GRADIENT_HINT}" in gradient
    assert "Smallest failing example name shape values dims 3 [2, 3, 1] N 2 X 2×2" in gradient
    assert "y 2×1 [1] [0] W1 array(3, 2), |max| 0.9" in gradient
    assert ("Numbers compared: self.grad_W2 largest absolute error 0.25 at index [0, 1] relative error 0.5 "
            "largest |expected| 0.5") in gradient
    assert "[0, 1] 0.5 0.25 -0.25 [0, 0] -0.125 -0.0625 0.0625" in gradient
    assert "partial train() feeds the batches in order" in text
    assert "training.schedule 4 / 6" in text and "failed_parts learning_rates" in text
    assert "skipped the trained parameters reach the expected MSE" in text
    # The skipped hidden check (12 points) runs at grading time: Grace's score is out of the rest.
    assert ("Grace 20 passed 1 partial 2 failed 1 skipped 72 / 88 points "
            "and 12 points of hidden checks, checked at grading time") in text
    assert fx.visible_text(fx.element(html, "div", "categories")) == (
        "structure 10 / 10 init 12 / 12 forward 14 / 14 backward 12 / 22 no_autograd 8 / 8 training 12 / 18 "
        "checkpoint 4 / 4")


def test_lost_points_are_listed_biggest_first_with_links(tmp_path):
    html = page_of(fx.with_failures(), tmp_path)
    lost = fx.element(html, "div", "lost")
    assert re.findall(r'<a href="#check-([\w.]+)">', lost) == [
        "backward.matches_reference", "training.loss_falls", "training.schedule"]
    assert fx.visible_text(lost).startswith("−10 failed backward's gradients equal the reference gradients")
    assert "skipped" not in fx.visible_text(lost)  # checked at grading time: no points lost
    assert "<h2>Where points were lost</h2>" not in page_of(fx.full_marks(), tmp_path)


def test_failed_checks_are_open_and_passed_ones_collapsed(tmp_path):
    html = page_of(fx.with_failures(), tmp_path)
    opened = re.findall(r'<details class="check (\w+)" id="check-([\w.]+)" open>', html)
    assert opened == [("failed", "backward.matches_reference"), ("partial", "training.schedule"),
                      ("failed", "training.loss_falls")]


def test_curve_without_reference_draws_only_the_student(tmp_path):
    data = results_with(fx.with_failures(), "training.loss_falls", details={"losses": fx.FLAT_LOSSES})
    html = render_student(data, tmp_path / "index.html").read_text()
    chart = html[html.index('id="training-curve"'):html.index("<h2>Checks</h2>")]
    assert chart.count("<polyline") == 1
    assert "No reference curve" in chart


def test_submission_output_and_messages_are_escaped(tmp_path):
    html = page_of(fx.hostile(), tmp_path)
    for raw in ("<script>alert(1)", "<b>bold", "<img src=x", "<svg onload", "<i>return"):
        assert raw not in html
    assert "<script" not in html  # the student page needs no script at all
    assert "&lt;script&gt;alert(1)&lt;/script&gt;&lt;b&gt;bold&lt;/b&gt;" in html
    text = fx.visible_text(html)
    assert f"What your code printed {fx.SCRIPT}" in text
    assert fx.HTML_MESSAGE in text and "Hint: <i>return</i> a tensor" in text
    assert "X <svg onload=alert(3)>" in text


def test_crashed_student_shows_error_output_and_note(tmp_path):
    html = page_of(fx.crashed(), tmp_path)
    text = fx.visible_text(html)
    assert f"Note: {fx.CRASH_NOTE}" in text
    assert f"error mlp.py imports without errors structure.imports 0 / 2 {fx.CRASH_MESSAGE}" in text
    assert "What your code printed Traceback (most recent call last): SystemExit: 1" in text
    assert "No training losses were recorded" in text
    assert "zed-crashed 1 passed 22 failed 1 error 4 / 100 points" in text


def test_nan_and_infinite_losses_are_marked_not_drawn(tmp_path):
    data = results_with(fx.full_marks(), "training.loss_falls",
                        details={"losses": [1.0, math.nan, math.inf, 0.5], "reference_losses": []})
    html = render_student(data, tmp_path / "index.html").read_text()
    chart = html[html.index('id="training-curve"'):html.index("<h2>Checks</h2>")]
    assert chart.count("<polyline") == 0  # no two finite neighbours
    assert chart.count("<circle") == 2
    assert "your train(), epoch 2: NaN" in chart and "your train(), epoch 3: inf" in chart


def test_only_nonfinite_or_empty_losses_say_so(tmp_path):
    nan = results_with(fx.full_marks(), "training.loss_falls", details={"losses": [math.nan]})
    assert "Every recorded loss is NaN or infinite" in render_student(nan, tmp_path / "a.html").read_text()
    empty = results_with(fx.full_marks(), "training.loss_falls", details={"losses": [], "reference_losses": []})
    assert "No training losses were recorded" in render_student(empty, tmp_path / "b.html").read_text()


def test_long_output_is_capped(tmp_path):
    data = results_with(fx.hostile(), "forward.matches_reference", output="x" * (OUTPUT_CAP + 1234))
    html = render_student(data, tmp_path / "index.html").read_text()
    assert "x" * OUTPUT_CAP in html and "x" * (OUTPUT_CAP + 1) not in html
    assert "… 1234 more characters not shown." in html


def test_pages_are_self_contained(tmp_path):
    fx.write_class(tmp_path)
    render_summary(tmp_path)
    for page in [tmp_path / "index.html", *tmp_path.glob("*/index.html")]:
        html = page.read_text()
        assert not re.search(r"<(script|img|link|iframe)\b[^>]*\b(src|href)=", html)
        assert "@import" not in html and "url(" not in html and "https://" not in html


def test_a_results_dict_missing_parts_still_renders(tmp_path):
    bare = {"score": 3, "max_score": 10,
            "tests": [{"name": "x", "score": 3, "max_score": 10, "status": "failed", "output": "bad"}]}
    html = render_student(bare, tmp_path / "index.html").read_text()
    assert "student 1 failed 3 / 10 points other 0 / 0" in fx.visible_text(html)
    assert '<div class="message">bad</div>' in html


# -- the class summary -----------------------------------------------------------------------

@pytest.fixture
def class_dir(tmp_path) -> Path:
    return fx.write_class(tmp_path / "reports")


def test_summary_lists_every_student_with_links_and_scores(class_dir):
    html = render_summary(class_dir).read_text()
    table = fx.element(html, "table", "students")
    assert re.findall(r'<a href="([^"]+)">', table) == ["students/ada/index.html", "students/Grace/index.html",
                                                        "students/mallory/index.html", "students/zed-crashed/index.html"]
    rows = [fx.visible_text(r) for r in re.findall(r"<tr.*?</tr>", table.split("<tbody>")[1], re.S)]
    assert rows == ["ada 100 / 100 10 12 14 22 8 18 16",
                    "Grace 72 / 88 10 12 14 12 8 12 4",
                    "mallory 92 / 100 10 12 6 22 8 18 16",
                    "zed-crashed 4 / 100 0 0 0 0 4 0 0 crashed note"]
    assert "4 students mean 67 median 82 lowest 4 highest 100 out of 100" in fx.visible_text(html)


def test_summary_histogram_counts_scores(class_dir):
    chart = fx.element(render_summary(class_dir).read_text(), "div", "histogram")
    titles = re.findall(r"<title>([^<]*)</title>", chart)
    assert titles[0] == "how many students scored how many of the 100 points"
    empty = [f"0 students with {k}–{k + 10} points" for k in range(10, 70, 10)]
    assert titles[1:] == ["1 student with 0–10 points", *empty, "1 student with 70–80 points",
                          "0 students with 80–90 points", "2 students with 90–100 points"]


def test_summary_pass_rates_put_most_failed_checks_first(class_dir):
    table = fx.element(render_summary(class_dir).read_text(), "table", "pass-rates")
    order = re.findall(r'<tr data-check="([\w.]+)">', table)
    assert order[:6] == ["forward.matches_reference", "backward.matches_reference", "training.schedule",
                         "training.loss_falls", "checkpoint.test_mse", "structure.imports"]
    assert len(order) == 24
    rows = {check: fx.visible_text(row)
            for check, row in re.findall(r'<tr data-check="([\w.]+)">(.*?)</tr>', table, re.S)}
    assert rows["checkpoint.test_mse"].endswith("checkpoint 67% 2 / 3 8 / 12")  # skipped once: ran for 3
    assert rows["structure.imports"].endswith("structure 75% 3 / 4 1 1.5 / 2")  # one crash
    assert rows["no_autograd.source"].endswith("no_autograd 100% 4 / 4 4 / 4")


def test_a_class_of_two_assignments_keeps_their_checks_and_points_apart(tmp_path):
    write_reports(fx.full_marks(), tmp_path)  # mlp-regression
    digits = fx.build("dora", {"forward.rowwise": fx.Outcome(fx.check("forward.rowwise", "mlp-classification"), 0.0,
                                                             "failed", "rows mix")}, assignment="mlp-classification")
    digits.assignment = "mlp-classification"
    write_reports(digits, tmp_path)
    html = render_summary(tmp_path).read_text()
    tables = {name: re.findall(r'<tr data-check="([\w.]+)" data-assignment="([\w-]+)">',
                               fx.element(html, "table", f"pass-rates-{name}"))
              for name in ("mlp-classification", "mlp-regression")}
    for name, rows in tables.items():  # each assignment's checks in a table of their own
        assert len(rows) == len(set(rows)) == 24 and {a for _, a in rows} == {name}
    assert tables["mlp-classification"][0] == ("forward.rowwise", "mlp-classification")  # its one failed check
    assert ("forward.rowwise", "mlp-regression") in tables["mlp-regression"]
    assert ("backward.large_logits", "mlp-classification") in tables["mlp-classification"]
    # init and checkpoint are worth 12 and 16 points in one rubric, 10 and 18 in the other
    assert re.findall(r'title="out of ([^"]+)"', html) == ["10", "varies by assignment", "14", "22", "8", "18",
                                                             "varies by assignment"]
    assert "mlp-classification, mlp-regression · class summary" in fx.visible_text(html)


def test_summary_makes_crashes_and_notes_stand_out(class_dir):
    html = render_summary(class_dir).read_text()
    attention = fx.visible_text(fx.element(html, "div", "attention"))
    assert attention == f"zed-crashed crashed structure.imports : {fx.CRASH_MESSAGE} note {fx.CRASH_NOTE}"
    assert re.findall(r'<tr class="(flag-\w+)">\s*<td data-value="([^"]+)">', html) == [("flag-error", "zed-crashed")]


def test_summary_names_a_timeout_and_escapes_messages(class_dir):
    path = class_dir / "students" / "zed-crashed" / "results.json"
    data = json.loads(path.read_text())
    imports = data["tests"][0]["extra_data"]
    imports["details"]["status"] = "timeout"
    imports["message"] = "<script>alert(1)</script> did not finish"
    path.write_text(json.dumps(data))
    html = render_summary(class_dir).read_text()
    assert "<script>alert(1)" not in html and "&lt;script&gt;alert(1)&lt;/script&gt; did not finish" in html
    assert '<span class="badge error">timed out</span>' in fx.element(html, "table", "students")


def test_summary_reports_unreadable_results_and_goes_on(class_dir):
    (class_dir / "students" / "broken").mkdir()
    (class_dir / "students" / "broken" / "results.json").write_text("{not json")
    (class_dir / "students" / "odd").mkdir()
    (class_dir / "students" / "odd" / "results.json").write_text('{"score": "lots", "max_score": 100, "tests": []}')
    html = render_summary(class_dir).read_text()
    notices = [fx.visible_text(n) for n in re.findall(r'<div class="notice bad unreadable">.*?</div>', html)]
    assert notices == [
        "Could not read broken/results.json : JSONDecodeError: Expecting property name enclosed in double quotes: "
        "line 1 column 2 (char 1). This student is not in the table or in grades.csv.",
        "Could not read odd/results.json : ValueError: 'score' is missing or not a number. "
        "This student is not in the table or in grades.csv."]
    assert "4 students" in fx.visible_text(html)


def test_summary_of_an_empty_folder(tmp_path):
    text = fx.visible_text(render_summary(tmp_path).read_text())
    assert "0 students" in text and "No results.json found." in text


# -- the SVG charts --------------------------------------------------------------------------

def test_line_chart_falls_back_to_linear_for_nonpositive_values():
    chart = svg.line_chart([svg.Series("s", [0.0, -1.0, 2.0], "#000")], title="t")
    assert "log scale" not in chart and chart.count("<circle") == 3


def test_line_chart_escapes_labels_and_gives_none_without_data():
    chart = svg.line_chart([svg.Series("<b>x</b>", [1.0, 2.0], "#000")], title="<t>")
    assert "<b>" not in chart and "&lt;b&gt;x&lt;/b&gt;" in chart and "<title>&lt;t&gt;</title>" in chart
    assert svg.line_chart([svg.Series("s", [], "#000"), svg.Series("r", [math.nan, "x"], "#000")], title="t") is None


def test_log_ticks_are_round_numbers():
    assert svg._log_ticks(math.log10(0.05), math.log10(0.9)) == [0.05, 0.1, 0.2, 0.5]
    assert svg._nice_ticks(0, 7) == [0, 2, 4, 6, 8]


def test_histogram_puts_full_marks_in_the_top_bin_and_ignores_nonfinite():
    chart = svg.histogram([0, 100, 99.5, math.nan, -3], 100, bins=4)
    titles = re.findall(r"<title>([^<]*)</title>", chart)[1:]
    assert titles == ["2 students with 0–25 points", "0 students with 25–50 points",
                      "0 students with 50–75 points", "2 students with 75–100 points"]
