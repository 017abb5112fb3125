"""Find autograd in the student's source, by syntax (comments and strings never match).

Only the graded code counts: the TwoLayerMLP class and the contract's functions. A script
that compares with autograd under `if __name__ == "__main__":` is good practice, not
cheating; it is listed as information.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass

from grader import spec

AUTOGRAD_MODULES = ("torch.autograd", "autograd", "torch.func", "functorch")
NN_LAYERS = {"Linear", "Sequential", "Module", "MSELoss", "ReLU", "Parameter", "Bilinear", "LazyLinear",
             "CrossEntropyLoss", "NLLLoss", "LogSoftmax", "Softmax", "Tanh"}


@dataclass(frozen=True)
class Finding:
    line: int
    what: str
    graded: bool

    def __str__(self) -> str:
        return f"line {self.line}: {self.what}"


def scan(source: str) -> list[Finding]:
    tree = ast.parse(source)
    graded_ranges = _graded_ranges(tree)
    own_backward = _defines_backward_elsewhere(tree)
    findings = []
    for node in ast.walk(tree):
        what = _autograd_use(node, own_backward)
        if what:
            line = getattr(node, "lineno", 0)
            graded = any(start <= line <= end for start, end in graded_ranges)
            findings.append(Finding(line, what, graded))
    return sorted(findings, key=lambda f: f.line)


def _graded_ranges(tree: ast.Module) -> list[tuple[int, int]]:
    c = spec.contract()
    names = {c.class_name, *c.functions}
    return [(node.lineno, node.end_lineno or node.lineno) for node in tree.body
            if isinstance(node, (ast.ClassDef, ast.FunctionDef)) and node.name in names]


def _defines_backward_elsewhere(tree: ast.Module) -> bool:
    """Whether a helper class (a Linear or ReLU layer of the student's) has its own backward
    method: then `layer.backward(grad)` is the student's code, not autograd's."""
    main = spec.contract().class_name
    return any(isinstance(node, ast.ClassDef) and node.name != main and
               any(isinstance(f, ast.FunctionDef) and f.name == "backward" for f in node.body)
               for node in ast.walk(tree))


def _dotted(node: ast.AST) -> str:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
    return ".".join(reversed(parts))


def _autograd_use(node: ast.AST, own_backward: bool = False) -> str | None:
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "backward":
        # model.backward(pred, y) is the student's own method; loss.backward() is autograd;
        # layer.backward(grad) is the student's when a helper class defines backward.
        student_call = len(node.args) >= 2 or any(k.arg in ("pred", "y") for k in node.keywords)
        if not student_call and not (own_backward and len(node.args) == 1):
            return f"{_dotted(node.func) or '...backward'}() (autograd's backward)"
    if isinstance(node, ast.Attribute):
        name = _dotted(node)
        if _in_modules(name):
            return name
        if node.attr in NN_LAYERS and name.endswith(f"nn.{node.attr}"):
            return f"{name} (an nn layer computes its gradients with autograd)"
        if node.attr == "requires_grad_" or (node.attr == "grad" and name not in ("self.grad", "grad")):
            return f"{name} (autograd state)"
    if isinstance(node, ast.keyword) and node.arg == "requires_grad":
        if isinstance(node.value, ast.Constant) and node.value.value is True:
            return "requires_grad=True"
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        module = node.module if isinstance(node, ast.ImportFrom) else None
        names = [a.name for a in node.names]
        full = [f"{module}.{n}" if module else n for n in names]
        for name in full:
            if _in_modules(name):
                return f"import of {name}"
    return None


def _in_modules(name: str) -> bool:
    return any(name == m or name.startswith(m + ".") for m in AUTOGRAD_MODULES)
