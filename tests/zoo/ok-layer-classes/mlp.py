"""Two-layer MLP built from small layer objects (Dense, ReLU), each with its own
forward/backward, like a mini framework. TwoLayerMLP exposes W1/b1/W2/b2 and the grads as
properties so that the required interface still works."""
import math

import torch


class Dense:
    def __init__(self, fan_in, fan_out):
        bound = math.sqrt(6 / (fan_in + fan_out))
        self.W = torch.empty(fan_out, fan_in).uniform_(-bound, bound)
        self.b = torch.zeros(fan_out)
        self.dW = None
        self.db = None

    def forward(self, x):
        self.x = x
        return x @ self.W.t() + self.b

    def backward(self, grad_out):
        self.dW = grad_out.t() @ self.x
        self.db = grad_out.sum(0)
        return grad_out @ self.W


class ReLU:
    def forward(self, x):
        self.mask = x > 0
        return x * self.mask

    def backward(self, grad_out):
        return grad_out * self.mask


def _param(layer, attr):
    return property(lambda self: getattr(getattr(self, layer), attr),
                    lambda self, value: setattr(getattr(self, layer), attr, value))


class TwoLayerMLP:
    W1, b1, W2, b2 = _param("fc1", "W"), _param("fc1", "b"), _param("fc2", "W"), _param("fc2", "b")
    grad_W1, grad_b1 = _param("fc1", "dW"), _param("fc1", "db")
    grad_W2, grad_b2 = _param("fc2", "dW"), _param("fc2", "db")

    def __init__(self, in_dim=256, hidden_dim=512, out_dim=1):
        self.fc1 = Dense(in_dim, hidden_dim)
        self.act = ReLU()
        self.fc2 = Dense(hidden_dim, out_dim)
        self.layers = [self.fc1, self.act, self.fc2]

    def forward(self, X):
        for layer in self.layers:
            X = layer.forward(X)
        return X

    def backward(self, pred, y):
        grad = 2 * (pred - y) / pred.numel()
        for layer in reversed(self.layers):
            grad = layer.backward(grad)

    def step(self, lr):
        for layer in (self.fc1, self.fc2):
            layer.W = layer.W - lr * layer.dW
            layer.b = layer.b - lr * layer.db

    def state_dict(self):
        return {"W1": self.W1, "b1": self.b1, "W2": self.W2, "b2": self.b2}

    def load_state_dict(self, state):
        self.W1, self.b1 = state["W1"].clone(), state["b1"].clone()
        self.W2, self.b2 = state["W2"].clone(), state["b2"].clone()


def mse_loss(pred, y):
    return torch.mean((pred - y) ** 2)


def lr_at(epoch, lr, decay_every, decay_factor):
    return lr * decay_factor ** (epoch // decay_every)


def batches(n, batch_size, shuffle):
    order = torch.randperm(n) if shuffle else torch.arange(n)
    for i in range(0, n, batch_size):
        yield order[i:i + batch_size]


def train(model, X, y, epochs=150, batch_size=256, lr=1e-3,
          decay_every=50, decay_factor=0.5, shuffle=True):
    losses = []
    for epoch in range(epochs):
        rate = lr_at(epoch, lr, decay_every, decay_factor)
        running = 0.0
        for idx in batches(len(X), batch_size, shuffle):
            pred = model.forward(X[idx])
            running += mse_loss(pred, y[idx]).item() * len(idx)
            model.backward(pred, y[idx])
            model.step(rate)
        losses.append(running / len(X))
    return losses
