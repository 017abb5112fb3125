"""The student's empty code file in the kit, written from an assignment's contract: its
class and parameter names, its methods and functions, its dims and training defaults."""

from __future__ import annotations

from grader.spec import Contract

# The arguments of the methods and functions the checks call (grader/worker/ops.py).
METHOD_ARGS = {"forward": "X", "backward": "{out}, y", "step": "lr", "state_dict": "", "load_state_dict": "state"}
TRAIN_ARGS = ("epochs", "batch_size", "lr", "decay_every", "decay_factor")

MAIN = '''

if __name__ == "__main__":
    # python submissions/<your-name>/{code} [EPOCHS], from the kit's folder: trains on the
    # kit's {data} and writes {checkpoint} next to this file, where the checks look.
    import sys
    from pathlib import Path

    here = Path(__file__).resolve().parent
    data = torch.load(here.parents[1] / "{data}")
    torch.manual_seed(0)
    model = {class_name}()
    epochs = int(sys.argv[1]) if len(sys.argv) > 1 else {epochs}
    train(model, data["X"], data["y"], epochs=epochs)
    torch.save(model.state_dict(), here / "{checkpoint}")
    print(f"trained {{epochs}} epochs; wrote {{here / '{checkpoint}'}}")
'''


def _value(value) -> str:
    return f"{value:g}" if isinstance(value, float) else repr(value)


def _parameters(contract: Contract) -> list[str]:
    """Comment lines naming each parameter's attribute, shape and gradient attribute."""
    axes = contract.raw["model"]["params"]
    lines = []
    for role in contract.param_names:
        shape = ", ".join(axes[role]) + ("," if len(axes[role]) == 1 else "")
        lines.append(f"    # self.{contract.attr(role)}: ({shape}), its gradient self.{contract.grad_names[role]}")
    return lines


def _function(name: str, contract: Contract) -> str:
    out = "logits" if contract.classification else "pred"
    if name == contract.loss_function:
        args = f"{out}, y"
    elif name == "train":
        training = contract.training
        defaults = ", ".join(f"{key}={_value(training[key])}" for key in TRAIN_ARGS if key in training)
        args = f"model, X, y, {defaults}, shuffle=True"
    else:
        args = "*args, **kwargs"
    return f"def {name}({args}):\n    raise NotImplementedError\n"


def render(contract: Contract) -> str:
    """The template of `contract`'s mlp.py: every name the checks call, nothing implemented."""
    dims = contract.dims
    init_args = [f"in_dim={dims.in_dim}", f"hidden_dim={dims.hidden_dim}", f"out_dim={dims.out_dim}",
                 *(f"{key}={_value(value)}" for key, value in contract.constructor_kwargs.items())]
    out = "logits" if contract.classification else "pred"
    lines = [f'"""Your two-layer MLP with hand-written backprop ({contract.name}). See {contract.handout}',
             'for the contract."""', "", "import torch", "", "", f"class {contract.class_name}:", *_parameters(contract),
             f"    def __init__(self, {', '.join(init_args)}):", "        raise NotImplementedError"]
    for method in contract.methods:
        args = METHOD_ARGS.get(method, "*args, **kwargs").format(out=out)
        lines += ["", f"    def {method}(self{', ' if args else ''}{args}):", "        raise NotImplementedError"]
    text = "\n".join(lines) + "\n"
    for name in contract.functions:
        text += "\n\n" + _function(name, contract)
    submission = contract.submission
    return text + MAIN.format(code=submission["code"], checkpoint=submission["checkpoint"],
                              data=contract.data["file"], class_name=contract.class_name,
                              epochs=contract.training["epochs"])
