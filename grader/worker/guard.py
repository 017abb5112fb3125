"""The runtime half of no_autograd: what a call into student code did with autograd.

Runs in the worker's child, around the student's forward/backward/step (ops.py). It
reports facts; the grader judges them (grader/checks/no_autograd.py).

- **Backward passes** (`Tensor.backward`, `torch.autograd.grad`, `torch.autograd.functional`,
  `torch.func.grad/vjp/jacrev`, a custom `autograd.Function`, on any thread): every pass of
  torch's autograd engine takes the next id of one process-wide counter in C++, which Python
  code can neither reset nor pause. A probe reads the counter before and after the call (it
  runs a one-node pass of its own and reads `torch._C._current_graph_task_id()` inside it);
  any pass in between is the student's. Grad mode, `enable_grad`, `inference_mode(False)`,
  `requires_grad_()` or modes popped do not matter: the engine counts what it runs.
- **Forward-mode AD** (`torch.autograd.forward_ad`, `torch.func.jvp/jacfwd/hessian`) runs no
  backward pass. Two modes pushed for the call see it: a torch-function mode sees every
  torch call from Python, `torch._make_dual` among them, and which torch.func transform
  (jvp, grad) it runs inside; a dispatch mode sees every aten operation, and attaching a
  tangent checks `aten._has_same_storage_numel`, which nothing else calls. Both modes must
  still be on top of their stacks when the call returns; a call that popped one or left
  other modes behind is reported as tampering.
- **Work**: the same mode counts the arithmetic of every aten operation (multiply-adds of
  matrix products, elements of the others) in forward and in backward, and the calls of
  the model's forward during backward: gradients by finite differences of forward cost as
  many forward passes as there are parameters.

The functions it needs are bound when this module is imported, in the worker's host,
before any student code: rebinding `torch.autograd.grad` or the like later changes nothing
here. What it cannot see (docs/ISOLATION.md): autograd in another process, and student code
that edits this module's own objects in memory (the autograd scan flags the ways to reach
them: gc, ctypes, sys.modules, frames, the grader's modules).
"""

from __future__ import annotations

import sys
from typing import Any, Callable

import torch
from torch.overrides import TorchFunctionMode
from torch.utils._python_dispatch import TorchDispatchMode

_graph_task_id = torch._C._current_graph_task_id
_engine = torch._C._ImperativeEngine()
_set_grad_enabled = torch._C._set_grad_enabled
_is_grad_enabled = torch._C.is_grad_enabled
_stack_length = torch._C._len_torch_dispatch_stack
_stack_at = torch._C._get_dispatch_stack_at
_push_mode = torch._C._push_on_torch_dispatch_stack
_pop_mode = torch._C._pop_torch_dispatch_stack
_inference_mode = torch._C._InferenceMode
_function_stack_length = torch._C._len_torch_function_stack
_function_stack_at = torch._C._get_function_stack_at
_push_function_mode = torch._C._push_on_torch_function_stack
_pop_function_mode = torch._C._pop_torch_function_stack
_transform = torch._C._functorch.peek_interpreter_stack
_GRAD_TRANSFORMS = {"TransformType.Jvp": "torch.func.jvp/jacfwd", "TransformType.Grad": "torch.func.grad/vjp/jacrev"}
_tensor = torch.Tensor
_ones = torch.ones
_zeros = torch.zeros
_mul = torch.Tensor.mul
_register_hook = torch.Tensor.register_hook
_numel = torch.Tensor.numel
# aten operations that only forward-mode AD performs (attaching a tangent to a tensor).
FORWARD_AD_OPS = ("aten._has_same_storage_numel", "aten._make_dual", "aten._unpack_dual", "aten._fw_primal")
# Matrix products: their work is the multiply-adds, not the elements of the result.
PRODUCTS = ("aten.mm", "aten.addmm", "aten.bmm", "aten.baddbmm", "aten.mv", "aten.addmv", "aten.dot", "aten.vdot")


def backward_passes() -> int:
    """The id of the engine's latest backward pass: runs one of its own (on a one-element
    graph) and reads its id inside it. Ids count up by one per pass, process-wide."""
    seen: list[int] = []
    with _inference_mode(False):
        previous = _is_grad_enabled()
        _set_grad_enabled(True)
        try:
            leaf = _zeros((), requires_grad=True)
            out = _mul(leaf, 1.0)
            _register_hook(out, lambda grad: seen.append(_graph_task_id()))
            _engine.run_backward((out,), (_ones(()),), False, False, (leaf,), False, False)
        finally:
            _set_grad_enabled(previous)
    return seen[0]


class _Transforms(TorchFunctionMode):
    """Notes forward-mode AD and torch.func's differentiating transforms, at the torch API."""

    def __init__(self):
        super().__init__()
        self.seen: list[str] = []

    def __torch_function__(self, func, types, args=(), kwargs=None):
        interpreter = _transform()
        name = getattr(func, "__name__", "")
        found = _GRAD_TRANSFORMS.get(str(interpreter.key())) if interpreter is not None else None
        found = found or ("torch._make_dual (forward-mode AD)" if name == "_make_dual" else None)
        if found and found not in self.seen:
            self.seen.append(found)
        return func(*args, **(kwargs or {}))


