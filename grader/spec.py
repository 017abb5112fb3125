"""The grader's single sources of truth, read from the TOML files beside this module.

``assignments/<name>.toml`` is one assignment (an "assignment spec"): the student-facing
contract (dims, activation, loss, biases, weight layout, names, init, training, data), the
checkpoint's thresholds and the rubric. ``tolerances.toml`` (every numerical tolerance)
and ``limits.toml`` (the worker's limits) are shared by all assignments.

`assignment(name)` is one assignment as a value (its `Contract` and `Rubric`): nothing here
is "active"; every caller is handed the assignment it works on (the check context holds
the submission's) and passes it on. `DEFAULT` is only the name a submission answers when
neither the class's course file nor its own assignment.toml names one.
Everything else (checks, reports, the handout's tables) reads the TOML files through here.
"""

from __future__ import annotations

import functools
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent
ASSIGNMENTS = HERE / "assignments"
DEFAULT = "mlp-regression"
ACTIVATIONS = ("relu", "tanh")
LOSSES = ("mse", "cross_entropy")
LAYOUTS = ("out_in", "in_out")
INIT_SCHEMES = ("xavier_uniform", "xavier_normal", "he_normal", "normal")
METRICS = ("test_mse_ratio", "test_accuracy", "grid_rmse")
TOP_LEVEL_WORK = ("accept", "penalise")  # [submission] top_level_work: what converting a submission costs
PENALISED_CHECK = "structure.imports"  # the check a "penalise" spec zeroes
# [binding]: how the student's code is reached (grader/worker/bindings.py does the reaching).
FRAMEWORKS = ("torch", "numpy")
# backward(pred, y) sets attributes | loss(X, y, reg) returns (loss, grads) | backward(upstream)
# with the upstream gradient from the student's loss function, which returns (loss, dloss/dpred)
GRADIENT_SOURCES = ("backward", "loss", "upstream")
LOSS_ARGS = ("pred_target", "target_pred")  # the order of the student's loss function's arguments
REG_CONVENTIONS = {"sum_squares": 2.0, "half_sum_squares": 1.0}  # reg * sum(W**2) (grad 2 reg W) | 0.5 * reg * ...
TRAIN_STYLES = ("epochs", "iterations")
LABELS = ("int", "one_hot")  # class labels (N,) ints, or one-hot rows (N, out_dim)  # train(model, X, y, epochs=...) -> losses | model.train(X, y, X_val, y_val, ..., num_iters) -> histories
# Checks that a binding cannot run, and those that replace them (never silently skipped).
EPOCH_TRAINING_CHECKS = ("training.step", "training.schedule", "training.trajectory", "training.loss_falls")
ITERATION_TRAINING_CHECKS = ("training.iterations", "training.history")


class UnknownAssignment(ValueError):
    """No assignment spec of that name."""
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


