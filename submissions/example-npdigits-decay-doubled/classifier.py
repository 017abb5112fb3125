"""A numpy digit classifier: two layers, softmax cross-entropy, L2 weight decay, step decay
of the learning rate, parameters saved with np.savez (docs/assignments/numpy-digits.md;
grader example: one bug, the decay term of the gradient is
2 * weight_decay * W, the gradient of weight_decay * |W|^2 instead of weight_decay / 2 * |W|^2)."""

import numpy as np


class MLPClassifier:
    def __init__(self, n_in, n_hidden, n_out, weight_decay=1e-4):
        self.weight_decay = weight_decay
        self.W1 = np.random.randn(n_in, n_hidden) * np.sqrt(2.0 / n_in)
        self.b1 = np.zeros(n_hidden)
        self.W2 = np.random.randn(n_hidden, n_out) * np.sqrt(2.0 / n_hidden)
        self.b2 = np.zeros(n_out)

    def forward(self, X):
        self.X = X
        self.Z1 = X @ self.W1 + self.b1
        self.A1 = np.maximum(self.Z1, 0.0)
        return self.A1 @ self.W2 + self.b2

    def backward(self, logits, y):
        n = logits.shape[0]
        probs = np.exp(logits - logits.max(axis=1, keepdims=True))
        probs /= probs.sum(axis=1, keepdims=True)
        probs[np.arange(n), y] -= 1.0
        dlogits = probs / n
        self.dW2 = self.A1.T @ dlogits + 2 * self.weight_decay * self.W2
        self.db2 = dlogits.sum(axis=0)
        dZ1 = (dlogits @ self.W2.T) * (self.Z1 > 0)
        self.dW1 = self.X.T @ dZ1 + 2 * self.weight_decay * self.W1
        self.db1 = dZ1.sum(axis=0)

    def step(self, lr):
        self.W1 = self.W1 - lr * self.dW1
        self.b1 = self.b1 - lr * self.db1
        self.W2 = self.W2 - lr * self.dW2
        self.b2 = self.b2 - lr * self.db2

    def save(self, path):
        np.savez(path, W1=self.W1, b1=self.b1, W2=self.W2, b2=self.b2)

    def load(self, path):
        with np.load(path, allow_pickle=False) as saved:
            self.W1, self.b1, self.W2, self.b2 = (saved[k] for k in ("W1", "b1", "W2", "b2"))


def cross_entropy_loss(logits, y):
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    return float(-log_probs[np.arange(len(y)), y].mean())


def train(model, X, y, epochs=30, batch_size=32, lr=0.1, decay_every=10, decay_factor=0.5, shuffle=True):
    n = X.shape[0]
    history = []
    for epoch in range(epochs):
        rate = lr * decay_factor ** (epoch // decay_every)
        order = np.random.permutation(n) if shuffle else np.arange(n)
        total = 0.0
        for start in range(0, n, batch_size):
            rows = order[start:start + batch_size]
            logits = model.forward(X[rows])
            total += cross_entropy_loss(logits, y[rows]) * len(rows)
            model.backward(logits, y[rows])
            model.step(rate)
        history.append(total / n)
    return history


if __name__ == "__main__":
    import sys

    data = np.load(sys.argv[1] if len(sys.argv) > 1 else "data/digits-train.npz")
    np.random.seed(0)
    model = MLPClassifier(64, 64, 10, weight_decay=1e-4)
    losses = train(model, data["X"].astype(np.float64), data["y"])
    print("last epoch loss:", losses[-1])
    model.save(sys.argv[2] if len(sys.argv) > 2 else "model.npz")
