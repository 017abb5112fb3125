"""Homework 3 (digits): two-layer MLP with softmax cross-entropy and L2 weight decay.
forward() returns class probabilities.
"""
import math

import torch


def softmax(z):
    z = z - z.max(dim=1, keepdim=True).values   # subtract the row max for stability
    e = torch.exp(z)
    return e / e.sum(dim=1, keepdim=True)


class TwoLayerMLP:
    def __init__(self, in_dim=64, hidden_dim=64, out_dim=10, weight_decay=1e-3):
        self.lam = weight_decay
        # He init for ReLU layers
        self.W1 = torch.randn(hidden_dim, in_dim) * math.sqrt(2.0 / in_dim)
        self.b1 = torch.zeros(hidden_dim)
        self.W2 = torch.randn(out_dim, hidden_dim) * math.sqrt(2.0 / hidden_dim)
        self.b2 = torch.zeros(out_dim)

    def forward(self, X):
        self.X = X
        self.Z1 = X @ self.W1.T + self.b1
        self.A1 = torch.relu(self.Z1)
        return softmax(self.A1 @ self.W2.T + self.b2)   # class probabilities

    def backward(self, logits, y):
        N = logits.shape[0]
        P = logits.clone()   # forward already gives the probabilities
        P[torch.arange(N), y] -= 1.0
        dZ2 = P / N
        self.grad_W2 = dZ2.T @ self.A1 + self.lam * self.W2
        self.grad_b2 = dZ2.sum(dim=0)
        dZ1 = (dZ2 @ self.W2) * (self.Z1 > 0).float()
        self.grad_W1 = dZ1.T @ self.X + self.lam * self.W1
        self.grad_b1 = dZ1.sum(dim=0)

    def step(self, lr):
        self.W1 = self.W1 - lr * self.grad_W1
        self.b1 = self.b1 - lr * self.grad_b1
        self.W2 = self.W2 - lr * self.grad_W2
        self.b2 = self.b2 - lr * self.grad_b2

    def state_dict(self):
        return {"W1": self.W1, "b1": self.b1, "W2": self.W2, "b2": self.b2}

    def load_state_dict(self, state):
        self.W1 = state["W1"].clone()
        self.b1 = state["b1"].clone()
        self.W2 = state["W2"].clone()
        self.b2 = state["b2"].clone()


def cross_entropy_loss(logits, y):
    z = logits - logits.max(dim=1, keepdim=True).values
    log_p = z - torch.log(torch.exp(z).sum(dim=1, keepdim=True))
    return -log_p[torch.arange(logits.shape[0]), y].mean()


def train(model, X, y, epochs=30, batch_size=32, lr=0.1, decay_every=10, decay_factor=0.5, shuffle=True):
    N = X.shape[0]
    losses = []
    for epoch in range(epochs):
        cur_lr = lr * decay_factor ** (epoch // decay_every)
        idx = torch.randperm(N) if shuffle else torch.arange(N)
        running = 0.0
        for start in range(0, N, batch_size):
            batch = idx[start:start + batch_size]
            logits = model.forward(X[batch])
            running += cross_entropy_loss(logits, y[batch]).item() * len(batch)
            model.backward(logits, y[batch])
            model.step(cur_lr)
        losses.append(running / N)
    return losses
