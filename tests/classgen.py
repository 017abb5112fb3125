"""A synthetic class for batch tests and benchmarks: N students, a stable mix of correct and
typically buggy submissions, each derived from submissions/example-correct/mlp.py by one
small textual mutation.

    from classgen import make_class           # tests/ is on sys.path under pytest
    names = make_class(tmp_path, 20, seed=0)      # tmp_path/submissions/student-000/mlp.py ...

Names are ``student-000``, ``student-001``, ... (wider when N > 1000). Which student gets
which bug depends only on (N, seed); the mix follows `MIX` (largest-remainder rounding), so
100 students hold exactly the percentages below. Every mutation must match the example
exactly once: if example-correct changes so that a mutation no longer applies, the generator
fails loudly instead of silently writing a correct submission under a buggy name.

`roster.json` next to ``submissions/`` records each student's kind. When
submissions/example-correct/model.pth exists it is copied into every submission (the
checkpoint checks then have something to load); pass ``checkpoint=False`` to skip it.
"""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "submissions" / "example-correct"

_CTOR_OLD = """\
        bound1 = math.sqrt(6 / (in_dim + hidden_dim))
        bound2 = math.sqrt(6 / (hidden_dim + out_dim))
        self.W1 = torch.empty(hidden_dim, in_dim).uniform_(-bound1, bound1)
        self.b1 = torch.zeros(hidden_dim)
        self.W2 = torch.empty(out_dim, hidden_dim).uniform_(-bound2, bound2)
        self.b2 = torch.zeros(out_dim)
"""
_CTOR_HARDCODED = """\
        bound1 = math.sqrt(6 / (256 + 512))
        bound2 = math.sqrt(6 / (512 + 1))
        self.W1 = torch.empty(512, 256).uniform_(-bound1, bound1)
        self.b1 = torch.zeros(512)
        self.W2 = torch.empty(1, 512).uniform_(-bound2, bound2)
        self.b2 = torch.zeros(1)
"""

# kind -> (what the bug is, [(old, new), ...]); each `old` must occur exactly once.
MUTATIONS: dict[str, tuple[str, list[tuple[str, str]]]] = {
    "correct": ("no bug", []),
    "forgot-factor-2": ("dL/dpred without its factor 2", [
        ("dout = 2 * (pred - y) / N", "dout = (pred - y) / N"),
    ]),
    "no-lr-decay": ("the learning rate is never decayed", [
        ("lr_now = lr * decay_factor ** (epoch // decay_every)", "lr_now = lr"),
    ]),
    "hardcoded-dims": ("the constructor ignores its arguments (256 -> 512 -> 1)", [
        (_CTOR_OLD, _CTOR_HARDCODED),
    ]),
    "sign-flip-step": ("step() adds the gradient instead of subtracting it", [
        ("self.W1 = self.W1 - lr * self.grad_W1", "self.W1 = self.W1 + lr * self.grad_W1"),
        ("self.b1 = self.b1 - lr * self.grad_b1", "self.b1 = self.b1 + lr * self.grad_b1"),
        ("self.W2 = self.W2 - lr * self.grad_W2", "self.W2 = self.W2 + lr * self.grad_W2"),
        ("self.b2 = self.b2 - lr * self.grad_b2", "self.b2 = self.b2 + lr * self.grad_b2"),
    ]),
    "bias-grad-averaged": ("bias gradients averaged over the batch a second time", [
        ("self.grad_b2 = dout.sum(0)", "self.grad_b2 = dout.mean(0)"),
        ("self.grad_b1 = dz1.sum(0)", "self.grad_b1 = dz1.mean(0)"),
    ]),
    "no-relu-derivative": ("backward ignores the ReLU's derivative", [
        ("dz1 = da1 * (self.z1 > 0).float()", "dz1 = da1"),
    ]),
    "loss-sum": ("mse_loss sums instead of averaging", [
        ("return torch.mean((pred - y) ** 2)", "return torch.sum((pred - y) ** 2)"),
    ]),
    "trains-on-import": ("the training script runs at import time", [
        ('if __name__ == "__main__":', "if True:  # trains at import"),
    ]),
    "syntax-error": ("a syntax error (missing colon)", [
        ("    def forward(self, X):", "    def forward(self, X)"),
    ]),
    "exits-on-import": ("sys.exit() at import time", [
        ("import torch\n", "import torch\n\nsys.exit(\"leftover debugging exit\")\n"),
    ]),
    "infinite-loop-forward": ("forward never returns", [
        ("        # cache what backward needs\n", "        while True:  # waiting for a bug fix\n            pass\n"),
    ]),
    # Not in MIX: a hang that burns no CPU, for tests that need a timeout cheaply.
    "sleeps-in-forward": ("forward sleeps for an hour", [
        ("        # cache what backward needs\n", "        import time\n        time.sleep(3600)  # a debugging pause left in\n"),
    ]),
}

