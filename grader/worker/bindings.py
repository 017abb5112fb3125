"""The worker's operations for a spec with a [binding] table: a course's own API instead of
the torch homework's (grader/spec.py, `Contract.binding`). The checks ask the same
questions either way; this module answers them from the student's code as the spec says it
is shaped:

- framework "torch" or "numpy": what the student's code gets (tensors or ndarrays) and what
  seeds a model's init (torch.manual_seed, or np.random.seed too);
- params "attributes" or the name of a dict attribute (CS231n's `self.params['W1']`);
- gradients "backward" (backward(pred, y) sets the spec's gradient attributes), "loss"
  (`loss(X)` returns the scores, `loss(X, y, reg)` returns (loss, grads) with grads['W1'])
  or "upstream" (NYU's: the loss function returns (loss, dloss/dpred), in the order
  loss_args says, and `backward(dloss/dpred)` sets the gradients); grads "attributes" or the
  name of a dict attribute (`self.grads['dJdW1']`); constructor_args the constructor's
  positional arguments (`[in_dim, hidden_dim, "relu", hidden_dim, out_dim, "identity"]`);
- labels "int" (class labels (N,)) or "one_hot" (rows of an identity, float), for
  cross-entropy assignments: the checks speak int labels, the student's code gets its own;
- train "epochs" (the homework's train function) or "iterations" (CS231n's
  `model.train(X, y, X_val, y_val, learning_rate=..., num_iters=..., batch_size=...)`,
  random mini-batches, returning a dict of histories).

A request without a binding never comes here (ops.operation): the torch homework's
operations are unchanged. Every value goes back through ops.describe, as plain arrays.
"""

from __future__ import annotations

import numpy as np
import torch

from grader.worker import guard, ops
from grader.worker.ops import ContractError, describe

OPERATIONS: dict = {}


def operation(fn):
    OPERATIONS[fn.__name__] = fn
    return fn


def binding() -> dict:
    return ops.MODEL.get("binding") or {}


def numpy_framework() -> bool:
    return binding().get("framework") == "numpy"


def given(array) -> "np.ndarray | torch.Tensor":
    """A fresh copy of a grader array, as the student's code takes it."""
    copy = np.array(array, copy=True)
    return copy if numpy_framework() else torch.from_numpy(copy)


def labels(y, classes: int):
    """The targets as the student's code takes them: int labels as they are, or one-hot
    rows (float) for [binding] labels = "one_hot"."""
    y = np.asarray(y)
    if binding().get("labels") == "one_hot" and y.dtype.kind in "iu":
        y = np.eye(classes, dtype=np.float64 if numpy_framework() else np.float32)[y.reshape(-1)]
    return given(y)


def as_labels(described: dict) -> dict:
    """A recorded one-hot target, described as the int labels the grader's checks compare."""
    array = described.get("array")
    if binding().get("labels") == "one_hot" and isinstance(array, np.ndarray) and array.ndim == 2:
        return {**described, "array": np.argmax(array, axis=1).astype(np.int64), "dtype": "int64"}
    return described


def seed(value: int) -> None:
    """A model's init under the framework's global seed (numpy code draws from np.random)."""
    ops.seed_torch(value)
    if numpy_framework():
        np.random.seed(value)


def construct_model(module, dims, seed_value: int = 0):
    """The model built after the framework's seed (numpy's np.random.seed as well)."""
    cls = getattr(module, ops.MODEL["class_name"], None)
    if cls is None:
        raise ContractError(f"{code_name()} has no class {ops.MODEL['class_name']}")
    seed(seed_value)
    kwargs = ops.MODEL["constructor_kwargs"]
    args = list(dims)
    if binding().get("constructor_args"):  # e.g. (in_dim, hidden_dim, "relu", hidden_dim, out_dim, "identity")
        named = dict(zip(("in_dim", "hidden_dim", "out_dim"), dims))
        args = [named.get(a, a) if isinstance(a, str) else a for a in binding()["constructor_args"]]
    shown = ", ".join([*map(repr, args), *(f"{k}={v!r}" for k, v in kwargs.items())])
    return ops.CHILD.call(f"{ops.MODEL['class_name']}({shown})", cls, *args, **kwargs)


def code_name() -> str:
    return ops.MODEL.get("code", "mlp.py")


# ---------------------------------------------------------------- parameters

def _container(model, create: bool = False):
    name = binding().get("params", "attributes")
    if name == "attributes":
        return None
    box = getattr(model, name, None)
    if box is None and create:
        box = {}
        setattr(model, name, box)
    if not isinstance(box, dict):
        raise ContractError(f"self.{name} is a {type(box).__name__}, not the dict of parameters the handout names")
    return box


def get_param(model, attr: str):
    box = _container(model) if binding().get("params", "attributes") != "attributes" else None
    return getattr(model, attr, None) if box is None else box.get(attr)


def set_param(model, attr: str, value) -> None:
    box = _container(model, create=True)
    if box is None:
        setattr(model, attr, value)
    else:
        box[attr] = value


def set_params(model, params: dict) -> None:
    attrs = ops.param_attrs()
    for role, array in params.items():
        set_param(model, attrs.get(role, role), given(array))


