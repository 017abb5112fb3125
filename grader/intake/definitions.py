"""The definitions of a notebook or a script, without its top-level work: what intake grades
when a submission trains, plots or loads data when it is imported.

Parse only: nothing here runs student code. A source is a list of pieces (a notebook's code
cells, or one script); each top-level statement is kept or left out:

* kept: `def`, `class` (whole, with decorators), a docstring, `pass`, an assignment of a
  constant expression to names (literals, names already kept, attributes of them, tuples /
  lists / dicts / sets and arithmetic of them, and calls of `PURE_CALLS` on such values:
  `HIDDEN = 512`, `DTYPE = torch.float32`, `DEVICE = torch.device("cpu")`), an `if` on a
  constant expression or a `try` whose every branch is kept; an `import` when a kept
  statement uses a name it binds (so the imports of plotting, IPython or progress bars that
  only the left-out work used are left out too, and a plotting library the grader lacks
  does not fail the import), `from __future__` and `import *` always;
* left out: everything else, i.e. calls (`train(...)`, `plt.plot(...)`, `print(...)`,
  `input()`), assignments of anything else (`data = torch.load(...)`, `model =
  TwoLayerMLP()`), loops, `with`, and `if __name__ == "__main__":` blocks.

A kept statement that uses a name only a left-out statement binds (`def __init__(self,
in_dim=IN_DIM)` with `IN_DIM = data.shape[1]` in a training cell) is an unmet dependency:
`Extraction.unmet()` says which cell or line binds it and which definition uses it.
"""

from __future__ import annotations

import ast
import builtins
import symtable
from dataclasses import dataclass, field

# Calls a constant expression may make: constructors of plain values, no I/O.
PURE_CALLS = {"dict", "list", "tuple", "set", "frozenset", "float", "int", "str", "bool", "complex", "range",
              "torch.device", "torch.finfo", "torch.iinfo", "torch.cuda.is_available", "namedtuple",
              "collections.namedtuple", "TypeVar", "typing.TypeVar"}
PURE_MODULES = ("math.",)  # math.sqrt(6), math.pi ...
# What left-out work looks like, by the names it uses; the first match names it in the log.
WORK = (("input()", {"input"}), ("download", {"urlretrieve", "urlopen", "requests", "wget", "gdown", "download"}),
        ("plotting", {"plt", "pyplot", "matplotlib", "sns", "seaborn", "plot", "imshow", "savefig", "display"}),
        ("training", {"train", "fit", "step", "backward", "optimizer", "epochs"}), ("saving", {"save"}),
        ("loading", {"load", "read_csv", "loadtxt", "open"}), ("printing", {"print"}))
MAIN_BLOCK = 'the `if __name__ == "__main__":` block'
UNUSED_IMPORT = "an import used only by code left out"
BUILTINS = set(dir(builtins))
ANONYMOUS = {"lambda", "listcomp", "setcomp", "dictcomp", "genexpr"}


@dataclass
class Statement:
    first: int  # lines in its piece
    last: int
    code: str
    kept: bool
    what: str  # kept: "definition", "import", "constant"; left out: the kind of work
    binds: frozenset[str] = frozenset()
    uses: dict[str, str] = field(default_factory=dict)  # free name -> the definition using it ("C.__init__")


@dataclass
class Piece:
    label: str  # "cell 4", or the script's name
    source: str
    cell: bool
    statements: list[Statement] = field(default_factory=list)
    error: SyntaxError | None = None
    skipped: str = ""  # why the whole piece is not Python (a cell magic), when it is not

    @property
    def counted(self) -> bool:
        """Whether the piece held anything (an empty cell is not worth a word)."""
        return bool(self.statements or self.error or self.skipped)

    def place(self, statement: Statement) -> str:
        return self.label if self.cell else f"line {statement.first}"

    @property
    def kept(self) -> list[Statement]:
        return [s for s in self.statements if s.kept]

    @property
    def left_out(self) -> list[Statement]:
        return [s for s in self.statements if not s.kept]

    def work(self) -> str:
        """The kinds of work left out of this piece, as the log names them."""
        kinds = [self.skipped] if self.skipped else list(dict.fromkeys(s.what for s in self.left_out))
        named = [k for k in kinds if k != "top-level work"]
        return ", ".join(named or kinds)


