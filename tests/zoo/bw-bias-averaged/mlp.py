"""MLP homework. Everything is kept in float32 (the data file is float32, but I cast
inputs with .float() anyway in case someone passes doubles)."""
import math
import torch

DTYPE = torch.float32


class TwoLayerMLP:
    def __init__(self, in_dim=256, hidden_dim=512, out_dim=1):
        r1 = math.sqrt(6 / (in_dim + hidden_dim))
        r2 = math.sqrt(6 / (hidden_dim + out_dim))
        self.W1 = torch.empty((hidden_dim, in_dim), dtype=DTYPE).uniform_(-r1, r1)
        self.b1 = torch.zeros(hidden_dim, dtype=DTYPE)
        self.W2 = torch.empty((out_dim, hidden_dim), dtype=DTYPE).uniform_(-r2, r2)
        self.b2 = torch.zeros(out_dim, dtype=DTYPE)

    def forward(self, X):
        X = X.float()
        self.X = X
        self.z1 = X @ self.W1.T + self.b1
        self.a1 = self.z1.clamp(min=0.0)
        return self.a1 @ self.W2.T + self.b2

    def backward(self, pred, y):
        pred, y = pred.float(), y.float()
        dpred = 2.0 * (pred - y) / pred.numel()
        self.grad_W2 = dpred.T @ self.a1
        self.grad_b2 = dpred.mean(dim=0)   # average over the batch
        dz1 = (dpred @ self.W2) * (self.z1 > 0).float()
        self.grad_W1 = dz1.T @ self.X
        self.grad_b1 = dz1.mean(dim=0)

    def step(self, lr):
        self.W1 = self.W1 - lr * self.grad_W1
        self.b1 = self.b1 - lr * self.grad_b1
        self.W2 = self.W2 - lr * self.grad_W2
        self.b2 = self.b2 - lr * self.grad_b2

    def state_dict(self):
        return dict(W1=self.W1, b1=self.b1, W2=self.W2, b2=self.b2)

    def load_state_dict(self, state):
        self.W1 = state["W1"].float().clone()
        self.b1 = state["b1"].float().clone()
        self.W2 = state["W2"].float().clone()
        self.b2 = state["b2"].float().clone()


def mse_loss(pred, y):
    return ((pred.float() - y.float()) ** 2).mean()


def train(model, X, y, epochs=150, batch_size=256, lr=1e-3,
          decay_every=50, decay_factor=0.5, shuffle=True):
    X, y = X.float(), y.float()
    n = len(X)
    hist = []
    for e in range(epochs):
        lr_e = lr * decay_factor ** (e // decay_every)
        perm = torch.randperm(n) if shuffle else torch.arange(n)
        tot = torch.zeros((), dtype=torch.float64)
        for i in range(0, n, batch_size):
            b = perm[i:i + batch_size]
            p = model.forward(X[b])
            tot += ((p - y[b]) ** 2).sum().double()
            model.backward(p, y[b])
            model.step(lr_e)
        hist.append(tot.item() / y.numel())
    return hist
