"""HW 3: two-layer MLP with manual backprop.

Hostile: torch.autograd imported by importlib under a computed name.
"""

import math

import torch
import importlib


class TwoLayerMLP:
    def __init__(self, in_dim=256, hidden_dim=512, out_dim=1):
        bound1 = math.sqrt(6 / (in_dim + hidden_dim))
        bound2 = math.sqrt(6 / (hidden_dim + out_dim))
        self.W1 = torch.empty(hidden_dim, in_dim).uniform_(-bound1, bound1)
        self.b1 = torch.zeros(hidden_dim)
        self.W2 = torch.empty(out_dim, hidden_dim).uniform_(-bound2, bound2)
        self.b2 = torch.zeros(out_dim)

    def forward(self, X):
        self.x = X
        self.z1 = X @ self.W1.T + self.b1
        self.a1 = torch.clamp(self.z1, min=0)
        return self.a1 @ self.W2.T + self.b2

    def backward(self, pred, y):
        engine = importlib.import_module("torch." + "auto" + "grad")
        with torch.enable_grad():
            params = [p.detach().clone().requires_grad_() for p in (self.W1, self.b1, self.W2, self.b2)]
            grads = engine.grad(_loss(*params, self.x, y), params)
        self.grad_W1, self.grad_b1, self.grad_W2, self.grad_b2 = (g.detach() for g in grads)

    def step(self, lr):
        self.W1 = self.W1 - lr * self.grad_W1
        self.b1 = self.b1 - lr * self.grad_b1
        self.W2 = self.W2 - lr * self.grad_W2
        self.b2 = self.b2 - lr * self.grad_b2

def _loss(W1, b1, W2, b2, X, y):
    pred = torch.clamp(X @ W1.T + b1, min=0) @ W2.T + b2
    return ((pred - y) ** 2).mean()
