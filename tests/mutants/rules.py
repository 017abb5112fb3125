"""Mutation testing of the grader (issue 15): one-bug mutants and correct rewrites of the
bundled correct example of each assignment.

A rule is a textual replacement in an example's mlp.py. A bug rule names the categories
that must lose points (its own) and the checks that may lose points as consequences
(train() calls backward(), so a backward mistake may move the trajectory); a rewrite
(`lose` empty) is correct code in another style the handout allows and must keep every
point. A rule applies to every example whose source holds its text (each occurrence is
replaced), so the training loop's rules run on all three assignments.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

SUBMISSIONS = Path(__file__).parents[2] / "submissions"
EXAMPLES = {"mlp-regression": "example-correct", "mlp-classification": "example-digits-correct",
            "sin-fit": "example-sin-correct"}
# A backward mistake also moves train()'s trajectory and may slow its loss.
THROUGH_TRAINING = ("training.trajectory", "training.loss_falls")


@dataclass(frozen=True)
class Rule:
    kind: str
    old: str
    new: str
    lose: tuple[str, ...] = ()
    may_lose: tuple[str, ...] = ()
    hint: str | None = None  # the diagnosis that must name the mistake; None: no signature exists

    @property
    def correct(self) -> bool:
        return not self.lose


@dataclass(frozen=True)
class Mutant:
    assignment: str
    rule: Rule
    source: str

    @property
    def name(self) -> str:
        return f"{self.assignment}:{self.rule.kind}"

    def write(self, folder: Path) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "mlp.py").write_text(self.source, encoding="utf-8")
        (folder / "assignment.toml").write_text(f'assignment = "{self.assignment}"\n', encoding="utf-8")
        return folder


RULES = (
    # -- correct rewrites ------------------------------------------------------------------
    Rule("rewrite.relu_grad_one_at_zero", "(self.z1 > 0)", "(self.z1 >= 0)"),
    Rule("rewrite.relu_by_mask", "torch.clamp(self.z1, min=0)", "self.z1 * (self.z1 > 0)"),
    Rule("rewrite.transpose_method", "self.W1.T", "self.W1.t()"),
    Rule("rewrite.pow_schedule", "lr * decay_factor ** (epoch // decay_every)",
         "lr * math.pow(decay_factor, epoch // decay_every)"),
    Rule("rewrite.batch_rows_from_index", "* len(idx)", "* idx.shape[0]"),
    Rule("rewrite.logsumexp_softmax",
         "probs = torch.exp(shifted)\n        probs = probs / probs.sum(dim=1, keepdim=True)",
         "probs = torch.exp(logits - torch.logsumexp(logits, dim=1, keepdim=True))"),
    Rule("rewrite.sech_squared", "(1 - self.h ** 2)", "(1 / torch.cosh(self.x @ self.W1) ** 2)"),
    # -- backward ----------------------------------------------------------------------------
    Rule("backward.sign_flipped", "2 * (pred - y)", "2 * (y - pred)", ("backward",), THROUGH_TRAINING, hint="backward.sign_flipped"),
    Rule("backward.bias_averaged", "self.grad_b2 = dout.sum(0)", "self.grad_b2 = dout.mean(0)",
         ("backward",), THROUGH_TRAINING, hint="backward.bias_averaged"),
    Rule("backward.relu_derivative_missing", "da1 * (self.z1 > 0).float()", "da1", ("backward",), THROUGH_TRAINING, hint="backward.relu_derivative_missing"),
    Rule("backward.tanh_derivative", "(1 - self.h ** 2)", "(1 - self.h)", ("backward",), THROUGH_TRAINING, hint="backward.tanh_derivative_wrong"),
    Rule("backward.batch_maximum", "logits - logits.max(dim=1, keepdim=True).values", "logits - logits.max()",
         ("backward",)),
    Rule("backward.decay_hard_coded", "self.weight_decay = weight_decay", "self.weight_decay = 1e-3", ("backward",)),
    Rule("backward.decay_missing_on_W2", " + self.weight_decay * self.W2", "", ("backward",)),
    # -- init ----------------------------------------------------------------------------------
    Rule("init.nonzero_bias", "self.b1 = torch.zeros(hidden_dim)", "self.b1 = torch.full((hidden_dim,), 0.01)",
         ("init",), hint="init.nonzero_biases"),
    Rule("init.normal_not_uniform", "torch.empty(hidden_dim, in_dim).uniform_(-bound1, bound1)",
         "torch.randn(hidden_dim, in_dim) * (bound1 / math.sqrt(3))", ("init",), hint="init.normal_not_uniform"),
    Rule("init.fan_out_not_in", "torch.randn(hidden_dim, in_dim) * math.sqrt(2 / in_dim)",
         "torch.randn(hidden_dim, in_dim) * math.sqrt(2 / hidden_dim)", ("init",), hint="init.fans_swapped"),
    Rule("init.uniform_not_normal", "torch.randn(in_dim, hidden_dim) * math.sqrt(2 / (in_dim + hidden_dim))",
         "torch.empty(in_dim, hidden_dim).uniform_(-1, 1) * math.sqrt(6 / (in_dim + hidden_dim))", ("init",), hint="init.uniform_not_normal"),
    # -- forward ---------------------------------------------------------------------------
    Rule("forward.changes_input", "self.x = X\n        self.z1 = X @",
         "self.x = X.clone()\n        X.add_(0.5)\n        self.z1 = self.x @", ("forward",)),
    # -- training --------------------------------------------------------------------------
    Rule("training.step_adds", "self.W1 = self.W1 - lr", "self.W1 = self.W1 + lr", ("training",), hint="training.step_adds"),
    Rule("training.no_lr_decay", "lr * decay_factor ** (epoch // decay_every)", "lr", ("training",), hint="training.no_lr_decay"),
    Rule("training.drops_last_batch", "range(0, N, batch_size)", "range(0, N - N % batch_size, batch_size)",
         ("training",), hint="training.last_batch_dropped"),
    Rule("training.loss_not_weighted", "* len(idx)", "", ("training",), hint="training.loss_not_weighted"),
)


def mutants() -> list[Mutant]:
    """Every rule applied to every example whose source holds its text."""
    found = []
    for assignment, example in EXAMPLES.items():
        source = (SUBMISSIONS / example / "mlp.py").read_text(encoding="utf-8")
        for rule in RULES:
            if rule.old in source:
                found.append(Mutant(assignment, rule, source.replace(rule.old, rule.new)))
    return found