@dataclass
class Extraction:
    pieces: list[Piece]
    cells: bool  # the pieces are a notebook's cells (else one script)

    def needed(self) -> bool:
        """Whether importing the source would do work: something other than a `__main__` block
        or an import that only such a block uses was left out (else it is fine as it is)."""
        return any(p.error for p in self.pieces) or any(
            s.what not in (MAIN_BLOCK, UNUSED_IMPORT) for p in self.pieces for s in p.left_out)

    def code(self) -> str:
        parts = []
        for piece in self.pieces:
            if piece.kept:
                parts.append((f"# {piece.label}\n" if piece.cell else "") + "\n\n".join(s.code for s in piece.kept))
        return "\n\n\n".join(parts) + "\n"

    def unmet(self) -> list[str]:
        """A message per name a kept statement uses that only a left-out statement binds."""
        bound = {n for p in self.pieces for s in p.kept for n in s.binds}
        binders: dict[str, tuple[Piece, Statement]] = {}
        for piece in self.pieces:
            for statement in piece.left_out:
                for name in statement.binds:
                    binders.setdefault(name, (piece, statement))
        messages = []
        for piece in self.pieces:
            for statement in piece.kept:
                for name, user in statement.uses.items():
                    if name in bound or name not in binders:
                        continue
                    binder_piece, binder = binders[name]
                    where = binder_piece.place(binder)
                    what = binder_piece.work() if binder_piece.cell else binder.what
                    messages.append(f"{where} defines `{name}`, which `{user}` uses, but {where} was left out "
                                    f"({what}): `{name}` is undefined in the graded code; define it without "
                                    f"running anything (a constant) or compute it inside the function")
        return list(dict.fromkeys(messages))


def extract(pieces: list[tuple[str, str | None]], cells: bool) -> Extraction:
    """Sort every top-level statement of `pieces` ((label, Python source) each; a source of
    None is a cell magic) into kept and left out."""
    parsed = [Piece(label, source or "", cells, skipped="" if source is not None else "a cell magic")
              for label, source in pieces]
    known: set[str] = set()
    for piece in parsed:
        if piece.skipped:
            continue
        try:
            tree = ast.parse(piece.source, filename=piece.label)
        except SyntaxError as exc:
            piece.error = exc
            continue
        except (ValueError, RecursionError, MemoryError) as exc:
            piece.error = SyntaxError(str(exc) or type(exc).__name__)
            continue
        try:
            for node in tree.body:
                statement = _statement(piece.source, node, known)
                if statement.kept:
                    known |= statement.binds
                piece.statements.append(statement)
        except RecursionError:  # an expression nested deeper than the walk goes
            piece.statements, piece.error = [], SyntaxError("nested too deeply to be read")
    used = {n for p in parsed for s in p.kept if s.what != "import" for n in s.uses}
    for piece in parsed:
        for statement in piece.statements:
            if statement.what == "import" and not (statement.binds & used or _always_kept(statement.code)):
                statement.kept, statement.what = False, UNUSED_IMPORT
    return Extraction(parsed, cells)


def _statement(source: str, node: ast.stmt, known: set[str]) -> Statement:
    first = min([node.lineno, *(d.lineno for d in getattr(node, "decorator_list", []))])
    code = "\n".join(f"@{ast.get_source_segment(source, d)}" for d in getattr(node, "decorator_list", []))
    code = (code + "\n" if code else "") + (ast.get_source_segment(source, node) or ast.unparse(node))
    binds, uses = _names(node)
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        return Statement(first, node.end_lineno, code, True, "import", binds, uses)
    if _is_main_block(node):
        return Statement(first, node.end_lineno, code, False, MAIN_BLOCK, binds, uses)
    kept = _kept(node, known)
    what = _kind(node) if kept else _work(node)
    return Statement(first, node.end_lineno, code, kept, what, binds, uses)


def _kept(node: ast.stmt, known: set[str]) -> bool:
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Pass, ast.Import, ast.ImportFrom)):
        return True
    if isinstance(node, ast.Expr):
        return isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)  # a docstring
    if isinstance(node, ast.Assign):
        return all(_plain_target(t) for t in node.targets) and _constant(node.value, known)
    if isinstance(node, ast.AnnAssign):
        return isinstance(node.target, ast.Name) and (node.value is None or _constant(node.value, known))
    if isinstance(node, ast.If):
        return _constant(node.test, known) and all(_kept(n, known) for n in node.body + node.orelse)
    if isinstance(node, ast.Try):
        branches = node.body + node.orelse + node.finalbody + [n for h in node.handlers for n in h.body]
        return all(_kept(n, known) for n in branches)
    return False


def _kind(node: ast.stmt) -> str:
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return "definition"
    if isinstance(node, (ast.Assign, ast.AnnAssign)):
        return "constant"
    return "docstring" if isinstance(node, ast.Expr) else "definitions"


def _plain_target(target: ast.expr) -> bool:
    if isinstance(target, (ast.Tuple, ast.List)):
        return all(_plain_target(t) for t in target.elts)
    return isinstance(target, ast.Name)


