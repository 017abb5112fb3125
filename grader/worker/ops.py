"""What a check can ask the worker to do with the student's code. Runs in the forked child
(one per check: `serve` handles each of its calls).

Every operation builds its model afresh from plain arrays, calls the student's code, and
returns plain values: ``describe()`` turns whatever the student returned into a small dict
(its type name, dtype, whether it requires grad, and its numbers as an ndarray). Judging
all of that is the grader's job, in the grading process; nothing here compares anything.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import time
import traceback
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from grader.worker import guard, protocol
from grader.worker.board import StageBoard
from grader.worker.protocol import Request, Response, Status

OPERATIONS: dict[str, Callable[..., dict]] = {}

# The names of the student's class, parameters, gradients and functions come from the
# assignment spec: the grader sends them as the `model` of every request
# (spec.Contract.wire()); nothing here knows any assignment's names.
MODEL: dict[str, Any] = {}  # the running call's names


class ContractError(Exception):
    """The student's code broke the contract in a way that stops the operation."""


class _Child:
    """The running child's link to its host: stage notes (on the board) and the result
    (one frame per call on the result pipe)."""

    def __init__(self, fd: int, board: StageBoard, submission: Path):
        self.fd = fd
        self.board = board
        self.submission = submission
        self.student_seconds = 0.0

    def send(self, message: dict) -> None:
        data = protocol.encode(message)
        view = memoryview(data)
        while view:
            written = os.write(self.fd, view)
            view = view[written:]

    def stage(self, text: str) -> None:
        self.board.write(text)

    def call(self, stage: str, fn: Callable, *args, **kwargs):
        """Call into student code, noting the stage first so a crash can be placed."""
        self.stage(stage)
        started = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            self.student_seconds += time.perf_counter() - started


CHILD: _Child | None = None


def operation(fn: Callable[..., dict]) -> Callable[..., dict]:
    OPERATIONS[fn.__name__] = fn
    return fn


def serve(request: Request, submission: Path, result_fd: int, board: StageBoard) -> None:
    global CHILD
    CHILD = _Child(result_fd, board, submission)
    started = time.perf_counter()
    result = _run(request.op, request.args, request.model, submission)
    result.student_seconds = CHILD.student_seconds
    result.child_seconds = time.perf_counter() - started
    _flush_output()  # the host reads the call's output up to its result frame
    try:
        CHILD.send(result.to_child_frame())
    except (TypeError, ValueError) as exc:
        CHILD.send(contract_error(f"the values returned could not be sent: {exc}").to_child_frame())


def contract_error(message: str) -> Response:
    return Response(Status.ERROR, error={"type": "ContractError", "message": message, "traceback": ""})


def _run(name: str, args: dict, model: dict, submission: Path) -> Response:
    """One operation, as the status and value (or error) of a call, with the student's
    names of `model`. Every call starts from torch seed 0; the module's globals and other
    generators (numpy's, random's) carry over between the calls of a check, as they would
    in the student's own program."""
    global MODEL
    MODEL = model
    try:
        if name not in OPERATIONS:
            raise ContractError(f"unknown operation {name!r}")
        seed_torch(0)
        module = _student_module(submission, model.get("code", "mlp.py"))
        CHILD.stage(name)
        if model.get("binding") and name in bindings.OPERATIONS:  # a course's own API (bindings.py)
            return Response(Status.OK, value=bindings.OPERATIONS[name](module, **args))
        return Response(Status.OK, value=OPERATIONS[name](module, **args))
    except ContractError as exc:
        return contract_error(str(exc))
    except BaseException as exc:  # noqa: BLE001 - SystemExit and KeyboardInterrupt too
        return Response(Status.ERROR, error=_describe_exception(exc, submission))


def seed_torch(seed: int) -> None:
    """torch.manual_seed for the CPU, which is all a worker has: the full call also seeds
    every other device type, and took 2 ms in each fresh child."""
    torch.default_generator.manual_seed(seed)


_STUDENT: dict[Path, Any] = {}


