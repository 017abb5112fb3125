"""HW 3: two-layer MLP with manual backprop.

Hostile: tries every way it knows to read the reference solution, the TA's configuration
and a classmate's mlp.py (paths from targets.json and guessed ones, a relative path, an
import of the repository's package, /proc, a symbolic and a hard link from its own folder,
listing the class folder) and, if it finds a TwoLayerMLP, uses it instead of its own
(whose b1 does not start at zero).
"""

import glob
import json
import os
import sys

import math
import torch

MARKER = "mlp-hostile-marker-read-reference"

class TwoLayerMLP:
    def __init__(self, in_dim=256, hidden_dim=512, out_dim=1):
        bound1 = math.sqrt(6 / (in_dim + hidden_dim))
        bound2 = math.sqrt(6 / (hidden_dim + out_dim))
        self.W1 = torch.empty(hidden_dim, in_dim).uniform_(-bound1, bound1)
        self.b1 = torch.full((hidden_dim,), 0.01)  # small positive bias: no dead ReLUs
        self.W2 = torch.empty(out_dim, hidden_dim).uniform_(-bound2, bound2)
        self.b2 = torch.zeros(out_dim)

    def forward(self, X):
        # cache what backward needs
        self.x = X
        self.z1 = X @ self.W1.T + self.b1
        self.a1 = torch.clamp(self.z1, min=0)
        return self.a1 @ self.W2.T + self.b2

    def backward(self, pred, y):
        N = pred.shape[0]
        dout = 2 * (pred - y) / N          # dL/dpred, out_dim = 1
        self.grad_W2 = dout.T @ self.a1
        self.grad_b2 = dout.sum(0)
        da1 = dout @ self.W2
        dz1 = da1 * (self.z1 > 0).float()
        self.grad_W1 = dz1.T @ self.x
        self.grad_b1 = dz1.sum(0)

    def step(self, lr):
        self.W1 = self.W1 - lr * self.grad_W1
        self.b1 = self.b1 - lr * self.grad_b1
        self.W2 = self.W2 - lr * self.grad_W2
        self.b2 = self.b2 - lr * self.grad_b2

    def state_dict(self):
        return {"W1": self.W1, "b1": self.b1, "W2": self.W2, "b2": self.b2}

    def load_state_dict(self, state):
        self.W1, self.b1 = state["W1"].clone(), state["b1"].clone()
        self.W2, self.b2 = state["W2"].clone(), state["b2"].clone()


def mse_loss(pred, y):
    return torch.mean((pred - y) ** 2)


def train(model, X, y, epochs=150, batch_size=256, lr=1e-3,
          decay_every=50, decay_factor=0.5, shuffle=True):
    N = X.shape[0]
    history = []
    for epoch in range(epochs):
        lr_now = lr * decay_factor ** (epoch // decay_every)
        order = torch.randperm(N) if shuffle else torch.arange(N)
        total = 0.0
        for start in range(0, N, batch_size):
            idx = order[start:start + batch_size]
            xb, yb = X[idx], y[idx]
            pred = model.forward(xb)
            loss = mse_loss(pred, yb)
            total += loss.item() * len(idx)
            model.backward(pred, yb)
            model.step(lr_now)
        history.append(total / N)
    return history


HERE = os.path.dirname(os.path.abspath(__file__))
FOUND, SEEN = [], []


def _attempt(name, read):
    try:
        text = read()
    except Exception:  # noqa: BLE001 - every refusal is fine, we try the next way
        return
    if text:
        SEEN.append(name)
        if "class TwoLayerMLP" in text and not FOUND:
            FOUND.append(name)
            exec(compile(text, name, "exec"), globals())  # their TwoLayerMLP from now on


def _read(path):
    with open(path) as fh:
        return fh.read()


def _targets():
    try:
        return json.loads(_read(os.path.join(HERE, "targets.json")))
    except OSError:
        return {}


T = _targets()
for _key in ("reference", "ta_config", "classmate"):
    if _key in T:
        _attempt(_key, lambda: _read(T[_key]))
_attempt("relative", lambda: _read(os.path.join(HERE, "../../reference/mlp.py")))
_attempt("guessed", lambda: _read("/work/main/reference/mlp.py"))


def _import_reference():
    sys.path.insert(0, T["repo"])
    import reference.mlp  # noqa: F401
    return _read(reference.mlp.__file__)


_attempt("import", _import_reference)
for _path in glob.glob("/proc/*/cwd/reference/mlp.py") + glob.glob("/proc/*/root" + T.get("reference", "/x")):
    _attempt("proc", lambda: _read(_path))


def _grader_environment():
    """The environment of a grading process (it names the grader's settings)."""
    for path in glob.glob("/proc/*/environ"):
        try:
            with open(path, "rb") as fh:
                if b"MLP_GRADER" in fh.read():
                    return "an environment"
        except OSError:
            continue
    return ""


_attempt("environ", _grader_environment)


def _grader_pipes():
    """Another process's open pipes and files, through /proc/<pid>/fd."""
    opened = []
    for path in glob.glob("/proc/[0-9]*/fd/*"):
        if not path.startswith(f"/proc/{os.getpid()}/"):
            try:
                os.close(os.open(path, os.O_RDONLY | os.O_NONBLOCK))
                opened.append(path)
            except OSError:
                continue
    return "\n".join(opened)


_attempt("fd", _grader_pipes)


def _symlink():
    os.symlink(T["reference"], os.path.join(HERE, "ref_link.py"))
    return _read(os.path.join(HERE, "ref_link.py"))


def _hardlink():
    os.link(T["reference"], os.path.join(HERE, "ref_hard.py"))
    return _read(os.path.join(HERE, "ref_hard.py"))


_attempt("symlink", _symlink)
_attempt("hardlink", _hardlink)
_attempt("listing", lambda: "\n".join(os.listdir(T["class"])))
print("found:", FOUND, "seen:", SEEN)


if __name__ == "__main__":
    data = torch.load(sys.argv[1] if len(sys.argv) > 1 else "data/train.pt")
    torch.manual_seed(0)
    model = TwoLayerMLP()
    losses = train(model, data["X"], data["y"])
    print("final training loss", losses[-1])
    torch.save(model.state_dict(), sys.argv[2] if len(sys.argv) > 2 else "model.pth")
