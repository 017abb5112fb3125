"""One mistake: the weight decay is hard-coded to the handout's 1e-3 (the constructor's
weight_decay argument is ignored)."""

import math
import sys

import torch


class TwoLayerMLP:
    def __init__(self, in_dim=64, hidden_dim=64, out_dim=10, weight_decay=1e-3):
        self.weight_decay = 1e-3
        self.W1 = torch.randn(hidden_dim, in_dim) * math.sqrt(2 / in_dim)
        self.b1 = torch.zeros(hidden_dim)
        self.W2 = torch.randn(out_dim, hidden_dim) * math.sqrt(2 / hidden_dim)
        self.b2 = torch.zeros(out_dim)

    def forward(self, X):
        self.x = X
        self.z1 = X @ self.W1.T + self.b1
        self.a1 = torch.clamp(self.z1, min=0)
        return self.a1 @ self.W2.T + self.b2

    def backward(self, logits, y):
        N = logits.shape[0]
        shifted = logits - logits.max(dim=1, keepdim=True).values
        probs = torch.exp(shifted)
        probs = probs / probs.sum(dim=1, keepdim=True)
        onehot = torch.zeros_like(probs)
        onehot[torch.arange(N), y] = 1
        dlogits = (probs - onehot) / N
        self.grad_W2 = dlogits.T @ self.a1 + self.weight_decay * self.W2
        self.grad_b2 = dlogits.sum(0)
        dz1 = (dlogits @ self.W2) * (self.z1 > 0).to(dlogits.dtype)
        self.grad_W1 = dz1.T @ self.x + self.weight_decay * self.W1
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


def cross_entropy_loss(logits, y):
    shifted = logits - logits.max(dim=1, keepdim=True).values
    log_probs = shifted - torch.log(torch.exp(shifted).sum(dim=1, keepdim=True))
    return -log_probs[torch.arange(logits.shape[0]), y].mean()


def train(model, X, y, epochs=30, batch_size=32, lr=0.1,
          decay_every=10, decay_factor=0.5, shuffle=True):
    N = X.shape[0]
    history = []
    for epoch in range(epochs):
        lr_now = lr * decay_factor ** (epoch // decay_every)
        order = torch.randperm(N) if shuffle else torch.arange(N)
        total = 0.0
        for start in range(0, N, batch_size):
            idx = order[start:start + batch_size]
            logits = model.forward(X[idx])
            total += cross_entropy_loss(logits, y[idx]).item() * len(idx)
            model.backward(logits, y[idx])
            model.step(lr_now)
        history.append(total / N)
    return history


if __name__ == "__main__":
    data = torch.load(sys.argv[1] if len(sys.argv) > 1 else "data/digits-train.pt")
    torch.manual_seed(0)
    model = TwoLayerMLP()
    losses = train(model, data["X"], data["y"])
    print("final training loss", losses[-1])
    torch.save(model.state_dict(), sys.argv[2] if len(sys.argv) > 2 else "model.pth")