def _student_module(submission: Path, code: str = "mlp.py"):
    """mlp.py (the spec's [submission] code), imported by this child's first call and kept
    for its later calls (a child serves one check's calls). A failed import is not kept:
    every call reports it."""
    if submission not in _STUDENT:
        _STUDENT[submission] = CHILD.call(f"import {code}", _import_student, submission, code)
    return _STUDENT[submission]


def _flush_output() -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except BaseException:  # noqa: BLE001 - student code may have replaced or closed them
            pass


def _import_student(submission: Path, code: str = "mlp.py"):
    path = submission / code
    if not path.exists():
        raise ContractError(f"{code} is missing from the submission folder")
    sys.path.insert(0, str(submission))  # its helper modules beside it import as they would at home
    sys.argv = [str(path)]  # as if run as a module: a script reading sys.argv sees no arguments
    name = Path(code).stem
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def _describe_exception(exc: BaseException, submission: Path) -> dict:
    if isinstance(exc, SystemExit):
        return {"type": "SystemExit", "message": f"the code called sys.exit({exc.code!r})", "traceback": ""}
    frames = traceback.extract_tb(exc.__traceback__)
    student = [f for f in frames if not f.filename.startswith("<") and Path(f.filename).resolve().is_relative_to(submission)]
    text = "".join(traceback.format_list(student)) + "".join(traceback.format_exception_only(type(exc), exc))
    return {"type": type(exc).__name__, "message": _within(str(exc), submission)[:2000],
            "traceback": _within(text, submission)[-4000:]}


def _within(text: str, submission: Path) -> str:
    """Paths in the submission's copy as the student knows them ("mlp.py", not the copy's
    folder, whose name is random: the same submission must get the same message)."""
    for folder in {str(submission), str(submission.resolve())}:
        text = text.replace(folder + os.sep, "")
    return text


# ---------------------------------------------------------------- converting values

def describe(value: Any) -> dict:
    """A plain description of a value the student returned (never the object itself)."""
    kind = type(value)
    info: dict[str, Any] = {"type": f"{kind.__module__}.{kind.__qualname__}"}
    if isinstance(value, torch.Tensor):
        # A subclass's __torch_function__ must not choose what we read out of it.
        with torch._C.DisableTorchFunctionSubclass():
            info["requires_grad"] = bool(torch.Tensor.requires_grad.__get__(value))
            tensor = torch.Tensor.detach(value)
            info["dtype"] = str(tensor.dtype).replace("torch.", "")
            info["array"] = _numeric(_to_numpy(tensor))
    elif isinstance(value, np.ndarray):
        info["dtype"] = value.dtype.name
        info["array"] = _numeric(value)
    elif isinstance(value, (bool, int, float, np.floating, np.integer)):
        info["dtype"] = "python"
        info["array"] = np.array(float(value))
    return info


def _numeric(array) -> np.ndarray | None:
    """A copy with a plain numeric dtype, or None (the grader then says it is unreadable)."""
    if not isinstance(array, np.ndarray) or array.dtype.name not in protocol.ALLOWED_DTYPES:
        return None
    return np.array(array, copy=True)


def _to_numpy(tensor: torch.Tensor) -> np.ndarray:
    tensor = torch.Tensor.cpu(tensor)
    if tensor.dtype in (torch.bfloat16, torch.complex64, torch.complex128):
        tensor = tensor.real.to(torch.float64) if tensor.is_complex() else tensor.to(torch.float32)
    return np.array(torch.Tensor.numpy(tensor), copy=True)


