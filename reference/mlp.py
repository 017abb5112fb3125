"""Reference two-layer MLP with hand-written backprop: the contract of ASSIGNMENT.md.

Dtype-generic (it computes in whatever dtype its parameters have) so that the grader can
run it in float64 as the ground truth. tests/test_reference.py proves it equal to torch
autograd.
"""

from __future__ import annotations

import math

import torch


class TwoLayerMLP:
    def __init__(self, in_dim=256, hidden_dim=512, out_dim=1, dtype=torch.float32):
        self.W1 = xavier_uniform(hidden_dim, in_dim, dtype)
        self.b1 = torch.zeros(hidden_dim, dtype=dtype)
        self.W2 = xavier_uniform(out_dim, hidden_dim, dtype)
        self.b2 = torch.zeros(out_dim, dtype=dtype)

    def forward(self, X):
        self.X = X
        self.Z1 = X @ self.W1.T + self.b1
        self.A1 = torch.relu(self.Z1)
        return self.A1 @ self.W2.T + self.b2

    def backward(self, pred, y):
        # L = sum((pred - y)^2) / (N * out_dim)
        dpred = 2.0 * (pred - y) / pred.numel()
        self.grad_W2 = dpred.T @ self.A1
        self.grad_b2 = dpred.sum(dim=0)
        dZ1 = (dpred @ self.W2) * (self.Z1 > 0).to(dpred.dtype)
        self.grad_W1 = dZ1.T @ self.X
        self.grad_b1 = dZ1.sum(dim=0)

    def step(self, lr):
        self.W1 = self.W1 - lr * self.grad_W1
        self.b1 = self.b1 - lr * self.grad_b1
        self.W2 = self.W2 - lr * self.grad_W2
        self.b2 = self.b2 - lr * self.grad_b2

    def state_dict(self):
        return {"W1": self.W1, "b1": self.b1, "W2": self.W2, "b2": self.b2}

    def load_state_dict(self, state):
        for name in ("W1", "b1", "W2", "b2"):
            setattr(self, name, state[name].clone())


def xavier_uniform(fan_out, fan_in, dtype=torch.float32):
    bound = math.sqrt(6.0 / (fan_in + fan_out))
    return (torch.rand(fan_out, fan_in, dtype=dtype) * 2.0 - 1.0) * bound


def mse_loss(pred, y):
    return ((pred - y) ** 2).mean()


def learning_rate(epoch, lr, decay_every, decay_factor):
    return lr * decay_factor ** (epoch // decay_every)


def train(model, X, y, epochs=150, batch_size=256, lr=1e-3,
          decay_every=50, decay_factor=0.5, shuffle=True):
    n = X.shape[0]
    losses = []
    for epoch in range(epochs):
        lr_e = learning_rate(epoch, lr, decay_every, decay_factor)
        order = torch.randperm(n) if shuffle else torch.arange(n)
        squared_error = 0.0
        for start in range(0, n, batch_size):
            idx = order[start:start + batch_size]
            pred = model.forward(X[idx])
            squared_error += float(((pred - y[idx]) ** 2).sum())
            model.backward(pred, y[idx])
            model.step(lr_e)
        losses.append(squared_error / (n * y.shape[1]))
    return losses