def get_params(model) -> dict:
    try:
        return {role: describe(get_param(model, attr)) for role, attr in ops.param_attrs().items()}
    except ContractError:
        return {role: describe(None) for role in ops.param_attrs()}


def get_grads_attributes(model) -> dict:
    """The gradients backward() left: attributes, or entries of the dict attribute [binding] grads."""
    box_name = binding().get("grads", "attributes")
    if box_name == "attributes":
        return {role: describe(getattr(model, attr, None)) for role, attr in ops.MODEL["grads"].items()}
    box = getattr(model, box_name, None)
    if not isinstance(box, dict):
        raise ContractError(f"after backward(), self.{box_name} is a {type(box).__name__}, not the dict of gradients")
    return {role: describe(box.get(key)) for role, key in ops.MODEL["grads"].items()}


def student_loss(module, pred, y):
    """The student's loss function on (pred, y), in the order it takes them."""
    name = ops.MODEL["loss_function"]
    fn = ops.student_function(module, name)
    args = (y, pred) if binding().get("loss_args") == "target_pred" else (pred, y)
    return ops.CHILD.call(f"{name}()", fn, *args)


def loss_and_upstream(module, pred, y):
    out = student_loss(module, pred, y)
    if not (isinstance(out, tuple) and len(out) == 2):
        raise ContractError(f"{ops.MODEL['loss_function']}() returned {type(out).__name__}, not the pair "
                            f"(loss, gradient of the loss with respect to the prediction)")
    return out


# ---------------------------------------------------------------- forward and gradients

def forward_of(model, X, stage: str = "forward()"):
    """The scores: model.forward(X), or loss(X) (y=None) for gradients = "loss"."""
    if binding().get("gradients") == "loss":
        name = binding()["loss_method"]
        return ops.CHILD.call(stage.replace("forward()", f"{name}(X)"), getattr(model, name), X)
    return ops.CHILD.call(stage, model.forward, X)


def loss_and_grads(model, X, y, reg: float | None = None):
    name = binding()["loss_method"]
    reg = float(binding().get("reg", 0.0)) if reg is None else reg
    out = ops.CHILD.call(f"{name}(X, y, reg={reg:g})", getattr(model, name), X, y, reg=reg)
    if not (isinstance(out, tuple) and len(out) == 2 and isinstance(out[1], dict)):
        raise ContractError(f"{name}(X, y, reg) returned {type(out).__name__}, not the pair (loss, grads) with grads "
                            f"a dict of the parameters' gradients")
    return out


def _array_type_ok(value) -> bool:
    return isinstance(value, np.ndarray) if numpy_framework() else isinstance(value, torch.Tensor)


def _array_text() -> str:
    return "a numpy array" if numpy_framework() else "a torch.Tensor"


@operation
def construct(module, dims, seed: int = 0) -> dict:
    return {"params": get_params(construct_model(module, dims, seed))}


@operation
def forward(module, dims, params, inputs) -> dict:
    model = construct_model(module, dims)
    set_params(model, params)
    xs = [given(x) for x in inputs]
    outputs = [describe(forward_of(model, x)) for x in xs]
    return {"outputs": outputs, "inputs_after": [describe(x) for x in xs]}


@operation
def forward_perturbed(module, dims, params, X, perturbations) -> dict:
    model = construct_model(module, dims)
    outputs = []
    attrs = ops.param_attrs()
    for p in perturbations:
        set_params(model, params)
        name = p["param"]
        value = np.asarray(params[name]) + p["step"] * np.asarray(p["direction"])
        set_param(model, attrs.get(name, name), given(value.astype(np.asarray(params[name]).dtype)))
        outputs.append(describe(forward_of(model, given(X))))
    return {"outputs": outputs}


@operation
def backward(module, dims, params, X, y, earlier_inputs=(), grad_enabled=True, pred_shift=None) -> dict:
    """As ops.backward. For gradients = "loss", a shift of the logits (large logits) is made
    through b2 (the same for every row: the one shift a network's parameters can make), and
    the gradients are what loss(X, y, reg) returns. `loss` is the loss value the student's
    gradient route computed with them (loss(X, y, reg)'s, or the upstream route's loss
    function's); the backward(pred, y) route computes none."""
    model = construct_model(module, dims)
    set_params(model, params)
    watch = guard.Watch()
    via_loss = binding().get("gradients") == "loss"
    loss_value = None
    with torch.set_grad_enabled(grad_enabled):
        for x in earlier_inputs:
            forward_of(model, given(x), "forward() of an earlier batch")
        with watch.part("forward"):
            pred = forward_of(model, given(X))
        if not _array_type_ok(pred):
            raise ContractError(f"the scores are a {type(pred).__name__}, not {_array_text()}")
        if via_loss:
            shifted = pred
            if pred_shift is not None and "b2" in params:
                b2 = ops.param_attrs().get("b2", "b2")
                set_param(model, b2, given(np.asarray(params["b2"]) + np.max(pred_shift)))
                shifted = forward_of(model, given(X))
            with watch.part("backward"):
                loss_value, grads = loss_and_grads(model, given(X), labels(y, dims[2]))
            described = {role: describe(grads.get(key)) for role, key in ops.MODEL["grads"].items()}
        else:
            shifted = pred if pred_shift is None else pred + given(pred_shift)
            uncount = watch.count_forward_calls(model)
            try:
                with watch.part("backward"):
                    if binding().get("gradients") == "upstream":
                        loss_value, upstream = loss_and_upstream(module, shifted, labels(y, dims[2]))
                        ops.CHILD.call("backward(upstream gradient)", model.backward, upstream)
                    else:
                        ops.CHILD.call("backward()", model.backward, shifted, labels(y, dims[2]))
            finally:
                uncount()
            described = get_grads_attributes(model)
    return {"pred": describe(pred), "backward_pred": describe(shifted), "grads": described,
            "loss": describe(loss_value), "autograd": watch.report()}