def tensors(arrays: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
    return {name: torch.from_numpy(np.array(a, copy=True)) for name, a in arrays.items()}


def new_model(module, dims: list[int], seed: int = 0):
    class_name = MODEL["class_name"]
    cls = getattr(module, class_name, None)
    if cls is None:
        raise ContractError(f"{MODEL.get('code', 'mlp.py')} has no class {class_name}")
    seed_torch(seed)
    kwargs = MODEL["constructor_kwargs"]
    shown = ", ".join([*map(str, dims), *(f"{k}={v!r}" for k, v in kwargs.items())])
    return CHILD.call(f"{class_name}({shown})", cls, *dims, **kwargs)


def param_attrs() -> dict[str, str]:
    """Parameter role -> the student's attribute name (the grader speaks in roles)."""
    params = MODEL["params"]
    return dict(params) if isinstance(params, dict) else {name: name for name in params}


def set_params(model, params: dict[str, np.ndarray]) -> None:
    attrs = param_attrs()
    for name, tensor in tensors(params).items():
        setattr(model, attrs.get(name, name), tensor)


def get_params(model) -> dict[str, dict]:
    return {role: describe(getattr(model, attr, None)) for role, attr in param_attrs().items()}


def get_grads(model) -> dict[str, dict]:
    return {name: describe(getattr(model, attr, None)) for name, attr in MODEL["grads"].items()}


def student_function(module, name: str):
    fn = getattr(module, name, None)
    if not callable(fn):
        raise ContractError(f"{MODEL.get('code', 'mlp.py')} has no function {name}()")
    return fn


# ---------------------------------------------------------------- operations

@operation
def api(module) -> dict:
    cls = getattr(module, MODEL["class_name"], None)
    return {
        "class": isinstance(cls, type),
        "methods": {m: callable(getattr(cls, m, None)) for m in ("__init__", *MODEL["methods"])},
        "functions": {f: callable(getattr(module, f, None)) for f in MODEL["functions"]},
    }


@operation
def construct(module, dims: list[int], seed: int = 0) -> dict:
    model = new_model(module, dims, seed)
    return {"params": get_params(model)}


@operation
def forward(module, dims, params, inputs: list[np.ndarray]) -> dict:
    """Forward each input in turn on one model; also return the inputs as left afterwards."""
    model = new_model(module, dims)
    set_params(model, params)
    xs = [torch.from_numpy(np.array(x, copy=True)) for x in inputs]
    outputs = [describe(CHILD.call("forward()", model.forward, x)) for x in xs]
    return {"outputs": outputs, "inputs_after": [describe(x) for x in xs]}


@operation
def forward_perturbed(module, dims, params, X, perturbations: list[dict]) -> dict:
    """Forward X with P + h * direction for each perturbation (finite differences)."""
    model = new_model(module, dims)
    base = tensors(params)
    outputs = []
    for p in perturbations:
        set_params(model, params)
        name = p["param"]
        setattr(model, param_attrs().get(name, name),
                base[name] + p["step"] * torch.from_numpy(np.array(p["direction"], copy=True)))
        x = torch.from_numpy(np.array(X, copy=True))  # each forward gets its own X
        outputs.append(describe(CHILD.call("forward()", model.forward, x)))
    return {"outputs": outputs}


@operation
def backward(module, dims, params, X, y, earlier_inputs=(), grad_enabled=True, pred_shift=None) -> dict:
    """forward each earlier input, then forward X and backward(pred, y); return the grads,
    and what forward(X) and backward did with autograd (guard.py). With `pred_shift`,
    backward gets pred + pred_shift instead (large logits)."""
    model = new_model(module, dims)
    set_params(model, params)
    watch = guard.Watch()
    with torch.set_grad_enabled(grad_enabled):
        for x in earlier_inputs:
            CHILD.call("forward() of an earlier batch", model.forward, torch.from_numpy(np.array(x, copy=True)))
        with watch.part("forward"):
            pred = CHILD.call("forward()", model.forward, torch.from_numpy(np.array(X, copy=True)))
        if not isinstance(pred, torch.Tensor):
            raise ContractError(f"forward() returned {type(pred).__name__}, not a torch.Tensor")
        given = pred if pred_shift is None else pred + torch.from_numpy(np.array(pred_shift, copy=True))
        uncount = watch.count_forward_calls(model)
        try:
            with watch.part("backward"):
                CHILD.call("backward()", model.backward, given, torch.from_numpy(np.array(y, copy=True)))
        finally:
            uncount()
    return {"pred": describe(pred), "backward_pred": describe(given), "grads": get_grads(model),
            "autograd": watch.report()}


@operation
def step(module, dims, params, grads, lr: float) -> dict:
    model = new_model(module, dims)
    set_params(model, params)
    for name, tensor in tensors(grads).items():
        setattr(model, MODEL["grads"][name], tensor)
    watch = guard.Watch()
    with watch.part("step"):
        CHILD.call("step()", model.step, lr)
    return {"params": get_params(model), "autograd": watch.report()}


@operation
def loss(module, pred, y) -> dict:
    """The student's loss function (the spec's `loss_function`) on given outputs and targets."""
    name = MODEL["loss_function"]
    fn = student_function(module, name)
    return {"loss": describe(CHILD.call(f"{name}()", fn, torch.from_numpy(pred), torch.from_numpy(y)))}


@operation
def train(module, dims, params, X, y, kwargs: dict, seed: int = 0) -> dict:
    fn = student_function(module, "train")
    model = new_model(module, dims)
    set_params(model, params)
    seed_torch(seed)
    losses = CHILD.call("train()", fn, model, torch.from_numpy(X), torch.from_numpy(y), **kwargs)
    values = epoch_losses(losses)
    return {"losses": values, "params": get_params(model)}


def epoch_losses(losses) -> list[dict]:
    try:
        return [describe(v) for v in losses]
    except TypeError:
        raise ContractError(f"train() returned {type(losses).__name__}, not a list of per-epoch losses") from None


@operation
def state_dict_roundtrip(module, dims, seed_a: int, seed_b: int) -> dict:
    source = new_model(module, dims, seed_a)
    state = CHILD.call("state_dict()", source.state_dict)
    if not isinstance(state, dict):
        raise ContractError(f"state_dict() returned {type(state).__name__}, not a dict")
    keys = [str(k) for k in state]
    copied = {str(k): describe(v) for k, v in state.items()}
    target = new_model(module, dims, seed_b)
    CHILD.call("load_state_dict()", target.load_state_dict, state)
    return {"keys": keys, "state": copied, "source": get_params(source), "loaded": get_params(target)}


def recording(model):
    """The same model, as an instance of a subclass that notes every forward, backward and
    step call train() makes (the student's own methods still do the work)."""
    cls = type(model)
    events: list[dict] = []

    # Noted before the call, and the student's methods get their own copies: a forward that
    # changes its X in place must not change what train() feeds to the next batch or epoch.
    def forward(self, X):
        seen = describe(X)
        out = cls.forward(self, _copy(X))
        events.append({"call": "forward", "X": seen, "out": describe(out)})
        return out

    def backward(self, pred, y):
        events.append({"call": "backward", "pred": describe(pred), "y": describe(y)})
        return cls.backward(self, pred, _copy(y))

    def step(self, lr):
        events.append({"call": "step", "lr": describe(lr)})
        return cls.step(self, lr)

    recorded_cls = type(cls.__name__, (cls,), {"forward": forward, "backward": backward, "step": step})
    recorded = object.__new__(recorded_cls)
    recorded.__dict__.update(model.__dict__)
    return recorded, events


def _copy(value):
    if isinstance(value, np.ndarray):  # a numpy assignment's
        return value.copy()
    return torch.Tensor.clone(value) if isinstance(value, torch.Tensor) else value


@operation
def train_recorded(module, dims, params, X, y, kwargs: dict, seed: int = 0) -> dict:
    """train() on a model that records its calls: what the loop did, batch by batch."""
    fn = student_function(module, "train")
    model, events = recording(new_model(module, dims))
    set_params(model, params)
    seed_torch(seed)
    losses = CHILD.call("train()", fn, model, torch.from_numpy(X), torch.from_numpy(y), **kwargs)
    values = epoch_losses(losses)
    return {"losses": values, "events": events}


@operation
def batch(module, calls: list[dict]) -> dict:
    """Several calls in one request (a check's examples in one round trip), run in order,
    each as `_run` runs a call: from torch seed 0, and an error ends that call only; an
    error's result says where it happened. (The time in student code is the batch's,
    counted once.)"""
    model, results = MODEL, []
    for item in calls:
        name, args = item.get("op"), dict(item.get("args", {}))
        if name == "batch":
            result = contract_error("a batch within a batch")
        else:  # an item's own `model` replaces the batch's (as a call's replaces the check's)
            item_model = args.pop("model", model)
            result = _run(name, args, item_model, CHILD.submission)
        if result.status != Status.OK:
            result.stage = CHILD.board.read()
        results.append(result.to_wire())
    return {"results": results}


from grader.worker import bindings  # noqa: E402  (it builds on the helpers above)
