"""The grader's single sources of truth, read from the TOML files beside this module.

``contract.toml`` is the student-facing contract, ``rubric.toml`` the points per check,
``tolerances.toml`` every numerical tolerance and ``limits.toml`` the worker's limits.
Everything else (checks, reports, the handout's tables) reads them through here.
"""

from __future__ import annotations

import functools
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent
CATEGORIES = ("structure", "init", "forward", "backward", "no_autograd", "training", "checkpoint")


def _load(name: str) -> dict[str, Any]:
    with open(HERE / name, "rb") as fh:
        return tomllib.load(fh)


@dataclass(frozen=True)
class Dims:
    in_dim: int
    hidden_dim: int
    out_dim: int

    def shape_of(self, spec: list[str]) -> tuple[int, ...]:
        return tuple(getattr(self, axis) for axis in spec)


@dataclass(frozen=True)
class Contract:
    raw: dict[str, Any]

    @property
    def class_name(self) -> str:
        return self.raw["model"]["class_name"]

    @property
    def dims(self) -> Dims:
        m = self.raw["model"]
        return Dims(m["in_dim"], m["hidden_dim"], m["out_dim"])

    @property
    def param_names(self) -> tuple[str, ...]:
        return tuple(self.raw["model"]["params"])

    @property
    def grad_names(self) -> dict[str, str]:
        return dict(self.raw["model"]["grads"])

    def param_shapes(self, dims: Dims) -> dict[str, tuple[int, ...]]:
        return {name: dims.shape_of(axes) for name, axes in self.raw["model"]["params"].items()}

    @property
    def methods(self) -> tuple[str, ...]:
        return tuple(self.raw["model"]["methods"])

    @property
    def functions(self) -> tuple[str, ...]:
        return tuple(self.raw["model"]["functions"])

    @property
    def training(self) -> dict[str, Any]:
        return dict(self.raw["training"])

    @property
    def data(self) -> dict[str, Any]:
        return dict(self.raw["data"])

    @property
    def submission(self) -> dict[str, Any]:
        return dict(self.raw["submission"])


@dataclass(frozen=True)
class CheckSpec:
    id: str
    category: str
    points: float
    visibility: str
    title: str
    parts: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Rubric:
    checks: tuple[CheckSpec, ...]

    def __getitem__(self, check_id: str) -> CheckSpec:
        for check in self.checks:
            if check.id == check_id:
                return check
        raise KeyError(f"no check {check_id!r} in rubric.toml")

    @property
    def total(self) -> float:
        return sum(c.points for c in self.checks)

    def category_points(self) -> dict[str, float]:
        return {cat: sum(c.points for c in self.checks if c.category == cat) for cat in CATEGORIES}


def _rubric_from(raw: dict[str, Any]) -> Rubric:
    checks = []
    for entry in raw["check"]:
        check = CheckSpec(**entry)
        if check.category not in CATEGORIES:
            raise ValueError(f"rubric.toml: check {check.id} has unknown category {check.category!r}")
        if check.parts and abs(sum(check.parts.values()) - check.points) > 1e-9:
            raise ValueError(f"rubric.toml: the parts of {check.id} do not add up to its points")
        checks.append(check)
    return Rubric(tuple(checks))


@functools.cache
def contract() -> Contract:
    return Contract(_load("contract.toml"))


@functools.cache
def rubric() -> Rubric:
    return _rubric_from(_load("rubric.toml"))


@functools.cache
def tolerances() -> dict[str, dict[str, float]]:
    return _load("tolerances.toml")


@functools.cache
def limits() -> dict[str, dict[str, float]]:
    return _load("limits.toml")
