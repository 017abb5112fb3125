"""Correct: ReLU'(0) taken as 1 through the mask (z1 >= 0)."""

import math
import sys

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
        dz1 = da1 * (self.z1 >= 0).float()
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


if __name__ == "__main__":
    data = torch.load(sys.argv[1] if len(sys.argv) > 1 else "data/train.pt")
    torch.manual_seed(0)
    model = TwoLayerMLP()
    losses = train(model, data["X"], data["y"])
    print("final training loss", losses[-1])
    torch.save(model.state_dict(), sys.argv[2] if len(sys.argv) > 2 else "model.pth")
