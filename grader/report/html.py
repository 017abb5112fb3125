"""HTML reports rendered with Jinja2 from the package's templates (autoescaped: all that a
submission prints or returns is untrusted)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape

ENV = Environment(loader=PackageLoader("grader.report", "templates"),
                  autoescape=select_autoescape(default=True, default_for_string=True))


def render_student(results: dict[str, Any], target: Path) -> Path:
    target.write_text(ENV.get_template("student.html.j2").render(r=results), encoding="utf-8")
    return target
