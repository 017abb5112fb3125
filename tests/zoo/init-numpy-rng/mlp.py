"""Homework 2 - MLP with manual backprop.

I am more comfortable with numpy, so the maths is done in numpy and converted back to
torch tensors at the boundaries (the handout wants torch tensors in and out).
"""
import numpy as np
import torch


def _np(t):
    return t.detach().cpu().numpy()


class TwoLayerMLP:
    def __init__(self, in_dim=256, hidden_dim=512, out_dim=1):
        lim1 = np.sqrt(6.0 / (in_dim + hidden_dim))
        lim2 = np.sqrt(6.0 / (hidden_dim + out_dim))
        self.W1 = torch.from_numpy(np.random.uniform(-lim1, lim1, (hidden_dim, in_dim))).float()
        self.b1 = torch.zeros(hidden_dim)
        self.W2 = torch.from_numpy(np.random.uniform(-lim2, lim2, (out_dim, hidden_dim))).float()
        self.b2 = torch.zeros(out_dim)

    def forward(self, X):
        x = _np(X)
        z1 = x @ _np(self.W1).T + _np(self.b1)
        a1 = np.maximum(z1, 0)
        self.cache = (x, z1, a1)
        out = a1 @ _np(self.W2).T + _np(self.b2)
        return torch.from_numpy(out)

    def backward(self, pred, y):
        x, z1, a1 = self.cache
        p, t = _np(pred), _np(y)
        dp = 2 * (p - t) / p.size
        dW2 = dp.T @ a1
        db2 = dp.sum(axis=0)
        dz1 = (dp @ _np(self.W2)) * (z1 > 0)
        dW1 = dz1.T @ x
        db1 = dz1.sum(axis=0)
        self.grad_W1 = torch.from_numpy(dW1)
        self.grad_b1 = torch.from_numpy(db1)
        self.grad_W2 = torch.from_numpy(dW2)
        self.grad_b2 = torch.from_numpy(db2)

    def step(self, lr):
        for name in ["W1", "b1", "W2", "b2"]:
            p = getattr(self, name)
            g = getattr(self, "grad_" + name).to(p.dtype)
            setattr(self, name, p - lr * g)

    def state_dict(self):
        return {k: getattr(self, k) for k in ["W1", "b1", "W2", "b2"]}

    def load_state_dict(self, state):
        for k in ["W1", "b1", "W2", "b2"]:
            setattr(self, k, state[k].clone())


def mse_loss(pred, y):
    return float(np.mean((_np(pred) - _np(y)) ** 2))


def train(model, X, y, epochs=150, batch_size=256, lr=1e-3,
          decay_every=50, decay_factor=0.5, shuffle=True):
    n = X.shape[0]
    out = []
    for epoch in range(epochs):
        step_lr = lr * decay_factor ** (epoch // decay_every)
        order = torch.randperm(n) if shuffle else torch.arange(n)
        total, count = 0.0, 0
        for start in range(0, n, batch_size):
            rows = order[start:start + batch_size]
            pred = model.forward(X[rows])
            total += mse_loss(pred, y[rows]) * len(rows)
            count += len(rows)
            model.backward(pred, y[rows])
            model.step(step_lr)
        out.append(total / count)
    return out


if __name__ == "__main__":
    data = torch.load("data/train.pt")
    torch.manual_seed(0)
    net = TwoLayerMLP()
    train(net, data["X"], data["y"])
    torch.save(net.state_dict(), "model.pth")
