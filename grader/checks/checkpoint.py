"""checkpoint: the .pth loads safely, holds the four parameters, and scores on the hidden
test set. The file is opened only in the grader, only with torch.load(weights_only=True),
and evaluated with the contract's forward: the student's code is not involved."""

from __future__ import annotations

import pickle
import zipfile

import numpy as np
import torch

from grader import ahead, data, oracle, spec, ta_config
from grader.checks.base import check
from grader.context import Context
from grader.outcome import Failed
from grader.spec import Contract
from grader.submission import CheckpointProblem, Submission


def load_checkpoint(ctx: Context) -> dict[str, np.ndarray]:
    return ctx.probe("checkpoint", lambda: _load_from(ctx.submission, ctx.contract))


def _load_from(submission: Submission, c: Contract) -> dict[str, np.ndarray]:
    try:
        path = submission.checkpoint()
    except CheckpointProblem as exc:
        raise Failed(str(exc)) from None
    cap = int(spec.limits()["size"]["max_checkpoint_bytes"])
    size = path.stat().st_size
    if size > cap:
        raise Failed(f"{path.name} is {size} bytes, more than the {cap} allowed")
    unpacked = unpacked_size(path)
    if unpacked > cap:
        raise Failed(f"{path.name} unpacks to {unpacked} bytes, more than the {cap} allowed "
                     f"(torch.save writes its tensors uncompressed: was it compressed by hand?)")
    if path.suffix == ".npz":
        return _parameters(c, _load_npz(c, path), path.name)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise Failed(f"{path.name} cannot be loaded with torch.load(weights_only=True): it holds more than "
                     f"tensors (a whole pickled model object?). Save torch.save(model.state_dict(), "
                     f"'{c.submission['checkpoint']}') with plain tensors.",
                     details={"loader": str(exc)[:500]}, clues={"checkpoint.pickled": path}) from None
    except Exception as exc:  # noqa: BLE001 - any unreadable file is the student's problem
        raise Failed(f"{path.name} is not a readable torch checkpoint: {type(exc).__name__}: {str(exc)[:300]}") from None
    return _parameters(c, state, path.name)


def _load_npz(c: Contract, path) -> dict[str, np.ndarray]:
    """A numpy assignment's np.savez file, read with np.load(allow_pickle=False): arrays
    only, never a pickled object."""
    try:
        with np.load(path, allow_pickle=False) as archive:
            if not isinstance(archive, np.lib.npyio.NpzFile):
                raise ValueError("a single array (np.save), not an archive of named arrays (np.savez)")
            return {name: archive[name] for name in archive.files}
    except ValueError as exc:
        raise Failed(f"{path.name} cannot be loaded with np.load(allow_pickle=False): {str(exc)[:300]}. Save it with "
                     f"np.savez('{c.submission['checkpoint']}', W1=..., b1=..., ...) with plain arrays"
                     ) from None
    except Exception as exc:  # noqa: BLE001 - any unreadable file is the student's problem
        raise Failed(f"{path.name} is not a readable .npz file: {type(exc).__name__}: {str(exc)[:300]}") from None


def unpacked_size(path) -> int:
    """What torch.load would unpack: the zip archive's declared uncompressed sizes (torch's
    reader allocates those and stops there), or the file's own size for the legacy format.
    An unreadable archive counts as its file size: torch.load then names the problem."""
    try:
        with zipfile.ZipFile(path) as archive:
            return sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, OSError, ValueError):
        return path.stat().st_size


def _parameters(c: Contract, state, filename: str) -> dict[str, np.ndarray]:
    if not isinstance(state, dict):
        raise Failed(f"{filename} holds a {type(state).__name__}, expected the dict from model.state_dict()")
    keys = set(map(str, state))
    expected = set(c.attr_names.values())
    if keys != expected:
        raise Failed(f"{filename} has keys {sorted(keys)}, expected {sorted(expected)}",
                     clues={"checkpoint.keys": (state, filename)})
    params = {}
    for role, shape in c.param_shapes(c.dims).items():
        name = c.attr(role)
        value = state[name]
        if type(value) is np.ndarray:  # from an .npz
            if value.dtype.kind != "f":
                raise Failed(f"{filename}[{name!r}] has dtype {value.dtype}, expected a floating dtype")
            value = torch.from_numpy(np.array(value, dtype=np.float64))
        if type(value) not in (torch.Tensor, torch.nn.Parameter):
            raise Failed(f"{filename}[{name!r}] is a {type(value).__name__}, expected a tensor")
        if tuple(value.shape) != shape:
            raise Failed(f"{filename}[{name!r}] has shape {tuple(value.shape)}, expected {shape}",
                         clues={"checkpoint.shape": (name, tuple(value.shape), shape)})
        if not value.is_floating_point():
            raise Failed(f"{filename}[{name!r}] has dtype {value.dtype}, expected a floating dtype")
        array = value.detach().to(torch.float64).numpy()
        if not np.all(np.isfinite(array)):
            raise Failed(f"{filename}[{name!r}] contains NaN or infinite values (did training diverge?)")
        params[role] = array
    return params


@check("checkpoint.loads")
def loads(ctx: Context) -> None:
    load_checkpoint(ctx)


AHEAD_KEY = "checkpoint.test_mse"