# Percentages of each kind in a class (they sum to 100); order breaks rounding ties. Kinds
# left out of MIX are only written when asked for by name (make_class(..., kinds=[...])).
MIX: dict[str, int] = {
    "correct": 30,
    "forgot-factor-2": 10,
    "no-lr-decay": 10,
    "hardcoded-dims": 8,
    "sign-flip-step": 8,
    "bias-grad-averaged": 8,
    "no-relu-derivative": 8,
    "trains-on-import": 6,
    "loss-sum": 4,
    "syntax-error": 4,
    "exits-on-import": 2,
    "infinite-loop-forward": 2,
}
assert sum(MIX.values()) == 100 and set(MIX) <= set(MUTATIONS)


def student_name(index: int, n: int) -> str:
    return f"student-{index:0{max(3, len(str(n - 1)))}d}"


def mutate(source: str, kind: str) -> str:
    """The example's source with one kind of bug."""
    _, edits = MUTATIONS[kind]
    for old, new in edits:
        count = source.count(old)
        if count != 1:
            raise ValueError(f"mutation {kind!r}: {old!r} occurs {count} times in example-correct/mlp.py, expected once")
        source = source.replace(old, new)
    return source.replace("(example of a correct submission)", f"(synthetic: {kind})")


def class_kinds(n: int, seed: int) -> list[str]:
    """The kind of each of n students: counts by largest remainder from MIX, order shuffled by seed."""
    quotas = {kind: n * pct / 100 for kind, pct in MIX.items()}
    counts = {kind: int(q) for kind, q in quotas.items()}
    order = list(MIX)
    by_remainder = sorted(order, key=lambda k: (-(quotas[k] - counts[k]), order.index(k)))
    for kind in by_remainder[: n - sum(counts.values())]:
        counts[kind] += 1
    pool = [kind for kind in order for _ in range(counts[kind])]
    random.Random(seed).shuffle(pool)
    return pool


def make_class(root: Path, n: int, seed: int, *, kinds: list[str] | None = None,
               checkpoint: bool = True) -> list[str]:
    """Write root/submissions/<name>/mlp.py for n students; return their names in order.

    `kinds` (one per student) overrides the mix, for tests that need particular bugs."""
    root = Path(root)
    if kinds is None:
        kinds = class_kinds(n, seed)
    elif len(kinds) != n:
        raise ValueError(f"{len(kinds)} kinds for {n} students")
    unknown = sorted(set(kinds) - set(MUTATIONS))
    if unknown:
        raise ValueError(f"unknown kinds: {', '.join(unknown)} (known: {', '.join(MUTATIONS)})")
    source = (EXAMPLE / "mlp.py").read_text(encoding="utf-8")
    model = EXAMPLE / "model.pth"
    names, roster = [], {}
    for index, kind in enumerate(kinds):
        name = student_name(index, n)
        folder = root / "submissions" / name
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "mlp.py").write_text(mutate(source, kind), encoding="utf-8")
        if checkpoint and model.is_file():
            shutil.copyfile(model, folder / "model.pth")
        names.append(name)
        roster[name] = kind
    (root / "roster.json").write_text(json.dumps(roster, indent=1) + "\n", encoding="utf-8")
    return names


def roster(root: Path) -> dict[str, str]:
    """name -> kind of a class written by make_class."""
    return json.loads((Path(root) / "roster.json").read_text(encoding="utf-8"))
