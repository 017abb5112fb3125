"""What every check shares: the registry, the per-submission context, and the Hypothesis
runner that turns a property into a failure with its smallest example."""

from __future__ import annotations

import atexit
import shutil
import tempfile
import time
import traceback
import zlib
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis.configuration import set_hypothesis_home_dir

from grader import oracle, spec, ta_config, validate
from grader.checks import batching
from grader.outcome import Failed, Outcome
from grader.spec import Dims
from grader.submission import Submission
from grader.worker.client import CallResult, Worker

CheckFn = Callable[["Context"], "float | None"]
REGISTRY: dict[str, CheckFn] = {}

# Hypothesis keeps caches (even with no example database) in .hypothesis/ of the folder it
# runs from: the TA's course folder or a student's. A private folder per process instead.
_HYPOTHESIS_HOME = tempfile.mkdtemp(prefix="mlp-grader-hypothesis-")
atexit.register(shutil.rmtree, _HYPOTHESIS_HOME, ignore_errors=True)
set_hypothesis_home_dir(_HYPOTHESIS_HOME)

PROFILE = "mlp-grader"
settings.register_profile(
    PROFILE,
    derandomize=True,
    database=None,
    deadline=None,
    print_blob=False,
    report_multiple_bugs=False,
    suppress_health_check=list(HealthCheck),
    phases=(Phase.explicit, Phase.generate),  # generation only: see for_all
)


def check(*check_ids: str, needs_reference: bool = False):
    """Register a check function under its rubric id(s) (one function may serve the
    differently named checks of several assignments). It returns None (full points), a
    fraction of its points (partial credit), or raises `Failed`."""
    known = spec.all_check_ids()
    for check_id in check_ids:  # fail at import time if no rubric knows it
        if check_id not in known:
            raise KeyError(f"no assignment's rubric has a check {check_id!r}")

    def register(fn: CheckFn) -> CheckFn:
        fn.needs_reference = needs_reference
        for check_id in check_ids:
            REGISTRY[check_id] = fn
        return fn

    return register


@dataclass
class Context:
    """One submission being graded: its worker and what earlier probes found out.

    The submission says which assignment it answers (`Submission.assignment()`); an
    unknown name is a `problem` that fails every check with its reason."""

    submission: Submission
    worker: Worker
    _probes: dict[str, Any] = field(default_factory=dict)
    output: list[str] = field(default_factory=list)
    student_seconds: float = 0.0
    notes: dict[str, Any] = field(default_factory=dict)
    reviews: list[str] = field(default_factory=list)  # the running check's notes for the TA
    timed_out: bool = False  # a call of this submission has hit its timeout
    session: str | None = None  # the running check's id: its calls share one child
    assignment: str = spec.DEFAULT
    problem: str | None = None
    names: dict[str, Any] = field(default_factory=dict)  # the assignment's names, sent with every call
    replay: batching.Replay | None = None  # set while a property's examples run in batches

    def __post_init__(self) -> None:
        self.assignment, self.problem = self.submission.assignment()
        self.problem = self.submission.unusable_file() or self.problem
        # The worker's operations read the student's class, parameter, gradient and
        # function names from every request instead of assuming the default homework's.
        self.names = spec.assignment(self.assignment).contract.wire()

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
        check (an infinite loop in forward would otherwise cost ten checks x 20-60 s).
        While a property's examples run in batches, the answer comes from the batch
        (checks/batching.py)."""
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
        return spec.contract().dims

    def fixed_dims(self) -> Dims | None:
        """None when the constructor honours its dims (checks may vary them); else the
        homework's own dims, so a hard-coded submission is still graded at full size."""
        return None if self.probe("dims_honoured", self._dims_honoured) else self.full_dims

    def _dims_honoured(self) -> bool:
        dims = Dims(3, 5, 2)
        value = self.call("construct", dims=list(_dims(dims)))
        shapes = spec.contract().param_shapes(dims)
        for name, shape in shapes.items():
            described = value["params"].get(name)
            if not isinstance(described, dict) or tuple(np.shape(described.get("array"))) != shape:
                return False
        return True


def _dims(dims: Dims) -> tuple[int, int, int]:
    return (dims.in_dim, dims.hidden_dim, dims.out_dim)