def test_mse_ahead(ctx: Context) -> None:
    """This submission's test-set MSE (and, for the first one, the hidden test set: 0.3-0.5 s
    once per process) made on another thread while the other checks run (TA only): the
    reference forward of 10 000 inputs in float64 took 0.13 s per student, in a class run
    the largest single part of the grading process's own work."""
    config = ta_config.load()
    c = ctx.contract
    if c.checkpoint.get("metric") != "test_mse_ratio" or config is None or not oracle.available():
        return
    ctx.ahead[AHEAD_KEY] = ahead.soon(_test_mse_of, ctx.submission, c, config.test_seed, name="mlp-grader-test-mse")


def _test_mse_of(submission: Submission, c: Contract, seed: int) -> tuple[dict[str, np.ndarray], float]:
    params = _load_from(submission, c)
    X, y = data.test_set(c, seed)
    return params, oracle.mse(c, params, X, y)


def _test_mse(ctx: Context, params: dict[str, np.ndarray], seed: int) -> float:
    """The MSE of `params` on the hidden test set: made ahead if it was, for these very
    parameters (the checkpoint as the check loaded it), else here."""
    made = ctx.ahead.pop(AHEAD_KEY, None)
    if made is not None:
        try:
            made_params, mse = made.result()
        except Exception:  # noqa: BLE001 - the check's own loading says what was wrong
            made_params, mse = None, None
        if made_params is not None and made_params.keys() == params.keys() and all(
                np.array_equal(made_params[name], params[name]) for name in params):
            return mse
    X, y = data.test_set(ctx.contract, seed)
    return oracle.mse(ctx.contract, params, X, y)


@check("checkpoint.test_mse", "checkpoint.test_accuracy", "checkpoint.grid_rmse", needs_reference=True,
       prepare=test_mse_ahead)
def metric(ctx: Context) -> float | None:
    """The spec's checkpoint metric, scored linearly between its full- and zero-credit
    bounds; the parameters are evaluated with the reference forward, in the grader."""
    c = ctx.contract
    metric_name = c.checkpoint["metric"]
    if metric_name == "test_mse_ratio":
        return test_mse(ctx)
    params = load_checkpoint(ctx)
    X, y = data.evaluation_set(c)
    value = oracle.held_out_metric(c, params, X, y)
    full, zero = float(c.checkpoint["full_credit"]), float(c.checkpoint["zero_credit"])
    if metric_name == "test_accuracy":
        what, shown = f"accuracy on the {len(y)} held-out test digits", f"{value:.2%}"
        bounds = f"full credit from {full:.1%}, none at {zero:.1%} or below"
    else:
        what, shown = f"RMSE on a grid of {len(y)} points", f"{value:.4g}"
        bounds = f"full credit up to {full:g}, none from {zero:g}"
    details = {metric_name: value, "full_credit": full, "zero_credit": zero,
               "reference": c.checkpoint.get("reference")}
    ctx.note(**details)
    return _scored(ctx, value, f"the trained parameters' {what}", shown, bounds, details)


def credit(value: float, full: float, zero: float) -> float:
    """The fraction of the points: 1 at `full` or better, 0 at `zero` or worse, linear
    between (either bound may be the larger: accuracy rises, an error falls). A value that
    is not a finite number (NaN, infinity) earns 0."""
    if not np.isfinite(value):
        return 0.0
    fraction = (zero - value) / (zero - full)
    return float(min(max(fraction, 0.0), 1.0))


def _scored(ctx: Context, value: float, what: str, shown: str, bounds_text: str, details: dict) -> None:
    """Full points, or a Failed ("<what> is <shown>: <bounds_text>") with the earned share of the check's
    points, between the spec's bounds. A value that is not finite earns 0 with its own
    message; the comparison is written so that NaN can only fail anyway (`not fraction >= 1`).
    A value better than the spec's `review_beyond` keeps its points and is flagged for the
    TA to review (the outcome's message says why)."""
    bounds = ctx.contract.checkpoint
    full, zero = float(bounds["full_credit"]), float(bounds["zero_credit"])
    if not np.isfinite(value):
        raise Failed(f"{what} is {value}, not a finite number (finite but huge parameters overflow the network's "
                     f"arithmetic): no credit", details=details)
    fraction = credit(value, full, zero)
    if not fraction >= 1.0:
        points = ctx.assignment.rubric[bounds["check"]].points
        raise Failed(f"{what} is {shown}: {bounds_text}", earned=fraction * points, details=details)
    review = bounds.get("review_beyond")
    if review is not None and (value - float(review)) * (full - zero) > 0:
        ctx.review(f"{what} is {shown}, better than the assignment's review_beyond = {float(review):g} that "
                   f"training per the handout plausibly reaches: check that "
                   f"{ctx.contract.submission['checkpoint']} was trained by this "
                   f"code ({bounds.get('review_reason', 'not copied or made some other way')})")


def test_mse(ctx: Context) -> float | None:
    config = ta_config.load()
    if config is None:
        raise Failed("no TA configuration (ta/config.toml): the hidden test set is only available at grading time")
    params = load_checkpoint(ctx)
    mse = _test_mse(ctx, params, config.test_seed)
    bounds = ctx.contract.checkpoint
    ratio = mse / config.reference_test_mse
    full, zero = bounds["full_credit"], bounds["zero_credit"]
    details = {"test_mse": mse, "reference_test_mse": config.reference_test_mse, "ratio": ratio,
               "full_credit_below": full * config.reference_test_mse, "zero_credit_above": zero * config.reference_test_mse}
    ctx.note(**details)
    _scored(ctx, ratio, "the test-set MSE",
            f"{mse:.4g}, {ratio:.2f} x the reference's {config.reference_test_mse:.4g}",
            f"full credit up to {full:g} x, none from {zero:g} x", details)
    return None