@dataclass(frozen=True, eq=False)  # one object per assignment (`assignment` is cached): hashed by identity
class Contract:
    raw: dict[str, Any]

    @property
    def name(self) -> str:
        return self.raw["assignment"]["name"]

    @property
    def title(self) -> str:
        return self.raw["assignment"]["title"]

    @property
    def handout(self) -> str:
        """The handout's path, relative to the repository root."""
        return self.raw["assignment"]["handout"]

    @property
    def activation(self) -> str:
        return self.raw["model"]["activation"]

    @property
    def loss(self) -> str:
        return self.raw["model"]["loss"]

    @property
    def classification(self) -> bool:
        """Targets are int64 class labels of shape (N,), not float arrays (N, out_dim)."""
        return self.loss == "cross_entropy"

    @property
    def loss_function(self) -> str:
        return self.raw["model"]["loss_function"]

    @property
    def loss_text(self) -> str:
        return {"mse": "mean squared error", "cross_entropy": "mean cross-entropy"}[self.loss]

    @property
    def bias(self) -> bool:
        return bool(self.raw["model"]["bias"])

    @property
    def layout(self) -> str:
        return self.raw["model"]["layout"]

    @property
    def small_out_dim(self) -> int:
        """out_dim of the checks' small fixed networks: 3 classes for classification (a
        softmax over one class is constant), else 1."""
        return 3 if self.classification else 1

    @property
    def weight_decay(self) -> float:
        """The coefficient of the gradient term weight_decay * W (objective + weight_decay / 2
        * |W|^2). A spec with [binding] reg_convention states the course's own `reg` in
        [training] instead: reg * sum(W**2) is weight_decay = 2 * reg; 0.5 * reg * ... is reg."""
        convention = self.binding.get("reg_convention")
        if convention:
            return REG_CONVENTIONS[convention] * self.reg
        return float(self.raw["training"].get("weight_decay", 0.0))

    @property
    def reg(self) -> float:
        """The `reg` a [binding] gradients = "loss" spec passes to loss(X, y, reg)."""
        return float(self.raw["training"].get("reg", 0.0))

    @property
    def binding(self) -> dict[str, Any]:
        """[binding], with its defaults: the torch homework's shapes."""
        return {"framework": "torch", "params": "attributes", "gradients": "backward", "train": "epochs", "labels": "int",
                **self.raw.get("binding", {})}

    @property
    def framework(self) -> str:
        return self.binding["framework"]

    @property
    def code_file(self) -> str:
        return self.raw["submission"]["code"]

    @property
    def constructor_kwargs(self) -> dict[str, Any]:
        return dict(self.raw["model"].get("constructor_kwargs", {}))

    @property
    def init(self) -> dict[str, Any]:
        return dict(self.raw["init"])

    @property
    def weights(self) -> tuple[str, ...]:
        """The weight matrices (2-D parameters); the others are biases."""
        return tuple(n for n, axes in self.raw["model"]["params"].items() if len(axes) == 2)

    @property
    def biases(self) -> tuple[str, ...]:
        return tuple(n for n, axes in self.raw["model"]["params"].items() if len(axes) == 1)

    @property
    def checkpoint(self) -> dict[str, Any]:
        return dict(self.raw["checkpoint"])

    @property
    def reference_config(self) -> dict[str, Any]:
        """What the reference needs to compute this assignment's maths."""
        return {"activation": self.activation, "loss": self.loss, "bias": self.bias, "layout": self.layout,
                "weight_decay": self.weight_decay, "init": self.init}

    @property
    def attr_names(self) -> dict[str, str]:
        """Parameter role (W1, b1, W2, b2: what the grader and the reference call it) -> the
        student's attribute and state_dict key: the role itself unless [model] names renames it."""
        names = self.raw["model"].get("names", {})
        return {role: names.get(role, role) for role in self.param_names}

    def attr(self, role: str) -> str:
        return self.attr_names[role]

    def wire(self) -> dict[str, Any]:
        """The names the worker needs to call the student's code (sent with every request)."""
        wire = {"class_name": self.class_name, "params": self.attr_names, "grads": dict(self.raw["model"]["grads"]),
                "methods": list(self.methods), "functions": list(self.functions),
                "loss_function": self.loss_function, "constructor_kwargs": self.constructor_kwargs}
        if self.code_file != "mlp.py":
            wire["code"] = self.code_file
        if "binding" in self.raw:  # only then: the torch homework's requests stay as they were
            wire["binding"] = {**self.binding, "reg": self.reg, "bias": self.bias, "layout": self.layout}
        return wire

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
        """Gradient role -> how the student's gradient is named in messages: the attribute
        backward() sets, or grads['W1'] of what loss(X, y, reg) returns."""
        grads = dict(self.raw["model"]["grads"])
        if self.binding["gradients"] == "loss":
            return {role: f"grads[{key!r}]" for role, key in grads.items()}
        if self.binding.get("grads", "attributes") != "attributes":  # a dict attribute of gradients
            return {role: f"self.{self.binding['grads']}[{key!r}]" for role, key in grads.items()}
        return grads

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

    @property
    def top_level_work(self) -> str:
        """What it costs that intake graded only the definitions of a notebook or of a script
        doing work at import: "accept" (nothing) or "penalise" (PENALISED_CHECK scores 0)."""
        return self.raw["submission"]["top_level_work"]


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
        raise KeyError(f"no check {check_id!r} in this assignment's rubric")

    @property
    def total(self) -> float:
        return sum(c.points for c in self.checks)

    def category_points(self) -> dict[str, float]:
        return {cat: sum(c.points for c in self.checks if c.category == cat) for cat in CATEGORIES}


