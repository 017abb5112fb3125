"""The TA configuration: the grading secrets (the hidden test-set seed, the teacher
network's seed, the seed of the checks' examples) and the calibrated reference score.

It lives outside the package (``ta/config.toml`` at the repository root, or the file named
by ``MLP_GRADER_TA_CONFIG``) so that the student kit never contains it.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path

DEFAULT_PATH = Path(__file__).parents[1] / "ta" / "config.toml"


@dataclass(frozen=True)
class TAConfig:
    test_seed: int
    reference_test_mse: float
    path: Path
    teacher_seed: int | None = None  # mlp-regression's teacher network (its data)
    example_seed: int | None = None  # salts the seeds of the checks' Hypothesis examples


def path() -> Path:
    return Path(os.environ.get("MLP_GRADER_TA_CONFIG", DEFAULT_PATH))


def load() -> TAConfig | None:
    """The TA configuration, or None where there is none (a student's machine)."""
    config_path = path()
    if not config_path.is_file():
        return None
    with open(config_path, "rb") as fh:
        raw = tomllib.load(fh)
    try:
        return TAConfig(int(raw["test_seed"]), float(raw["reference_test_mse"]), config_path,
                        _optional_int(raw, "teacher_seed"), _optional_int(raw, "example_seed"))
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"{config_path}: needs test_seed (int) and reference_test_mse (float): {exc}") from None


def _optional_int(raw: dict, key: str) -> int | None:
    return None if raw.get(key) is None else int(raw[key])
