"""A course's own variant (tests/test_specs.py writes its spec): sin-fit with the (out, in)
layout, a fixed-std normal init, N(0, 0.5^2), and its own names: hidden, readout and
their gradients d_hidden, d_readout."""
import sys

import torch


class TwoLayerMLP:
    def __init__(self, in_dim=1, hidden_dim=32, out_dim=1):
        self.hidden = torch.randn(hidden_dim, in_dim) * 0.5
        self.readout = torch.randn(out_dim, hidden_dim) * 0.5

    def forward(self, X):
        self.x = X
        self.h = torch.tanh(X @ self.hidden.T)
        return self.h @ self.readout.T

    def backward(self, pred, y):
        d = 2 * (pred - y) / pred.numel()
        self.d_readout = d.T @ self.h
        self.d_hidden = ((d @ self.readout) * (1 - self.h ** 2)).T @ self.x

    def step(self, lr):
        self.hidden = self.hidden - lr * self.d_hidden
        self.readout = self.readout - lr * self.d_readout

    def state_dict(self):
        return {"hidden": self.hidden, "readout": self.readout}

    def load_state_dict(self, state):
        self.hidden, self.readout = state["hidden"].clone(), state["readout"].clone()


def mse_loss(pred, y):
    return torch.mean((pred - y) ** 2)


def train(model, X, y, epochs=300, batch_size=32, lr=0.05, decay_every=100, decay_factor=0.5, shuffle=True):
    n, history = X.shape[0], []
    for epoch in range(epochs):
        rate = lr * decay_factor ** (epoch // decay_every)
        order = torch.randperm(n) if shuffle else torch.arange(n)
        total = 0.0
        for start in range(0, n, batch_size):
            idx = order[start:start + batch_size]
            pred = model.forward(X[idx])
            total += mse_loss(pred, y[idx]).item() * len(idx)
            model.backward(pred, y[idx])
            model.step(rate)
        history.append(total / n)
    return history


if __name__ == "__main__":
    data = torch.load(sys.argv[1])
    torch.manual_seed(0)
    model = TwoLayerMLP()
    train(model, data["X"], data["y"])
    torch.save(model.state_dict(), sys.argv[2])
