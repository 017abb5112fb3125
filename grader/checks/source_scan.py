"""Find autograd in the student's source, by syntax (comments and strings never match).

The scan reads `mlp.py` and every module of the submission folder that its graded code
imports (a helper module beside it, a package), transitively. Graded code is what the
grader runs: in `mlp.py`, the statements that run at import, the TwoLayerMLP class, the
contract's functions and every function or class they refer to by name; in a helper
module, all of it. A script under `if __name__ == "__main__":` that compares with autograd
is good practice, not cheating: it (and what only it uses) is listed as information.

The scan is the static half of `no_autograd`; the runtime guard (`grader/worker/guard.py`)
is the half that code reached through getattr, exec or files the scan cannot read cannot
route around. Sources are read only as regular files, without following a symbolic link,
without blocking and up to a size cap (a FIFO or /dev/zero named mlp.py must not hang the
grader).
"""

from __future__ import annotations

import ast
import os
from dataclasses import dataclass, field
from pathlib import Path

from grader.spec import Contract
from grader.sources import Unreadable, read_source  # noqa: F401  (Unreadable: raised to the checks)

AUTOGRAD_MODULES = ("torch.autograd", "autograd", "torch.func", "functorch", "torch._functorch")
NN_LAYERS = {"Linear", "Sequential", "Module", "MSELoss", "ReLU", "Parameter", "Bilinear", "LazyLinear",
             "CrossEntropyLoss", "NLLLoss", "LogSoftmax", "Softmax", "Tanh"}
# Names whose only use is autograd, when they are reached with getattr("...") (a string).
AUTOGRAD_NAMES = {"autograd", "func", "functorch", "backward", "grad", "vjp", "jvp", "jacrev", "jacfwd", "hessian",
                  "enable_grad", "requires_grad_", "requires_grad", "set_grad_enabled", "forward_ad"}
# Ways to reach the grader's runtime guard or torch's machinery under it: never needed by
# an honest submission.
INTERNALS = ("ctypes", "gc", "grader", "torch._C", "torch.utils._python_dispatch", "torch.overrides", "sys.modules",
             "sys._getframe")
# Calls that run code the scan cannot read.
DYNAMIC_CODE = {"exec", "eval", "compile", "__import__"}
MAX_MODULES = 50
# A numpy assignment ([binding] framework = "numpy") computes every gradient with numpy: the
# packages that differentiate automatically are refused outright, however they are used.
NUMPY_FORBIDDEN = ("torch", "jax", "autograd", "functorch", "tensorflow", "mxnet", "chainer")
NUMPY_REASON = "(a numpy assignment computes its gradients with numpy alone)"


@dataclass(frozen=True)
class Finding:
    line: int
    what: str
    graded: bool
    file: str = "mlp.py"

    def __str__(self) -> str:
        return f"{self.file} line {self.line}: {self.what}"


# ------------------------------------------------------------------ the whole submission

def scan_submission(contract: Contract, folder: Path, code: str = "mlp.py") -> list[Finding]:
    """Findings in `code` and in every module of `folder` its graded code imports (the
    contract names the class and functions whose code is graded)."""
    main = _Module(code, ast.parse(read_source(folder / code), filename=code), entries(contract))
    modules, todo = [main], list(main.imports)
    seen = {code}
    while todo and len(modules) < MAX_MODULES:
        for relative in _module_files(folder, todo.pop(0)):
            if relative in seen:
                continue
            seen.add(relative)
            module = _Module(relative, ast.parse(read_source(folder / relative), filename=relative), None)
            modules.append(module)
            todo += module.imports
    own = _OwnNames.of(modules)
    findings = _distinct([f for m in modules for f in m.findings(own, contract.framework)])
    return sorted(findings, key=lambda f: (f.file != code, f.file, f.line))


def scan(contract: Contract, source: str, filename: str = "mlp.py") -> list[Finding]:
    """Findings in one file's source, as `mlp.py` (its imports are not followed)."""
    module = _Module(filename, ast.parse(source, filename=filename), entries(contract))
    return sorted(_distinct(module.findings(_OwnNames.of([module]), contract.framework)), key=lambda f: f.line)


def _distinct(findings: list[Finding]) -> list[Finding]:
    """Without the findings that a longer one on the same line contains (`torch.autograd`
    inside `torch.autograd.grad`)."""
    def inside(f: Finding, g: Finding) -> bool:
        return f is not g and (f.file, f.line) == (g.file, g.line) and f.what != g.what and \
            g.what.startswith(f.what.split(" ")[0] + ".")
    return [f for f in findings if not any(inside(f, g) for g in findings)]


