"""What every check shares: the registry, the runner that scores a check, and the
Hypothesis runner that turns a property into a failure with its smallest example. The
per-submission context is grader/context.py's."""

from __future__ import annotations

import atexit
import contextlib
import shutil
import tempfile
import time
import traceback
import zlib
from typing import Any, Callable, Iterator

import numpy as np
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis.configuration import set_hypothesis_home_dir

from grader import diagnoses, oracle, spec, ta_config
from grader.checks import batching
from grader.context import Context, dims_list
from grader.outcome import Failed, Outcome
from grader.spec import Dims

CheckFn = Callable[["Context"], "float | None"]
REGISTRY: dict[str, CheckFn] = {}

# Hypothesis keeps caches (even with no example database) in .hypothesis/ of the folder it
# runs from: the TA's course folder or a student's. A private folder per process instead.
_HYPOTHESIS_HOME = tempfile.mkdtemp(prefix="mlp-grader-hypothesis-")
atexit.register(shutil.rmtree, _HYPOTHESIS_HOME, ignore_errors=True)
set_hypothesis_home_dir(_HYPOTHESIS_HOME)



def _examples_from_the_seed_alone() -> None:
    """Hypothesis mixes into what it draws the constants it finds in every "local" module
    loaded (outside site-packages): grader's own and reference/ in an editable install,
    none from a wheel, more once grader.report is loaded for the first student's report.
    A check's examples would then depend on how grader was installed and on what the
    process had imported: they must depend on the check, its seed and Hypothesis only."""
    from hypothesis.internal.conjecture import providers

    if hasattr(providers, "_get_local_constants"):  # Hypothesis before 6.131 collects none
        empty = providers.Constants()
        providers._get_local_constants = lambda: empty


_examples_from_the_seed_alone()

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


def check(*check_ids: str, needs_reference: bool = False, prepare: Callable[[Context], None] | None = None):
    """Register a check function under its rubric id(s) (one function may serve the
    differently named checks of several assignments). It returns None (full points), a
    fraction of its points (partial credit), or raises `Failed`. `prepare(ctx)`, if given,
    starts on another thread what the check will need, when the submission's first check
    begins (see `prepare_checks`); the check itself must give the same result without it."""
    known = spec.all_check_ids()
    for check_id in check_ids:  # fail at import time if no rubric knows it
        if check_id not in known:
            raise KeyError(f"no assignment's rubric has a check {check_id!r}")

    def register(fn: CheckFn) -> CheckFn:
        fn.needs_reference = needs_reference
        fn.prepare = prepare
        for check_id in check_ids:
            REGISTRY[check_id] = fn
        return fn

    return register


def prepare_checks(ctx: Context, check_ids: list[str]) -> None:
    """Let the checks that will run (`check_ids`) start what they need while the first
    ones run: the grading process mostly waits for the worker then, and a core is idle."""
    if ctx.problem:
        return
    for check_id in check_ids:
        prepare = getattr(REGISTRY.get(check_id), "prepare", None)
        if prepare is not None:
            prepare(ctx)


def run_check(check_id: str, ctx: Context) -> Outcome:
    """Run one registered check on the context's submission and turn its verdict into an
    Outcome scored by the submission's assignment's rubric; a failure gets the diagnoses
    registered for the check (grader/diagnoses.py)."""
    check_spec = ctx.assignment.rubric[check_id]
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
        diagnoses.attach(ctx, check_id, failure)
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


@contextlib.contextmanager
def clue(name: str, value: Any = None) -> Iterator[None]:
    """Give a failure raised in the block the clue `name` (and what its diagnosis needs):
    where a registered diagnosis may explain it (grader/diagnoses.py)."""
    try:
        yield
    except Failed as failure:
        failure.clues.setdefault(name, value)
        raise


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


# Examples per check when the constructor ignores its dims and every network has the
# assignment's full size (mlp-regression's 256 -> 512 -> 1 holds 130 000 weights): the
# bugs left to find there are wrong formulas, which any of them shows (a perturbed copy of
# every weight matrix is then 1 MB, so 25 of them cost seconds).
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
    key = (ctx.assignment.name, check_id, max_examples, example_salt(), probes)
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
        return dims_list(value)
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

def as_float32(arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {name: np.asarray(a, dtype=np.float32) for name, a in arrays.items()}
