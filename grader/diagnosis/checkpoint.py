"""checkpoint: what is in a .pth that did not load as the four parameters.

Nothing here runs the student's code or unpickles their objects: a state dict is only
looked at after `torch.load(weights_only=True)` returned it, and a pickled object is only
read opcode by opcode (`pickletools`) to name the classes it refers to.
"""

from __future__ import annotations

import pickletools
import zipfile
from pathlib import Path

import torch

from grader.context import Context
from grader.diagnoses import Diagnosis, Finding, diagnoses
from grader.spec import Contract

def save(c: Contract) -> str:
    keys = ", ".join(c.attr_names.values())
    return f"torch.save(model.state_dict(), 'model.pth') with keys {keys}"


def _shape(value) -> tuple[int, ...] | None:
    return tuple(value.shape) if isinstance(value, torch.Tensor) else None


def renaming(c: Contract, state: dict) -> tuple[dict[str, str], set[str]] | None:
    """{student key: contract name} when every parameter is found by its shape (or by its
    transposed shape, listed in the second item), each exactly once; else None."""
    wanted = c.param_shapes(c.dims)
    mapping, transposed = {}, set()
    for name, shape in wanted.items():
        exact = [k for k, v in state.items() if _shape(v) == shape]
        flipped = [k for k, v in state.items() if len(shape) == 2 and _shape(v) == shape[::-1]]
        if len(exact) + len(flipped) != 1:
            return None
        key = (exact or flipped)[0]
        mapping[str(key)] = name
        if flipped:
            transposed.add(name)
    return (mapping, transposed) if len(set(mapping.values())) == len(wanted) else None


# the checkpoint is loaded once per submission; whichever of these checks runs first fails on it
LOADING = ("checkpoint.loads", "checkpoint.test_mse", "checkpoint.test_accuracy", "checkpoint.grid_rmse")


@diagnoses(*LOADING, clue="checkpoint.keys")
def keys(ctx: Context, clue: tuple[dict, str]) -> Diagnosis:
    """The keys are not W1, b1, W2, b2: suggest the renaming the shapes give."""
    state, filename = clue
    c = ctx.contract
    found = renaming(c, state)
    if found is None:
        return Diagnosis()
    mapping, transposed = found
    pairs = ", ".join(f"{k!r} -> {v!r}" + (" (transposed)" if v in transposed else "")
                      for k, v in mapping.items() if k != v)
    text = f"{filename}'s tensors fit the contract by shape: rename {pairs}"
    return Diagnosis((Finding("checkpoint.key_names", text + f" ({save(c)})."),), {"renaming": mapping})


@diagnoses(*LOADING, clue="checkpoint.shape")
def shape(ctx: Context, clue: tuple[str, tuple[int, ...], tuple[int, ...]]) -> Diagnosis:
    """A parameter saved with its two axes swapped (clue: its name, its shape, the contract's)."""
    name, got, expected = clue
    if len(got) != 2 or got != expected[::-1] or got == expected:
        return Diagnosis()
    if ctx.contract.layout == "out_in":
        orientation = f"(out_features, in_features), the orientation forward() uses as X @ {name}.T"
    else:
        orientation = f"(in_features, out_features), the orientation forward() uses as X @ {name}"
    return Diagnosis((Finding("checkpoint.transposed",
                              f"{name} is saved transposed, as {got}: the contract's {name} is {expected} "
                              f"{orientation}. If your model keeps {name} as {got}, save {name}.T (made "
                              f"contiguous)."),))


@diagnoses(*LOADING, clue="checkpoint.pickled")
def pickled_object(ctx: Context, path: Path) -> Diagnosis:
    """The file holds pickled objects beyond tensors: name their classes, without loading."""
    classes = globals_in(path)
    if not classes:
        return Diagnosis()
    foreign = [c for c in classes if not c.startswith(("torch.", "collections.OrderedDict", "builtins."))]
    what = ", ".join(foreign or classes)
    return Diagnosis((Finding("checkpoint.pickled_model",
                              f"the file holds a pickled object ({what}), e.g. from torch.save(model, ...): "
                              f"loading it would need your code. Save only the tensors: {save(ctx.contract)}."),),
                     {"pickled_classes": classes})


def globals_in(path: Path) -> list[str]:
    """The module.name of every class a torch zip checkpoint's pickle refers to."""
    try:
        with zipfile.ZipFile(path) as archive:
            name = next(n for n in archive.namelist() if n.endswith("data.pkl"))
            data = archive.read(name)
    except (OSError, zipfile.BadZipFile, StopIteration):
        return []
    found, strings = [], []
    try:
        for opcode, arg, _ in pickletools.genops(data):
            if opcode.name in ("SHORT_BINUNICODE", "BINUNICODE", "UNICODE"):
                strings.append(arg)
            elif opcode.name == "STACK_GLOBAL" and len(strings) >= 2:
                found.append(f"{strings[-2]}.{strings[-1]}")
            elif opcode.name in ("GLOBAL", "INST"):
                found.append(str(arg).replace(" ", "."))
    except ValueError:  # a damaged pickle: name what was read before the damage
        pass
    return list(dict.fromkeys(found))