def _module_files(folder: Path, name: str) -> list[str]:
    """The submission's own files a module name may refer to (`a.b`: a.py, a/__init__.py,
    a/b.py, a/b/__init__.py); nothing for torch, numpy and the like. Whatever exists under
    such a name is listed, links and FIFOs too: reading refuses them by name."""
    parts = name.split(".")
    found = []
    for depth in range(1, len(parts) + 1):
        base = Path(*parts[:depth])
        for candidate in (base.with_suffix(".py"), base / "__init__.py"):
            if os.path.lexists(folder / candidate):
                found.append(str(candidate))
    return found


@dataclass
class _OwnNames:
    """What the student's own code defines, so that calls to it are not taken for autograd:
    the `backward` methods of their classes and the `.grad` attributes they assign."""

    backward_methods: list[ast.FunctionDef] = field(default_factory=list)
    assigns_grad: bool = False

    @classmethod
    def of(cls, modules: list["_Module"]) -> "_OwnNames":
        own = cls()
        for module in modules:
            for node in ast.walk(module.tree):
                if isinstance(node, ast.ClassDef):
                    own.backward_methods += [f for f in node.body if isinstance(f, ast.FunctionDef) and f.name == "backward"]
                if isinstance(node, ast.Attribute) and node.attr == "grad" and isinstance(node.ctx, ast.Store):
                    own.assigns_grad = True
        return own

    def accepts(self, call: ast.Call) -> bool:
        """Whether one of the student's backward methods takes this call's arguments."""
        return any(_accepts(method, call) for method in self.backward_methods)


def _accepts(method: ast.FunctionDef, call: ast.Call) -> bool:
    a = method.args
    positional = [p.arg for p in a.posonlyargs + a.args][1:]  # without self
    required = len(positional) - len(a.defaults)
    given = len(call.args)
    if any(isinstance(arg, ast.Starred) for arg in call.args) or any(k.arg is None for k in call.keywords):
        return True  # *args / **kwargs: cannot tell
    if given > len(positional) and a.vararg is None:
        return False
    names = set(positional[given:]) | {k.arg for k in a.kwonlyargs}
    keywords = {k.arg for k in call.keywords}
    if a.kwarg is None and not keywords <= names:
        return False
    return given + len(keywords & set(positional[given:])) >= required


class _Module:
    """One parsed file: which of its lines are graded, which modules those import."""

    def __init__(self, name: str, tree: ast.Module, entries: tuple[str, ...] | None):
        """`entries`: the names the grader calls (the graded file's code is what they reach),
        or None for a helper module the graded code imports (all of it is graded)."""
        self.name, self.tree = name, tree
        body = [node for node in tree.body if not _is_main_guard(node)]
        graded_nodes = body if entries is None else _reachable(body, entries)
        self.graded = [(n.lineno, n.end_lineno or n.lineno) for n in graded_nodes]
        self.script = [(n.lineno, n.end_lineno or n.lineno) for n in tree.body if _is_main_guard(n)]
        # every module imported outside the script runs at import: its code is graded
        self.imports = sorted({name for node in body for name in _imported(node)})

    def is_graded(self, line: int) -> bool:
        return any(start <= line <= end for start, end in self.graded)

    def findings(self, own: _OwnNames, framework: str) -> list[Finding]:
        found = []
        for node in ast.walk(self.tree):
            what = _autograd_use(node, own, framework)
            if what:
                line = getattr(node, "lineno", 0)
                # a forbidden package of a numpy assignment is imported when the module is,
                # used or not; only the __main__ script may compare with it
                forbidden = what.endswith(NUMPY_REASON) and not any(a <= line <= b for a, b in self.script)
                found.append(Finding(line, what, self.is_graded(line) or forbidden, self.name))
        return found


def _is_main_guard(node: ast.AST) -> bool:
    if not isinstance(node, ast.If) or not isinstance(node.test, ast.Compare):
        return False
    sides = [node.test.left, *node.test.comparators]
    return any(isinstance(s, ast.Name) and s.id == "__name__" for s in sides) and \
        any(isinstance(s, ast.Constant) and s.value == "__main__" for s in sides)


def entries(contract: Contract) -> tuple[str, ...]:
    """The names in the graded file that the grader calls: the contract's class and functions."""
    return (contract.class_name, *contract.functions)


