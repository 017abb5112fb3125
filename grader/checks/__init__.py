"""The checks, one module per rubric category. Importing this package registers them all."""

from grader.checks import (  # noqa: F401
    backward, checkpoint, forward, init, iterations, no_autograd, schedule, structure, training,
)
from grader.checks.base import REGISTRY, prepare_checks, run_check

__all__ = ["REGISTRY", "prepare_checks", "run_check"]