def _rubric_from(raw: dict[str, Any], where: str = "rubric") -> Rubric:
    checks = []
    for entry in raw["check"]:
        check = CheckSpec(**entry)
        if check.category not in CATEGORIES:
            raise ValueError(f"{where}: check {check.id} has unknown category {check.category!r}")
        if check.parts and abs(sum(check.parts.values()) - check.points) > 1e-9:
            raise ValueError(f"{where}: the parts of {check.id} do not add up to its points")
        checks.append(check)
    return Rubric(tuple(checks))


@dataclass(frozen=True)
class Assignment:
    contract: Contract
    rubric: Rubric

    @property
    def name(self) -> str:
        return self.contract.name


def names() -> list[str]:
    """Every assignment the grader knows: the specs in grader/assignments/."""
    return sorted(p.stem for p in ASSIGNMENTS.glob("*.toml"))


@functools.cache
def assignment(name: str) -> Assignment:
    path = ASSIGNMENTS / f"{name}.toml"
    if not name or "/" in name or not path.is_file():
        raise UnknownAssignment(f"unknown assignment {name!r}; the grader knows {', '.join(names())}")
    with open(path, "rb") as fh:
        raw = tomllib.load(fh)
    where = f"grader/assignments/{path.name}"
    _validate(raw, name, where)
    return Assignment(Contract(raw), _rubric_from(raw, where))


def _validate(raw: dict[str, Any], name: str, where: str) -> None:
    m = raw["model"]
    problems = []
    if raw["assignment"]["name"] != name:
        problems.append(f"[assignment] name is {raw['assignment']['name']!r}, the file says {name!r}")
    for key, allowed in (("activation", ACTIVATIONS), ("loss", LOSSES), ("layout", LAYOUTS)):
        if m.get(key) not in allowed:
            problems.append(f"model.{key} must be one of {allowed}, not {m.get(key)!r}")
    if raw["init"].get("scheme") not in INIT_SCHEMES:
        problems.append(f"init.scheme must be one of {INIT_SCHEMES}")
    if raw["init"].get("scheme") == "normal" and "std" not in raw["init"]:
        problems.append("init.scheme = 'normal' needs init.std")
    work = raw["submission"].get("top_level_work")
    if work not in TOP_LEVEL_WORK:
        problems.append(f"submission.top_level_work must be one of {TOP_LEVEL_WORK}, not {work!r}")
    elif work == "penalise" and PENALISED_CHECK not in {c.get("id") for c in raw.get("check", [])}:
        problems.append(f"submission.top_level_work = 'penalise' needs the check {PENALISED_CHECK} in the rubric")
    if raw["checkpoint"].get("metric") not in METRICS:
        problems.append(f"checkpoint.metric must be one of {METRICS}")
    expected = {"W1": ["hidden_dim", "in_dim"], "W2": ["out_dim", "hidden_dim"]}
    if m.get("layout") == "in_out":
        expected = {"W1": ["in_dim", "hidden_dim"], "W2": ["hidden_dim", "out_dim"]}
    if m.get("bias"):
        expected.update(b1=["hidden_dim"], b2=["out_dim"])
    if {k: list(v) for k, v in m["params"].items()} != expected:
        problems.append(f"model.params must be {expected} for layout {m.get('layout')!r} and bias {m.get('bias')}")
    if set(m["grads"]) != set(m["params"]):
        problems.append("model.grads must name one gradient attribute per parameter")
    names = m.get("names", {})
    if not set(names) <= set(m["params"]) or not all(isinstance(v, str) and v.isidentifier() for v in names.values()):
        problems.append("model.names must map parameter roles of model.params to identifiers")
    elif len({names.get(r, r) for r in m["params"]}) != len(m["params"]):
        problems.append("model.names gives two parameters the same name")
    decay = raw["training"].get("weight_decay", 0.0)
    if m.get("constructor_kwargs", {}).get("weight_decay", decay) != decay:
        # the student's model is built with one, the reference's maths uses the other
        problems.append("model.constructor_kwargs.weight_decay must equal training.weight_decay")
    problems += _binding_problems(raw)
    if problems:
        raise ValueError(f"{where}: " + "; ".join(problems))