def _reachable(body: list[ast.stmt], entries: tuple[str, ...]) -> list[ast.stmt]:
    """The statements of mlp.py the grader runs: every statement that runs at import, the
    contract's class and functions, and every definition they name, transitively. An
    import counts where a name it binds is used there (an autograd import that only the
    `__main__` script uses is that script's)."""
    definitions: dict[str, list[ast.stmt]] = {}
    for node in body:
        for name in _bound(node):
            definitions.setdefault(name, []).append(node)
    reached = [node for node in body if not _bound(node)]
    todo = [name for name in entries if name in definitions]
    todo += [name for node in reached for name in _names(node)]
    done: set[str] = set()
    while todo:
        name = todo.pop()
        if name in done or name not in definitions:
            continue
        done.add(name)
        for node in definitions[name]:
            if node not in reached:
                reached.append(node)
                todo += _names(node)
    return reached


def _bound(node: ast.stmt) -> list[str]:
    """The names a definition or an import binds (nothing for other statements)."""
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return [node.name]
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        return [a.asname or a.name.split(".")[0] for a in node.names]
    return []


def _names(node: ast.AST) -> list[str]:
    """Every name a piece of code mentions (a call, a reference, a decorator, a base class)."""
    return [n.id for n in ast.walk(node) if isinstance(n, ast.Name)]


def _imported(node: ast.AST) -> list[str]:
    """Module names imported anywhere in `node`, also by importlib.import_module("...")."""
    names = []
    for n in ast.walk(node):
        if isinstance(n, ast.Import):
            names += [a.name for a in n.names]
        elif isinstance(n, ast.ImportFrom) and n.module and not n.level:
            names += [n.module] + [f"{n.module}.{a.name}" for a in n.names]
        elif isinstance(n, ast.ImportFrom):  # from . import helper
            names += [f"{n.module}.{a.name}" if n.module else a.name for a in n.names]
        elif isinstance(n, ast.Call) and _dotted(n.func).endswith(("import_module", "__import__")) and n.args and \
                isinstance(n.args[0], ast.Constant) and isinstance(n.args[0].value, str):
            names.append(n.args[0].value)
    return names


def _dotted(node: ast.AST) -> str:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
    return ".".join(reversed(parts))


def _autograd_use(node: ast.AST, own: _OwnNames, framework: str) -> str | None:
    if isinstance(node, ast.Call):
        return _call_use(node, own)
    if isinstance(node, ast.Attribute):
        name = _dotted(node)
        if _in_modules(name):
            return name
        if _in_modules(name, INTERNALS):
            return f"{name} (reaches into the grader's or torch's internals)"
        if node.attr in NN_LAYERS and name.endswith(f"nn.{node.attr}"):
            return f"{name} (an nn layer computes its gradients with autograd)"
        if node.attr in ("requires_grad_", "enable_grad"):
            return f"{name} (autograd state)"
        if node.attr == "grad" and isinstance(node.ctx, ast.Load) and not own.assigns_grad and name != "grad":
            return f"{name} (autograd state)"
    if isinstance(node, ast.keyword) and node.arg == "requires_grad":
        if not (isinstance(node.value, ast.Constant) and node.value.value is False):
            return "requires_grad=True"
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        module = node.module if isinstance(node, ast.ImportFrom) else None
        for alias in node.names:
            name = f"{module}.{alias.name}" if module else alias.name
            if framework == "numpy" and _in_modules(name, NUMPY_FORBIDDEN):
                return f"import of {name} {NUMPY_REASON}"
            if _in_modules(name) or (module == "torch" and alias.name in ("func", "autograd", "enable_grad")):
                return f"import of {name}"
            if _in_modules(name, INTERNALS) or (module == "torch" and alias.name == "_C"):
                return f"import of {name} (reaches into the grader's or torch's internals)"
    return None


def _call_use(node: ast.Call, own: _OwnNames) -> str | None:
    func = _dotted(node.func)
    if isinstance(node.func, ast.Attribute) and node.func.attr == "backward" and not own.accepts(node):
        return f"{func or '...backward'}() (autograd's backward: no backward method of your classes takes these arguments)"
    if isinstance(node.func, ast.Attribute) and node.func.attr == "set_grad_enabled" and not (
            node.args and isinstance(node.args[0], ast.Constant) and node.args[0].value is False):
        return f"{func}() (turns autograd on)"
    if func in DYNAMIC_CODE or func.startswith("importlib."):
        return f"{func}() (runs code the autograd scan cannot read: write the graded code out)"
    if func in ("getattr", "setattr", "hasattr") and len(node.args) >= 2 and isinstance(node.args[1], ast.Constant) \
            and node.args[1].value in AUTOGRAD_NAMES:
        return f"{func}(..., {node.args[1].value!r}) (autograd reached by name)"
    return None


def _in_modules(name: str, modules: tuple[str, ...] = AUTOGRAD_MODULES) -> bool:
    return any(name == m or name.startswith(m + ".") for m in modules)
