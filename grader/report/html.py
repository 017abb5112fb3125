"""HTML reports rendered with Jinja2 from the package's templates. Autoescaping is on for
every template: all that a submission prints or returns is untrusted, and the pages are
opened by TAs in their browser."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from grader.report.student import student_view

ENV = Environment(loader=PackageLoader("grader.report", "templates"),
                  autoescape=select_autoescape(default=True, default_for_string=True),
                  undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)


def render(template: str, target: Path, **context: Any) -> Path:
    """Render one template into `target`, creating its folder."""
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(ENV.get_template(template).render(**context), encoding="utf-8")
    return target


def render_student(results: dict[str, Any], target: Path) -> Path:
    """reports/students/<name>/index.html from that student's Gradescope-format results."""
    return render("student.html.j2", target, page=student_view(results))