class _Recorder(TorchDispatchMode):
    """Counts the work of every aten operation under it and notes forward-mode AD."""

    def __init__(self):
        super().__init__()
        self.work = 0
        self.forward_ad: list[str] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        name = str(func.overloadpacket)
        if name in FORWARD_AD_OPS and not self.forward_ad:
            self.forward_ad.append(f"forward-mode AD ({name})")
        out = func(*args, **(kwargs or {}))
        self.work += _work(name, args, out)
        return out


def _raw_until_dynamo_loads(cls) -> None:
    """torch wraps a dispatch mode's ``__torch_dispatch__`` so that torch.compile never
    traces it, and the wrapper imports torch._dynamo on its first call: 1.3 s in every
    fresh child, more than the whole check. Until torch._dynamo is loaded nothing can
    trace, so the method torch wrapped is the same call; once it is (student code compiled
    something), torch's wrapper is used as before."""
    wrapped = cls.__dict__["__torch_dispatch__"]
    raw = getattr(wrapped, "__wrapped__", None)
    if raw is None:  # a torch that does not wrap it
        return

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if "torch._dynamo" in sys.modules:
            return wrapped(self, func, types, args, kwargs)
        return raw(self, func, types, args, kwargs)

    cls.__torch_dispatch__ = __torch_dispatch__


_raw_until_dynamo_loads(_Recorder)


def _work(name: str, args, out) -> int:
    """Multiply-adds of a matrix product ((m, k) @ (k, n): m k n); else the most elements
    of any of the operation's tensors."""
    if name in PRODUCTS:
        tensors = [a for a in args if isinstance(a, _tensor)][-2:]
        if len(tensors) == 2:
            a, b = tensors
            return int(_numel(a) * (b.shape[-1] if b.dim() >= 2 else 1))
    sizes = [_numel(t) for t in (*args, *(out if isinstance(out, (tuple, list)) else (out,))) if isinstance(t, _tensor)]
    return max(sizes, default=0)


class Watch:
    """Around calls into student code: `with watch.part("backward"): ...`, then `report()`.

    Each part counts its own work; backward passes, forward-mode AD, torch.func transforms
    and tampering are counted over all parts."""

    def __init__(self):
        self.work: dict[str, int] = {}
        self.autodiff: list[str] = []  # forward-mode AD and torch.func transforms seen
        self.tampering: list[str] = []
        self.forward_calls = 0
        self.passes = 0

    def part(self, name: str) -> "_Part":
        return _Part(self, name)

    def count_forward_calls(self, model) -> Callable[[], None]:
        """Count the model's forward calls (during backward) through an attribute of the
        instance; returns the function that removes it again."""
        bound = getattr(model, "forward", None)
        if not callable(bound):
            return lambda: None

        def forward(*args, **kwargs):
            self.forward_calls += 1
            return bound(*args, **kwargs)

        try:
            model.__dict__["forward"] = forward
        except (AttributeError, TypeError):  # __slots__, a read-only __dict__
            return lambda: None
        return lambda: model.__dict__.pop("forward", None)

    def report(self) -> dict[str, Any]:
        return {"backward_passes": self.passes, "autodiff": self.autodiff, "tampering": self.tampering,
                "work": self.work, "forward_calls": self.forward_calls}


class _Part:
    def __init__(self, watch: Watch, name: str):
        self.watch, self.name = watch, name
        self.recorder = _Recorder()
        self.transforms = _Transforms()

    def __enter__(self):
        self.depth = _stack_length()
        self.function_depth = _function_stack_length()
        self.before = backward_passes()
        _push_mode(self.recorder)
        _push_function_mode(self.transforms)
        return self

    def __exit__(self, *exc) -> None:
        depth, function_depth = _stack_length(), _function_stack_length()
        for stack, on_top in (("dispatch", depth == self.depth + 1 and _stack_at(depth - 1) is self.recorder),
                              ("torch-function", function_depth == self.function_depth + 1 and
                               _function_stack_at(function_depth - 1) is self.transforms)):
            if not on_top:
                self.watch.tampering.append(f"torch's {stack}-mode stack was changed during {self.name}() "
                                            f"(the grader's mode popped, or other modes left on it)")
        while _function_stack_length() > self.function_depth:
            _pop_function_mode()
        while _stack_length() > self.depth:
            _pop_mode(None)
        after = backward_passes()
        self.watch.passes += after - self.before - 1  # the probe itself ran one pass
        self.watch.work[self.name] = self.watch.work.get(self.name, 0) + self.recorder.work
        for found in (*self.recorder.forward_ad, *self.transforms.seen):
            if found not in self.watch.autodiff:
                self.watch.autodiff.append(found)
