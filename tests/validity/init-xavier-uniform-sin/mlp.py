"""One mistake: Xavier uniform (same standard deviation) instead of the handout's Xavier normal."""

import math
import sys

import torch


class TwoLayerMLP:
    def __init__(self, in_dim=1, hidden_dim=32, out_dim=1):
        a1 = math.sqrt(6 / (in_dim + hidden_dim))
        a2 = math.sqrt(6 / (hidden_dim + out_dim))
        self.W1 = torch.empty(in_dim, hidden_dim).uniform_(-a1, a1)
        self.W2 = torch.empty(hidden_dim, out_dim).uniform_(-a2, a2)

    def forward(self, X):
        self.x = X
        self.h = torch.tanh(X @ self.W1)
        return self.h @ self.W2

    def backward(self, pred, y):
        dpred = 2 * (pred - y) / pred.numel()
        self.grad_W2 = self.h.T @ dpred
        dz = (dpred @ self.W2.T) * (1 - self.h ** 2)
        self.grad_W1 = self.x.T @ dz

    def step(self, lr):
        self.W1 = self.W1 - lr * self.grad_W1
        self.W2 = self.W2 - lr * self.grad_W2

    def state_dict(self):
        return {"W1": self.W1, "W2": self.W2}

    def load_state_dict(self, state):
        self.W1, self.W2 = state["W1"].clone(), state["W2"].clone()


def mse_loss(pred, y):
    return torch.mean((pred - y) ** 2)


def train(model, X, y, epochs=300, batch_size=32, lr=0.05,
          decay_every=100, decay_factor=0.5, shuffle=True):
    N = X.shape[0]
    history = []
    for epoch in range(epochs):
        lr_now = lr * decay_factor ** (epoch // decay_every)
        order = torch.randperm(N) if shuffle else torch.arange(N)
        total = 0.0
        for start in range(0, N, batch_size):
            idx = order[start:start + batch_size]
            pred = model.forward(X[idx])
            total += mse_loss(pred, y[idx]).item() * len(idx)
            model.backward(pred, y[idx])
            model.step(lr_now)
        history.append(total / N)
    return history


if __name__ == "__main__":
    data = torch.load(sys.argv[1] if len(sys.argv) > 1 else "data/sin-train.pt")
    torch.manual_seed(0)
    model = TwoLayerMLP()
    losses = train(model, data["X"], data["y"])
    print("final training loss", losses[-1])
    torch.save(model.state_dict(), sys.argv[2] if len(sys.argv) > 2 else "model.pth")
