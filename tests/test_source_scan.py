"""The autograd scan: what it finds in graded code, and what it leaves alone."""

from __future__ import annotations

from grader import spec
from grader.checks.source_scan import scan

REGRESSION = spec.assignment("mlp-regression").contract

GRADED_AUTOGRAD = '''
import torch
class TwoLayerMLP:
    def backward(self, pred, y):
        loss = ((pred - y) ** 2).mean()
        loss.backward()
        self.grad_W1 = self.W1.grad
'''

SCRIPT_ONLY = '''
import torch
class TwoLayerMLP:
    def backward(self, pred, y):
        self.grad = {}
        self.grad_b2 = (2 * (pred - y) / len(y)).sum(0)
def train(model, X, y):
    model.backward(model.forward(X), y)
if __name__ == "__main__":
    w = torch.zeros(3, requires_grad=True)
    (w * 2).sum().backward()   # checking my gradients against autograd
'''


def test_autograd_inside_the_class_is_found_with_line_numbers():
    findings = [f for f in scan(REGRESSION, GRADED_AUTOGRAD) if f.graded]
    assert [(f.line, f.what.split(" ")[0]) for f in findings] == [(6, "loss.backward()"), (7, "self.W1.grad")]


def test_a_verification_script_is_information_not_a_violation():
    findings = scan(REGRESSION, SCRIPT_ONLY)
    assert not [f for f in findings if f.graded]
    assert sorted(f.line for f in findings) == [10, 11]


def test_nn_layers_and_autograd_imports_are_found():
    source = "from torch.autograd import grad\nimport torch\nclass TwoLayerMLP:\n    def __init__(self):\n        self.fc = torch.nn.Linear(2, 3)\n"
    whats = [f.what for f in scan(REGRESSION, source)]
    assert whats[0] == "import of torch.autograd.grad"
    assert whats[1].startswith("torch.nn.Linear")


def test_a_helper_layer_with_its_own_backward_is_not_autograd():
    source = '''
class Linear:
    def backward(self, grad):
        return grad
class TwoLayerMLP:
    def backward(self, pred, y):
        g = self.fc2.backward(2 * (pred - y) / len(y))
        loss = (pred - y).sum()
        loss.backward()
'''
    assert [(f.line, f.graded) for f in scan(REGRESSION, source)] == [(9, True)]


def test_nn_loss_and_activation_modules_of_the_other_assignments_are_found():
    code = '''
import torch
class TwoLayerMLP:
    def forward(self, X):
        self.act = torch.nn.Tanh()
        return self.act(X @ self.W1) @ self.W2
def cross_entropy_loss(logits, y):
    return torch.nn.CrossEntropyLoss()(logits, y)
'''
    classification = spec.assignment("mlp-classification").contract  # its loss function is graded code
    found = [(f.line, f.what.split(" ")[0]) for f in scan(classification, code) if f.graded]
    assert found == [(5, "torch.nn.Tanh"), (8, "torch.nn.CrossEntropyLoss")]
    assert [f.line for f in scan(REGRESSION, code) if f.graded] == [5]  # mlp-regression grades mse_loss, not this
