"""structure: the file imports, the names exist, shapes and dtypes, state_dict round trip."""

from __future__ import annotations

import numpy as np

from grader import spec, validate
from grader.checks.base import check
from grader.context import Context, dims_list
from grader.outcome import Failed
from grader.spec import Contract, Dims

PROBE_DIMS = (Dims(3, 5, 2), Dims(4, 2, 1))


def api(ctx: Context) -> dict:
    return ctx.probe("api", lambda: ctx.call("api"))


@check("structure.imports")
def imports(ctx: Context) -> None:
    api(ctx)
    converted = ctx.submission.conversion()
    if converted and ctx.contract.top_level_work == "penalise":
        raise Failed(f"importing the code you handed in does more than define things, so only its definitions "
                     f"were graded ({converted[0]}); put that work under `if __name__ == \"__main__\":`")


@check("structure.api")
def names_exist(ctx: Context) -> None:
    found = api(ctx)
    c = ctx.contract
    if not found["class"]:
        raise Failed(f"{c.code_file} defines no class {c.class_name}")
    missing = [f"{c.class_name}.{m}()" for m in c.methods if not found["methods"].get(m)]
    missing += [f"{f}()" for f in c.functions if not found["functions"].get(f)]
    if missing:
        raise Failed("missing: " + ", ".join(missing))


@check("structure.constructor_dims")
def constructor_dims(ctx: Context) -> None:
    for dims in PROBE_DIMS:
        value = ctx.call("construct", dims=dims_list(dims))
        for name, shape in ctx.contract.param_shapes(dims).items():
            got = np.shape(value["params"][name].get("array"))
            if tuple(got) != shape:
                if transposed(got, shape):
                    raise Failed(f"{ctx.contract.class_name}({dims.in_dim}, {dims.hidden_dim}, {dims.out_dim}) made "
                                 f"{ctx.contract.attr(name)} of shape {tuple(got)}, the transpose of the expected {shape}: "
                                 f"{layout_text(ctx.contract)} (the other checks now run at the full size)")
                raise Failed(
                    f"{ctx.contract.class_name}({dims.in_dim}, {dims.hidden_dim}, {dims.out_dim}) made {ctx.contract.attr(name)} "
                    f"of shape {tuple(got)}, expected {shape}: use the constructor's arguments instead of "
                    f"fixed sizes (the other checks now run at the full size)")


def transposed(got, shape: tuple[int, ...]) -> bool:
    """`got` is the transpose of a non-square 2-D `shape` (the other weight layout)."""
    return len(shape) == 2 and shape[0] != shape[1] and tuple(got) == shape[::-1]


def layout_text(c: Contract) -> str:
    if c.layout == "in_out":
        return "this assignment stores weights as (in, out): W1 is (in_dim, hidden_dim) and forward computes X @ W1"
    return "this assignment stores weights as (out, in): W1 is (hidden_dim, in_dim) and forward computes X @ W1.T"


@check("structure.parameters")
def parameter_types(ctx: Context) -> None:
    dims = ctx.fixed_dims() or Dims(3, 5, 1)
    value = ctx.call("construct", dims=dims_list(dims))
    for name, shape in ctx.contract.param_shapes(dims).items():
        try:
            validate.tensor(ctx.contract, value["params"][name], ctx.contract.attr(name), shape,
                            dtypes=(ctx.contract.raw["model"]["dtype"],))
        except Failed as failure:
            got = np.shape(value["params"][name].get("array"))
            if transposed(got, shape):
                failure.message += f": {layout_text(ctx.contract)}"
            raise


@check("structure.state_dict")
def state_dict_round_trip(ctx: Context) -> None:
    dims = ctx.fixed_dims() or Dims(3, 5, 1)
    value = ctx.call("state_dict_roundtrip", dims=dims_list(dims), seed_a=1, seed_b=2)
    attrs = ctx.contract.attr_names
    expected_keys = set(attrs.values())
    keys = set(value["keys"])
    if keys != expected_keys:
        raise Failed(f"state_dict() keys are {sorted(keys)}, expected {sorted(expected_keys)}")
    shapes = ctx.contract.param_shapes(dims)
    for role, shape in shapes.items():
        name = attrs[role]
        source = validate.tensor(ctx.contract, value["source"][role], name, shape)
        saved = validate.tensor(ctx.contract, value["state"][name], f"state_dict()[{name!r}]", shape)
        loaded = validate.tensor(ctx.contract, value["loaded"][role], f"{name} after load_state_dict", shape)
        if not np.array_equal(saved, source):
            raise Failed(f"state_dict()[{name!r}] is not the model's current {name}")
        if not np.array_equal(loaded, source):
            raise Failed(f"after load_state_dict(other.state_dict()), {name} is not the loaded value")