def run_check(check_id: str, ctx: Context) -> Outcome:
    """Run one registered check, with the submission's assignment active, and turn its
    verdict into a scored Outcome."""
    with spec.using(ctx.assignment):
        return _run_check(check_id, ctx)


def _run_check(check_id: str, ctx: Context) -> Outcome:
    check_spec = spec.rubric()[check_id]
    if ctx.problem:
        return Outcome(check_spec, 0.0, "failed", ctx.problem)
    fn = REGISTRY[check_id]
    started = time.perf_counter()
    ctx.output = []
    ctx.student_seconds = 0.0
    ctx.notes = {}
    ctx.reviews = []
    ctx.session = check_id
    if fn.needs_reference and not oracle.available():
        return Outcome(check_spec, 0.0, "skipped", "compared with the reference solution at grading time")
    try:
        fraction = fn(ctx)
        score = check_spec.points if fraction is None else round(check_spec.points * clipped(fraction, 1.0), 2)
        status = "passed" if score >= check_spec.points else "partial"
        outcome = Outcome(check_spec, score, status)
    except Failed as failure:
        earned = round(clipped(failure.earned, check_spec.points), 2)
        status = "error" if failure.crashed else ("partial" if earned > 0 else "failed")
        outcome = Outcome(check_spec, earned, status, failure.message, failure.details, failure.hint)
    except Exception:  # noqa: BLE001 - a grader bug must not lose the student's other checks
        outcome = Outcome(check_spec, 0.0, "error", "internal error in the grader (not your fault; tell the TA)",
                          {"traceback": traceback.format_exc()[-4000:]})
    outcome.details = {**ctx.notes, **outcome.details}
    if ctx.reviews:
        outcome.details["review"] = list(ctx.reviews)
        outcome.message = "; ".join(["for review: " + "; ".join(ctx.reviews), *filter(None, [outcome.message])])
    outcome.output = kept_output(ctx.output)
    outcome.seconds = time.perf_counter() - started
    outcome.student_seconds = ctx.student_seconds
    return outcome


def clipped(value: float, high: float) -> float:
    """`value` within [0, high]; NaN earns nothing rather than a NaN score."""
    value = float(value)
    return min(max(value, 0.0), high) if value == value else 0.0


def kept_output(outputs: list[str]) -> str:
    """A check's output, all calls together, cut at twice one call's cap (a check makes up
    to hundreds of calls: each one's cap alone would not bound results.json)."""
    text = "\n".join(outputs)
    cap = 2 * int(spec.limits()["size"]["max_output_bytes"])
    if len(text) <= cap:
        return text
    return text[:cap] + f"\n[... {len(text) - cap} more characters of this check's output not kept]"


# Examples per check when the constructor ignores its dims and every network is the
# homework's 256 -> 512 -> 1: each holds 130 000 weights, and the bugs left to find there
# are wrong formulas, which any of them shows (a perturbed copy of every weight matrix is
# 1 MB, so 25 of them cost seconds).
FULL_SIZE_EXAMPLES = 5


def for_all(ctx: Context, check_id: str, strategy, body: Callable[[Any], None], max_examples: int = 25) -> None:
    """Check `body` on `max_examples` Hypothesis examples of `strategy`, seeded per check;
    raise the failure of the smallest example that fails.

    The examples run in a few batched worker calls (checks/batching.py). When a batch
    fails as a whole (the child crashed, hung or broke a limit), or once a call of this
    submission has timed out, they run one by one instead, smallest first, up to the
    first failure: the same example either way, for code that behaves the same on every
    call. Hypothesis only generates here; it does not shrink: a failure is already small
    (Hypothesis starts from the smallest networks and batches, and values have two
    decimals), and shrinking cost a second or more per failed check (docs/BATCH.md).
    """
    if ctx.fixed_dims() is not None:
        max_examples = min(max_examples, FULL_SIZE_EXAMPLES)
    examples = _examples(ctx, check_id, strategy, max_examples)
    found = None
    if not ctx.timed_out:
        kept = len(ctx.output)
        try:
            found = batching.first_failure(ctx, examples, body)
        except batching.Unbatched:
            del ctx.output[kept:]  # the calls below run the student's code again
            found = _one_by_one(examples, body)
    else:
        found = _one_by_one(examples, body)
    if found is not None:
        case, failure = found
        failure.details.setdefault("example", _describe(case))
        raise failure