def _constant(node: ast.expr, known: set[str]) -> bool:
    """A value computed from literals and names already kept, without I/O or work."""
    if isinstance(node, ast.Constant):
        return True
    if isinstance(node, ast.Name):
        return node.id in known or node.id in BUILTINS
    if isinstance(node, ast.Attribute):
        return _constant(node.value, known)
    if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
        return all(_constant(e, known) for e in node.elts)
    if isinstance(node, ast.Dict):
        return all(k is None or _constant(k, known) for k in node.keys) and all(_constant(v, known) for v in node.values)
    if isinstance(node, ast.UnaryOp):
        return _constant(node.operand, known)
    if isinstance(node, ast.BinOp):
        return _constant(node.left, known) and _constant(node.right, known)
    if isinstance(node, ast.BoolOp):
        return all(_constant(v, known) for v in node.values)
    if isinstance(node, ast.Compare):
        return all(_constant(v, known) for v in [node.left, *node.comparators])
    if isinstance(node, ast.IfExp):  # "cuda" if torch.cuda.is_available() else "cpu"
        return all(_constant(n, known) for n in (node.test, node.body, node.orelse))
    if isinstance(node, ast.Subscript):
        return _constant(node.value, known) and _constant(node.slice, known)
    if isinstance(node, ast.Call):
        callee = _dotted(node.func)
        pure = callee in PURE_CALLS or (callee or "").startswith(PURE_MODULES)
        return (pure and _constant(node.func, known) and all(_constant(a, known) for a in node.args)
                and all(_constant(k.value, known) for k in node.keywords))
    return False


def _dotted(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = _dotted(node.value)
        return f"{base}.{node.attr}" if base else None
    return None


def _is_main_block(node: ast.stmt) -> bool:
    if not isinstance(node, ast.If) or not isinstance(node.test, ast.Compare) or len(node.test.comparators) != 1:
        return False
    sides = [node.test.left, node.test.comparators[0]]
    return isinstance(node.test.ops[0], ast.Eq) and any(isinstance(s, ast.Name) and s.id == "__name__" for s in sides) \
        and any(isinstance(s, ast.Constant) and s.value == "__main__" for s in sides)


def _always_kept(code: str) -> bool:
    return code.startswith("from __future__") or code.rstrip().endswith("*")


def _work(node: ast.stmt) -> str:
    names = {n.id for n in ast.walk(node) if isinstance(n, ast.Name)} | \
        {n.attr for n in ast.walk(node) if isinstance(n, ast.Attribute)}
    return next((kind for kind, marks in WORK if names & marks), "top-level work")


def _names(node: ast.stmt) -> tuple[frozenset[str], dict[str, str]]:
    """(the module-level names the statement binds, the free names it uses -> which part of it uses them)."""
    try:
        table = symtable.symtable(ast.unparse(node), "<statement>", "exec")
    except (SyntaxError, ValueError, RecursionError):
        return frozenset(), {}
    top = table.get_symbols()
    binds = frozenset(s.get_name() for s in top if s.is_assigned() or s.is_imported())
    owner = getattr(node, "name", None) or ", ".join(sorted(binds)) or "the kept code"
    uses = {s.get_name(): owner for s in top if s.is_referenced() and s.get_name() not in binds}
    for child in table.get_children():
        _free(child, _within(owner, child, node), uses, binds)
    for name, user in _default_users(node, owner).items():
        if uses.get(name) == owner:  # evaluated in the enclosing scope, but the method's own
            uses[name] = user
    return binds, {n: u for n, u in uses.items() if not n.startswith("__")}


def _default_users(node: ast.AST, qualified: str) -> dict[str, str]:
    """Names in the default values of the functions inside a def or class -> the function
    (`TwoLayerMLP.__init__` for `def __init__(self, in_dim=IN_DIM)`)."""
    users: dict[str, str] = {}
    for child in ast.iter_child_nodes(node):
        if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
            name = f"{qualified}.{child.name}"
            for default in [*child.args.defaults, *filter(None, child.args.kw_defaults)]:
                for found in ast.walk(default):
                    if isinstance(found, ast.Name):
                        users.setdefault(found.id, name)
        if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            for found, user in _default_users(child, f"{qualified}.{child.name}").items():
                users.setdefault(found, user)
    return users


def _within(owner: str, table: symtable.SymbolTable, node: ast.stmt | None = None) -> str:
    """The user's name of a scope: `TwoLayerMLP.__init__`; a comprehension or lambda counts
    as the function holding it, and a def or class statement's own scope as the statement."""
    name = table.get_name()
    if name in ANONYMOUS or (node is not None and name == getattr(node, "name", None)):
        return owner
    return f"{owner}.{name}"


def _free(table: symtable.SymbolTable, qualified: str, uses: dict[str, str], binds: frozenset[str]) -> None:
    """Record the global names `table` and the scopes inside it use, each with its user."""
    for symbol in table.get_symbols():
        name = symbol.get_name()
        if symbol.is_referenced() and symbol.is_global() and name not in binds:
            uses.setdefault(name, qualified)
    for child in table.get_children():
        _free(child, _within(qualified, child), uses, binds)