def _binding_problems(raw: dict[str, Any]) -> list[str]:
    """What makes no sense in [binding] (and in what it implies for the rest of the spec)."""
    m, b, t = raw["model"], raw.get("binding", {}), raw["training"]
    problems = []
    known = {"framework", "params", "gradients", "loss_method", "reg_convention", "train", "train_method", "labels",
             "grads", "loss_args", "constructor_args"}
    if set(b) - known:
        problems.append(f"binding has unknown keys {sorted(set(b) - known)} (known: {sorted(known)})")
    framework, gradients = b.get("framework", "torch"), b.get("gradients", "backward")
    train, container = b.get("train", "epochs"), b.get("params", "attributes")
    methods, checks = set(m.get("methods", [])), {c.get("id") for c in raw.get("check", [])}
    if framework not in FRAMEWORKS:
        problems.append(f"binding.framework must be one of {FRAMEWORKS}, not {framework!r}")
    if not (isinstance(container, str) and container.isidentifier()):
        problems.append("binding.params must be \"attributes\" or the name of the model's dict attribute (e.g. \"params\")")
    if gradients not in GRADIENT_SOURCES:
        problems.append(f"binding.gradients must be one of {GRADIENT_SOURCES}, not {gradients!r}")
    elif gradients == "loss":
        method = b.get("loss_method")
        if not method or method not in methods:
            problems.append("binding.gradients = 'loss' needs binding.loss_method, one of model.methods "
                            "(the method loss(X, y=None, reg=0.0) that returns the scores, or (loss, grads))")
        if m.get("activation") != "relu":
            problems.append("binding.gradients = 'loss' needs activation = 'relu' (the grader reads the loss of given "
                            "logits through an identity ReLU network)")
        if "weight_decay" in m.get("constructor_kwargs", {}):
            problems.append("binding.gradients = 'loss' takes the regularisation as loss(X, y, reg): state it as "
                            "training.reg with binding.reg_convention, not as a constructor keyword")
    elif "backward" not in methods:
        problems.append(f"binding.gradients = {gradients!r} needs 'backward' in model.methods")
    if gradients == "upstream":
        if m.get("loss_function") not in m.get("functions", []):
            problems.append("binding.gradients = 'upstream' needs model.loss_function, one of model.functions "
                            "(it returns (loss, dloss/dpred), and backward() gets the second)")
    if gradients in GRADIENT_SOURCES and gradients != "backward" and "training.schedule" in checks:
        # its recording model notes the forward(X), backward(pred, y) and step(lr) calls of train()
        problems.append(f"training.schedule records backward(pred, y) calls: with binding.gradients = {gradients!r} "
                        f"use training.trajectory (the reference trajectory across a decay boundary) instead")
    if b.get("loss_args", "pred_target") not in LOSS_ARGS:
        problems.append(f"binding.loss_args must be one of {LOSS_ARGS}, not {b.get('loss_args')!r}")
    grads_box = b.get("grads", "attributes")
    if not (isinstance(grads_box, str) and grads_box.isidentifier()):
        problems.append("binding.grads must be \"attributes\" or the name of the model's dict attribute of gradients")
    args = b.get("constructor_args")
    if args is not None and not (isinstance(args, list) and all(isinstance(a, (str, int, float, bool)) for a in args)
                                 and {"in_dim", "hidden_dim", "out_dim"} <= set(a for a in args if isinstance(a, str))):
        problems.append("binding.constructor_args must list the constructor's positional arguments, naming "
                        "in_dim, hidden_dim and out_dim where the dims go (other values are passed as they are)")
    if b.get("labels", "int") not in LABELS:
        problems.append(f"binding.labels must be one of {LABELS}, not {b.get('labels')!r}")
    elif b.get("labels") == "one_hot" and m.get("loss") != "cross_entropy":
        problems.append("binding.labels = 'one_hot' needs loss = 'cross_entropy' (class labels)")
    convention = b.get("reg_convention")
    if convention is not None and convention not in REG_CONVENTIONS:
        problems.append(f"binding.reg_convention must be one of {tuple(REG_CONVENTIONS)}, not {convention!r}")
    if convention is not None and "weight_decay" in t:
        problems.append("binding.reg_convention states the decay as training.reg: drop training.weight_decay")
    if "reg" in t and convention is None:
        problems.append("training.reg needs binding.reg_convention (reg * sum(W**2) or 0.5 * reg * sum(W**2)?)")
    if train not in TRAIN_STYLES:
        problems.append(f"binding.train must be one of {TRAIN_STYLES}, not {train!r}")
    elif train == "iterations":
        if b.get("train_method", "train") not in methods:
            problems.append("binding.train = 'iterations' needs binding.train_method (default 'train') in model.methods")
        for key in ("num_iters", "batch_size", "learning_rate", "learning_rate_decay"):
            if key not in t:
                problems.append(f"binding.train = 'iterations' needs training.{key}")
        wrong = sorted(checks & set(EPOCH_TRAINING_CHECKS))
        if wrong:
            problems.append(f"{', '.join(wrong)} cannot run on iteration training with random mini-batches: "
                            f"use {', '.join(ITERATION_TRAINING_CHECKS)}")
    elif checks & set(ITERATION_TRAINING_CHECKS):
        problems.append(f"{', '.join(sorted(checks & set(ITERATION_TRAINING_CHECKS)))} need binding.train = 'iterations'")
    for check, needed in (("training.step", "step"), ("structure.state_dict", "state_dict")):
        if check in checks and needed not in methods:
            problems.append(f"the rubric's {check} needs the method {needed}() in model.methods")
    checkpoint = raw["submission"].get("checkpoint", "")
    suffix = {"torch": (".pth", ".pt"), "numpy": (".npz",)}.get(framework, ())
    if suffix and not checkpoint.endswith(suffix):
        problems.append(f"a {framework} submission hands in a {' or '.join(suffix)} checkpoint, not {checkpoint!r}")
    code = raw["submission"].get("code", "")
    if not (isinstance(code, str) and code.endswith(".py") and "/" not in code and code[:-3].isidentifier()):
        problems.append(f"submission.code must name a module file beside the others (like mlp.py), not {code!r}")
    if framework == "numpy" and m.get("dtype") not in ("float32", "float64"):
        problems.append("a numpy assignment's model.dtype must be float32 or float64")
    return problems


@functools.cache
def root_name() -> str:
    """The folder submissions sit in (`[submission] root_name`), needed before a submission
    says which assignment it answers: every assignment must name the same one."""
    found = {assignment(name).contract.submission["root_name"] for name in names()}
    if len(found) != 1:
        raise ValueError(f"the assignments name different submission folders {sorted(found)}: they must share one")
    return found.pop()


def all_check_ids() -> set[str]:
    """The check ids of every assignment's rubric."""
    return {c.id for name in names() for c in assignment(name).rubric.checks}


@functools.cache
def tolerances() -> dict[str, dict[str, float]]:
    return _load("tolerances.toml")


@functools.cache
def limits() -> dict[str, dict[str, float]]:
    return _load("limits.toml")