@operation
def loss(module, pred, y) -> dict:
    """The loss of given outputs. With gradients = "loss" and no loss function of its own,
    through the student's loss(X, y, reg=0) on an identity network: ReLU(z) - ReLU(-z) = z,
    so with X = the logits, W1 = [I, -I] and W2 = [I; -I] (biases 0) the scores are the
    logits exactly."""
    name = ops.MODEL["loss_function"]
    if binding().get("gradients") == "upstream":
        value, _ = loss_and_upstream(module, given(pred), labels(y, np.shape(pred)[1]))
        return {"loss": describe(value)}
    if name in ops.MODEL["functions"] or binding().get("gradients") != "loss":
        return {"loss": describe(student_loss(module, given(pred), labels(y, np.shape(pred)[1])))}
    pred = np.asarray(pred)
    k = pred.shape[1]
    eye = np.eye(k, dtype=pred.dtype)
    W1, W2 = np.concatenate([eye, -eye], axis=1), np.concatenate([eye, -eye], axis=0)
    if binding().get("layout") == "out_in":
        W1, W2 = W1.T.copy(), W2.T.copy()
    params = {"W1": W1, "W2": W2}
    if binding().get("bias", True):
        params.update(b1=np.zeros(2 * k, dtype=pred.dtype), b2=np.zeros(k, dtype=pred.dtype))
    model = construct_model(module, [k, 2 * k, k])
    set_params(model, params)
    value, _ = loss_and_grads(model, given(pred), labels(y, k), reg=0.0)
    return {"loss": describe(value)}


@operation
def step(module, dims, params, grads, lr: float) -> dict:
    model = construct_model(module, dims)
    set_params(model, params)
    for role, array in grads.items():
        setattr(model, ops.MODEL["grads"][role], given(array))
    watch = guard.Watch()
    with watch.part("step"):
        ops.CHILD.call("step()", model.step, lr)
    return {"params": get_params(model), "autograd": watch.report()}


@operation
def train(module, dims, params, X, y, kwargs: dict, seed: int = 0) -> dict:
    fn = ops.student_function(module, "train")
    model = construct_model(module, dims)
    set_params(model, params)
    globals()["seed"](seed)
    losses = ops.CHILD.call("train()", fn, model, given(X), labels(y, dims[2]), **kwargs)
    return {"losses": ops.epoch_losses(losses), "params": get_params(model)}


@operation
def train_recorded(module, dims, params, X, y, kwargs: dict, seed: int = 0) -> dict:
    """As ops.train_recorded: train() on a model that notes its forward, backward and step
    calls (the student's own methods still do the work)."""
    fn = ops.student_function(module, "train")
    model, events = ops.recording(construct_model(module, dims))
    set_params(model, params)
    globals()["seed"](seed)
    losses = ops.CHILD.call("train()", fn, model, given(X), labels(y, dims[2]), **kwargs)
    for event in events:
        if "y" in event:
            event["y"] = as_labels(event["y"])
    return {"losses": ops.epoch_losses(losses), "events": events}


HISTORIES = ("loss_history", "train_acc_history", "val_acc_history")


@operation
def train_iterations(module, dims, params, X, y, X_val, y_val, kwargs: dict, seed: int = 0) -> dict:
    """model.train(X, y, X_val, y_val, **kwargs) (the spec's train_method) from the given
    parameters, under the framework's seed; its histories (as float arrays) and the
    parameters after it."""
    name = binding().get("train_method", "train")
    model = construct_model(module, dims)
    set_params(model, params)
    globals()["seed"](seed)
    out = ops.CHILD.call(f"{name}()", getattr(model, name), given(X), labels(y, dims[2]), given(X_val),
                         labels(y_val, dims[2]), **kwargs)
    if not isinstance(out, dict):
        raise ContractError(f"{name}() returned {type(out).__name__}, not the dict of histories "
                            f"({', '.join(HISTORIES)})")
    histories = {}
    for key in HISTORIES:
        if key in out:
            try:
                histories[key] = describe(np.asarray([float(v) for v in out[key]], dtype=np.float64))
            except (TypeError, ValueError):
                histories[key] = describe(out[key])
    return {"keys": [str(k) for k in out], "histories": histories, "params": get_params(model)}


ops.operation(train_iterations)  # an operation of its own: the torch homework has no such train()
