"""sin-fit: y = sin(x) with a bias-free 1 -> 32 -> 1 tanh network, weights used as X @ W.
Hidden layer with ReLU.
"""
import math

import torch


class TwoLayerMLP:
    def __init__(self, in_dim=1, hidden_dim=32, out_dim=1):
        std1 = math.sqrt(2.0 / (in_dim + hidden_dim))     # Xavier normal
        std2 = math.sqrt(2.0 / (hidden_dim + out_dim))
        self.W1 = torch.randn(in_dim, hidden_dim) * std1
        self.W2 = torch.randn(hidden_dim, out_dim) * std2

    def forward(self, X):
        self.X = X
        self.h = X @ self.W1
        self.a = torch.relu(self.h)
        return self.a @ self.W2

    def backward(self, pred, y):
        n = pred.shape[0] * pred.shape[1]
        d_pred = 2.0 * (pred - y) / n
        self.grad_W2 = self.a.T @ d_pred
        d_a = d_pred @ self.W2.T
        d_h = d_a * (self.h > 0).float()
        self.grad_W1 = self.X.T @ d_h

    def step(self, lr):
        self.W1 = self.W1 - lr * self.grad_W1
        self.W2 = self.W2 - lr * self.grad_W2

    def state_dict(self):
        return {"W1": self.W1, "W2": self.W2}

    def load_state_dict(self, state):
        self.W1 = state["W1"].clone()
        self.W2 = state["W2"].clone()


def mse_loss(pred, y):
    return ((pred - y) ** 2).mean()


def train(model, X, y, epochs=300, batch_size=32, lr=0.05, decay_every=100, decay_factor=0.5, shuffle=True):
    N = X.shape[0]
    history = []
    for epoch in range(epochs):
        lr_e = lr * decay_factor ** (epoch // decay_every)
        order = torch.randperm(N) if shuffle else torch.arange(N)
        total = 0.0
        for i in range(0, N, batch_size):
            rows = order[i:i + batch_size]
            pred = model.forward(X[rows])
            total += mse_loss(pred, y[rows]).item() * len(rows)
            model.backward(pred, y[rows])
            model.step(lr_e)
        history.append(total / N)
    return history
