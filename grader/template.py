"""The student's empty code file in the kit, written from an assignment's contract: its
framework, class and parameter names (attributes or a params dict), where its gradients go,
its methods and functions as the worker calls them, its dims and training defaults."""

from __future__ import annotations

from grader.spec import Contract

# The arguments of the methods and functions the checks call (grader/worker/ops.py, bindings.py).
METHOD_ARGS = {"forward": "X", "backward": "{out}, y", "step": "lr", "state_dict": "", "load_state_dict": "state",
               "save": "path", "load": "path", "predict": "X"}
TRAIN_ARGS = ("epochs", "batch_size", "lr", "decay_every", "decay_factor")
# model.train(X, y, X_val, y_val, ...) of [binding] train = "iterations" (grader/checks/iterations.py)
ITERATION_ARGS = ("learning_rate", "learning_rate_decay", "reg", "num_iters", "batch_size")

MAIN = '''

if __name__ == "__main__":
    # python submissions/<your-name>/{code} [{count_arg}], from the kit's folder: trains on the
    # kit's {data} and writes {checkpoint} next to this file, where the checks look.
    import sys
    from pathlib import Path

    here = Path(__file__).resolve().parent
    data = {load}(here.parents[1] / "{data}")
    {seed}
    model = {model}
    {count} = int(sys.argv[1]) if len(sys.argv) > 1 else {default}
    {fit}
    {save}
    print(f"trained {{{count}}} {count_text}; wrote {{here / '{checkpoint}'}}")
'''


def _value(value) -> str:
    return f"{value:g}" if isinstance(value, float) else repr(value)


def _numpy(contract: Contract) -> bool:
    return contract.framework == "numpy"


def _iterations(contract: Contract) -> bool:
    return contract.binding["train"] == "iterations"


def _param(contract: Contract, role: str, owner: str = "self") -> str:
    """Where a parameter lives: owner.W1, or owner.params['W1'] for [binding] params = "params"."""
    box = contract.binding["params"]
    return f"{owner}.{contract.attr(role)}" if box == "attributes" else f"{owner}.{box}[{contract.attr(role)!r}]"


def _gradient(contract: Contract, role: str) -> str:
    name = contract.grad_names[role]
    if contract.binding["gradients"] == "loss":
        return f"{name} of what {contract.binding['loss_method']}(X, y, reg) returns"
    return name if name.startswith("self.") else f"self.{name}"


def _parameters(contract: Contract) -> list[str]:
    """Comment lines naming each parameter's place, shape and gradient."""
    axes = contract.raw["model"]["params"]
    lines = []
    for role in contract.param_names:
        shape = ", ".join(axes[role]) + ("," if len(axes[role]) == 1 else "")
        lines.append(f"    # {_param(contract, role)}: ({shape}), its gradient {_gradient(contract, role)}")
    return lines


def _defaults(contract: Contract, keys: tuple[str, ...]) -> str:
    training = contract.training
    return ", ".join(f"{key}={_value(training[key])}" for key in keys if key in training)


def _method_args(name: str, contract: Contract) -> str:
    binding = contract.binding
    if binding["gradients"] == "loss" and name == binding["loss_method"]:
        return "X, y=None, reg=0.0"
    if _iterations(contract) and name == binding.get("train_method", "train"):
        return f"X, y, X_val, y_val, {_defaults(contract, ITERATION_ARGS)}, verbose=False"
    if name == "backward" and binding["gradients"] == "upstream":
        return "upstream"
    out = "logits" if contract.classification else "pred"
    return METHOD_ARGS.get(name, "*args, **kwargs").format(out=out)


def _function(name: str, contract: Contract) -> str:
    out = "logits" if contract.classification else "pred"
    if name == contract.loss_function:
        args = f"y, {out}" if contract.binding.get("loss_args") == "target_pred" else f"{out}, y"
    elif name == "train":
        args = f"model, X, y, {_defaults(contract, TRAIN_ARGS)}, shuffle=True"
    else:
        args = "*args, **kwargs"
    return f"def {name}({args}):\n    raise NotImplementedError\n"


def _model(contract: Contract) -> str:
    """The model the __main__ block trains, built as the worker builds it: a course's own API
    ([binding]) may have no default dims (`MLPClassifier(n_in, n_hidden, n_out, ...)`)."""
    if "binding" not in contract.raw:  # the torch homework's constructor defaults to the handout's dims
        return f"{contract.class_name}()"
    dims = vars(contract.dims)
    args = [repr(dims.get(a, a)) if isinstance(a, str) else repr(a)
            for a in contract.binding.get("constructor_args", list(dims))]
    args += [f"{key}={_value(value)}" for key, value in contract.constructor_kwargs.items()]
    return f"{contract.class_name}({', '.join(args)})"


def _main(contract: Contract) -> str:
    """The __main__ block: load the kit's data, train per the binding, save the checkpoint."""
    numpy, training, checkpoint = _numpy(contract), contract.training, contract.submission["checkpoint"]
    if _iterations(contract):
        count, count_text = "num_iters", "iterations"
        kwargs = _defaults(contract, tuple(k for k in ITERATION_ARGS if k != "num_iters"))
        fit = ('X, y = data["X"], data["y"]\n'
               "    n_val = len(X) // 10  # a validation split of your own (the test split is held out)\n"
               f"    model.{contract.binding.get('train_method', 'train')}(X[n_val:], y[n_val:], X[:n_val], y[:n_val], "
               f"num_iters=num_iters,\n                {kwargs})")
    else:
        count, count_text = "epochs", "epochs"
        fit = 'train(model, data["X"], data["y"], epochs=epochs)'
    if numpy:
        arrays = ", ".join(f"{contract.attr(role)}={_param(contract, role, 'model')}" for role in contract.param_names)
        if contract.binding["params"] != "attributes":
            arrays = f"**model.{contract.binding['params']}"
        save = f'np.savez(here / "{checkpoint}", {arrays})'
    else:
        save = f'torch.save(model.state_dict(), here / "{checkpoint}")'
    return MAIN.format(code=contract.submission["code"], checkpoint=checkpoint, data=contract.data["file"],
                       model=_model(contract), count=count, count_arg=count.upper(),
                       count_text=count_text, default=training[count], fit=fit, save=save,
                       load="np.load" if numpy else "torch.load",
                       seed="np.random.seed(0)" if numpy else "torch.manual_seed(0)")


def render(contract: Contract) -> str:
    """The template of `contract`'s code file: every name the checks call, nothing implemented."""
    dims = contract.dims
    init_args = [f"in_dim={dims.in_dim}", f"hidden_dim={dims.hidden_dim}", f"out_dim={dims.out_dim}",
                 *(f"{key}={_value(value)}" for key, value in contract.constructor_kwargs.items())]
    lines = [f'"""Your two-layer MLP with hand-written backprop ({contract.name}). See {contract.handout}',
             'for the contract."""', "", "import numpy as np" if _numpy(contract) else "import torch", "", "",
             f"class {contract.class_name}:", *_parameters(contract),
             f"    def __init__(self, {', '.join(init_args)}):", "        raise NotImplementedError"]
    for method in contract.methods:
        args = _method_args(method, contract)
        lines += ["", f"    def {method}(self{', ' if args else ''}{args}):", "        raise NotImplementedError"]
    text = "\n".join(lines) + "\n"
    for name in contract.functions:
        text += "\n\n" + _function(name, contract)
    return text + _main(contract)
