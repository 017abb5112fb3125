"""HW 3: two-layer MLP with manual backprop, built from my own layers (layers.py).

Correct: the layers' backward(grad) methods are hand-written; nothing here is autograd.
"""

import torch

from layers import Linear, ReLU


class TwoLayerMLP:
    def __init__(self, in_dim=256, hidden_dim=512, out_dim=1):
        self.fc1, self.act, self.fc2 = Linear(in_dim, hidden_dim), ReLU(), Linear(hidden_dim, out_dim)

    # the grader reads and sets W1, b1, W2, b2: they live in the layers
    W1 = property(lambda self: self.fc1.W, lambda self, v: setattr(self.fc1, "W", v))
    b1 = property(lambda self: self.fc1.b, lambda self, v: setattr(self.fc1, "b", v))
    W2 = property(lambda self: self.fc2.W, lambda self, v: setattr(self.fc2, "W", v))
    b2 = property(lambda self: self.fc2.b, lambda self, v: setattr(self.fc2, "b", v))
    grad_W1 = property(lambda self: self.fc1.grad_W, lambda self, v: setattr(self.fc1, "grad_W", v))
    grad_b1 = property(lambda self: self.fc1.grad_b, lambda self, v: setattr(self.fc1, "grad_b", v))
    grad_W2 = property(lambda self: self.fc2.grad_W, lambda self, v: setattr(self.fc2, "grad_W", v))
    grad_b2 = property(lambda self: self.fc2.grad_b, lambda self, v: setattr(self.fc2, "grad_b", v))

    def forward(self, X):
        return self.fc2.forward(self.act.forward(self.fc1.forward(X)))

    def backward(self, pred, y):
        grad = 2 * (pred - y) / pred.shape[0]
        self.fc1.backward(self.act.backward(self.fc2.backward(grad)))

    def step(self, lr):
        for layer in (self.fc1, self.fc2):
            layer.step(lr=lr)