# What a check's strategy may depend on besides the check and the assignment: the results
# of these probes (whether the constructor honours its dims, the dtypes forward runs in).
# The examples are drawn once per grading process for each combination of them.
STRATEGY_PROBES = ("dims_honoured", "dtypes")
_DRAWN: dict[tuple, list] = {}
CACHED_VALUES = 200_000  # examples holding more numbers (full-size networks) are drawn anew


def _examples(ctx: Context, check_id: str, strategy, max_examples: int) -> list:
    probes = tuple((name, repr(ctx._probes.get(name))) for name in STRATEGY_PROBES)
    key = (ctx.assignment, check_id, max_examples, example_salt(), probes)
    if key in _DRAWN:
        return _DRAWN[key]
    examples = smallest_first(draw_examples(check_id, strategy, max_examples))
    if sum(map(_size, examples)) <= CACHED_VALUES:
        _DRAWN[key] = examples
    return examples


def example_salt() -> int | None:
    """The TA configuration's secret `example_seed`, or None where there is none (the
    student kit, whose checks then draw from public seeds)."""
    config = ta_config.load()
    return None if config is None else config.example_seed


def example_seed(check_id: str) -> int:
    """The check's Hypothesis seed: from its id, salted with the TA's secret when there is
    one. Anyone can read the public seeds and record the examples' answers; the salted ones
    are known only at grading time, and the same on every regrade with the same secret."""
    salt = example_salt()
    text = check_id if salt is None else f"{salt}:{check_id}"
    return zlib.crc32(text.encode())


def draw_examples(check_id: str, strategy, max_examples: int) -> list:
    """The examples Hypothesis generates for the check (the same on every run with the same
    TA configuration)."""
    examples: list = []

    @settings(settings.get_profile(PROFILE), max_examples=max_examples)
    @seed(example_seed(check_id))
    @given(strategy)
    def collect(case):
        examples.append(case)

    collect()
    return examples


def smallest_first(examples: list) -> list:
    """By the number of values the example holds (a stable sort: ties keep their order)."""
    return sorted(examples, key=_size)


def _size(value: Any) -> int:
    """How many numbers an example holds, in all its arrays."""
    if hasattr(value, "size") and not callable(value.size):
        return int(value.size)
    if hasattr(value, "__dataclass_fields__"):
        value = vars(value)
    if isinstance(value, dict):
        return sum(_size(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return sum(_size(v) for v in value)
    return 0


def _one_by_one(examples: list, body: Callable[[Any], None]) -> tuple[Any, Failed] | None:
    for example in examples:
        try:
            body(example)
        except Failed as failure:
            return example, failure
    return None


def _describe(value: Any) -> Any:
    """A JSON-friendly picture of a Hypothesis example: small arrays in full, others by shape."""
    if hasattr(value, "describe"):
        return value.describe()
    if isinstance(value, Dims):
        return list(_dims(value))
    if isinstance(value, np.ndarray):
        return value.round(6).tolist() if value.size <= 24 else f"array{value.shape}, |max| {np.abs(value).max():.3g}"
    if isinstance(value, dict):
        return {str(k): _describe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_describe(v) for v in value]
    if isinstance(value, (int, float, str, bool)) or value is None:
        return value
    return repr(value)[:500]


# -- small helpers shared by the checks -----------------------------------------------

def dims_list(dims: Dims) -> list[int]:
    return list(_dims(dims))


def params_of(described: dict, dims: Dims, what: str = "") -> dict[str, np.ndarray]:
    shapes = spec.contract().param_shapes(dims)
    attr = spec.contract().attr
    return {name: validate.tensor(described.get(name), f"{what}{attr(name)}", shape) for name, shape in shapes.items()}


def grads_of(described: dict, dims: Dims) -> dict[str, np.ndarray]:
    shapes = spec.contract().param_shapes(dims)
    grad_names = spec.contract().grad_names
    return {name: validate.tensor(described.get(name), grad_names[name], shape) for name, shape in shapes.items()}


def as_float32(arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {name: np.asarray(a, dtype=np.float32) for name, a in arrays.items()}
