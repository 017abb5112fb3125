"""The check context: one submission being graded, the assignment it answers, its worker,
and what earlier probes found out.

Checks and diagnoses both read it; it knows neither (grader/checks/ and grader/diagnosis/
import this module, never the other way round).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Protocol

import numpy as np

from grader import spec, validate
from grader.outcome import Failed
from grader.spec import Assignment, Contract, Dims
from grader.submission import Submission
from grader.worker.client import CallResult, Worker


class Answers(Protocol):
    """Where a call's answer comes from while a property's examples run in batches
    (checks/batching.py's Replay)."""

    def answer(self, op: str, timeout: float | None, args: dict) -> CallResult: ...


@dataclass
class Context:
    """One submission being graded: its worker and what earlier probes found out.

    The submission says which assignment it answers (`Submission.assignment()`): that
    `Assignment` is `assignment`, which every check and diagnosis reads its contract and
    rubric from. A problem with it (an unknown name, say) is `problem`, which fails every
    check with its reason."""

    submission: Submission
    worker: Worker
    _probes: dict[str, Any] = field(default_factory=dict)
    output: list[str] = field(default_factory=list)
    student_seconds: float = 0.0
    notes: dict[str, Any] = field(default_factory=dict)
    reviews: list[str] = field(default_factory=list)  # the running check's notes for the TA
    timed_out: bool = False  # a call of this submission has hit its timeout
    session: str | None = None  # the running check's id: its calls share one child
    assignment: Assignment = field(init=False)
    problem: str | None = field(init=False)
    names: dict[str, Any] = field(init=False)  # the assignment's names, sent with every call
    replay: Answers | None = None  # set while a property's examples run in batches
    ahead: dict[str, Any] = field(default_factory=dict)  # work the checks started early (their `prepare`)

    def __post_init__(self) -> None:
        self.assignment, self.problem = self.submission.assignment()
        self.problem = self.submission.unusable_file() or self.problem
        # The worker's operations read the student's class, parameter, gradient and
        # function names from every request instead of assuming the default homework's.
        self.names = self.contract.wire()

    @property
    def contract(self) -> Contract:
        return self.assignment.contract

    def note(self, **details: Any) -> None:
        """Details for the report, kept whether the check passes or fails."""
        self.notes.update(details)

    def review(self, reason: str) -> None:
        """Flag the running check's result for the TA to review, without changing its
        score: the outcome's message starts with "for review:" and the reason."""
        self.reviews.append(reason)

    def call(self, op: str, timeout: float | None = None, **args):
        """Run an operation in the worker; a crash, exit or hang becomes a failure.

        Once a call of the submission has timed out, later calls get at most
        limits.toml's time.after_timeout: a hang costs its full timeout once, not once per
        check (an infinite loop in forward would otherwise cost every forward check its
        call timeout). While a property's examples run in batches, the answer comes from
        the batch (checks/batching.py)."""
        if self.replay is not None:
            result = self.replay.answer(op, timeout, args)
        else:
            if self.timed_out:
                limits = spec.limits()["time"]
                timeout = min(timeout or limits["call"], limits["after_timeout"])
            result = self.send(op, timeout, args)
            self.timed_out = self.timed_out or result.status == "timeout"
        if not result.ok:
            # A limit hit (memory, processes, file size) counts as a crash, like an exit: the
            # code did not finish, which is another thing than computing a wrong value.
            crashed = result.status != "error" or result.error.get("type") == "SystemExit" or bool(result.hint)
            raise Failed(result.problem(), crashed=crashed, details={"stage": result.stage, "status": result.status})
        return result.value

    def send(self, op: str, timeout: float | None, args: dict) -> CallResult:
        """One request to the worker, in the running check's child; its time in student
        code and its output are the check's. An argument `model` replaces the assignment's
        names for this call (a check that builds the model with other constructor_kwargs)."""
        args = dict(args)
        model = args.pop("model", self.names)
        result = self.worker.call(op, timeout=timeout, session=self.session, model=model, **args)
        self.student_seconds += result.student_seconds
        if result.output or result.output_dropped:
            text = result.output
            if result.output_dropped:
                text += f"\n[... {result.output_dropped} more bytes of output not kept]"
            self.output.append(text)
        return result

    def probe(self, name: str, compute: Callable[[], Any]) -> Any:
        if name not in self._probes:
            try:
                self._probes[name] = ("ok", compute())
            except Failed as exc:
                self._probes[name] = ("failed", exc)
        status, value = self._probes[name]
        if status == "failed":
            raise value
        return value

    @property
    def full_dims(self) -> Dims:
        return self.contract.dims

    def fixed_dims(self) -> Dims | None:
        """None when the constructor honours its dims (checks may vary them); else the
        assignment's own dims, so a hard-coded submission is still graded at full size."""
        return None if self.probe("dims_honoured", self._dims_honoured) else self.full_dims

    def initial(self, dims: Dims, seed: int) -> dict[str, np.ndarray]:
        """The parameters of a fresh model under torch.manual_seed(seed) (asked once)."""
        def construct():
            value = self.call("construct", dims=dims_list(dims), seed=seed)
            return validate.params_of(self.contract, value["params"], dims)
        return self.probe(f"init{dims_list(dims)}:{seed}", construct)

    def _dims_honoured(self) -> bool:
        dims = Dims(3, 5, 2)
        value = self.call("construct", dims=dims_list(dims))
        for name, shape in self.contract.param_shapes(dims).items():
            described = value["params"].get(name)
            if not isinstance(described, dict) or tuple(np.shape(described.get("array"))) != shape:
                return False
        return True


def dims_list(dims: Dims) -> list[int]:
    return [dims.in_dim, dims.hidden_dim, dims.out_dim]
