"""Reference two-layer MLP with hand-written backprop, for every assignment spec.

One model, configured by the assignment (grader/assignments/<name>.toml, passed in by
grader/oracle.py): the activation (relu | tanh), the loss (mse | cross_entropy with int64
labels, computed through a numerically stable log-softmax), biases or none, the weight
layout ("out_in": X @ W1.T as in the default contract; "in_out": X @ W1), L2 weight decay
added to the weight gradients (grad_W += weight_decay * W; the biases are not decayed) and
the init scheme. With no configuration it is the default homework (ReLU, MSE, biases,
(out, in) layout, Xavier uniform).

Dtype-generic (it computes in whatever dtype its parameters have) so that the grader can
run it in float64 as the ground truth. tests/test_reference.py proves it equal to torch
autograd for every assignment.
"""

from __future__ import annotations

import math

import torch

DEFAULT_CONFIG = {"activation": "relu", "loss": "mse", "bias": True, "layout": "out_in", "weight_decay": 0.0,
                  "init": {"scheme": "xavier_uniform"}}


class TwoLayerMLP:
    def __init__(self, in_dim=256, hidden_dim=512, out_dim=1, dtype=torch.float32, config=None):
        self.configure(config)
        self.W1 = init_weight(in_dim, hidden_dim, self.layout, self.init, dtype)
        if self.bias:
            self.b1 = torch.zeros(hidden_dim, dtype=dtype)
        self.W2 = init_weight(hidden_dim, out_dim, self.layout, self.init, dtype)
        if self.bias:
            self.b2 = torch.zeros(out_dim, dtype=dtype)

    def configure(self, config=None):
        config = {**DEFAULT_CONFIG, **(config or {})}
        self.activation, self.loss, self.bias = config["activation"], config["loss"], config["bias"]
        self.layout, self.weight_decay, self.init = config["layout"], config["weight_decay"], config["init"]
        return self

    @property
    def param_names(self):
        return ("W1", "b1", "W2", "b2") if self.bias else ("W1", "W2")

    def _linear(self, X, W, b):
        out = X @ W.T if self.layout == "out_in" else X @ W
        return out + b if b is not None else out

    def forward(self, X):
        self.X = X
        self.Z1 = self._linear(X, self.W1, getattr(self, "b1", None))
        self.A1 = torch.relu(self.Z1) if self.activation == "relu" else torch.tanh(self.Z1)
        return self._linear(self.A1, self.W2, getattr(self, "b2", None))

    def backward(self, out, y):
        dout = loss_gradient(self.loss, out, y)
        if self.activation == "relu":
            dact = (self.Z1 > 0).to(dout.dtype)
        else:
            dact = 1.0 - torch.tanh(self.Z1) ** 2
        if self.layout == "out_in":
            self.grad_W2 = dout.T @ self.A1
            dZ1 = (dout @ self.W2) * dact
            self.grad_W1 = dZ1.T @ self.X
        else:
            self.grad_W2 = self.A1.T @ dout
            dZ1 = (dout @ self.W2.T) * dact
            self.grad_W1 = self.X.T @ dZ1
        if self.bias:
            self.grad_b2 = dout.sum(dim=0)
            self.grad_b1 = dZ1.sum(dim=0)
        if self.weight_decay:
            self.grad_W1 = self.grad_W1 + self.weight_decay * self.W1
            self.grad_W2 = self.grad_W2 + self.weight_decay * self.W2

    def step(self, lr):
        for name in self.param_names:
            setattr(self, name, getattr(self, name) - lr * getattr(self, f"grad_{name}"))

    def state_dict(self):
        return {name: getattr(self, name) for name in self.param_names}

    def load_state_dict(self, state):
        for name in self.param_names:
            setattr(self, name, state[name].clone())


def init_weight(fan_in, fan_out, layout, init, dtype=torch.float32):
    """A weight of the layout's shape, drawn from torch's global generator."""
    shape = (fan_out, fan_in) if layout == "out_in" else (fan_in, fan_out)
    scheme = init["scheme"]
    if scheme == "xavier_uniform":
        bound = math.sqrt(6.0 / (fan_in + fan_out))
        return (torch.rand(*shape, dtype=dtype) * 2.0 - 1.0) * bound
    std = init_std(fan_in, fan_out, init)
    return torch.randn(*shape, dtype=dtype) * std


def init_std(fan_in, fan_out, init):
    """The standard deviation of a normal init scheme."""
    scheme = init["scheme"]
    if scheme == "xavier_normal":
        return math.sqrt(2.0 / (fan_in + fan_out))
    if scheme == "he_normal":
        return math.sqrt(2.0 / fan_in)
    if scheme == "normal":
        return float(init["std"])
    raise ValueError(f"no standard deviation for init scheme {scheme!r}")


def log_softmax(logits):
    """Stable: shift by the row maximum so that exp never overflows."""
    shifted = logits - logits.max(dim=1, keepdim=True).values
    return shifted - torch.log(torch.exp(shifted).sum(dim=1, keepdim=True))


def loss_value(loss, out, y):
    """The data loss (no weight-decay term): mean over all elements for MSE, mean over the
    N samples for cross-entropy with int64 labels y of shape (N,)."""
    if loss == "mse":
        return ((out - y) ** 2).mean()
    return -log_softmax(out)[torch.arange(out.shape[0]), y].mean()


def loss_gradient(loss, out, y):
    if loss == "mse":
        return 2.0 * (out - y) / out.numel()
    probs = torch.exp(log_softmax(out))
    probs[torch.arange(out.shape[0]), y] -= 1.0
    return probs / out.shape[0]


def mse_loss(pred, y):
    return loss_value("mse", pred, y)


def learning_rate(epoch, lr, decay_every, decay_factor):
    return lr * decay_factor ** (epoch // decay_every)


def train(model, X, y, epochs=150, batch_size=256, lr=1e-3,
          decay_every=50, decay_factor=0.5, shuffle=True):
    """Mini-batch SGD with step decay; returns each epoch's data loss, the mean over all of
    the epoch's samples, each batch measured in its forward pass (before its update)."""
    n = X.shape[0]
    losses = []
    for epoch in range(epochs):
        lr_e = learning_rate(epoch, lr, decay_every, decay_factor)
        order = torch.randperm(n) if shuffle else torch.arange(n)
        total = 0.0
        for start in range(0, n, batch_size):
            idx = order[start:start + batch_size]
            out = model.forward(X[idx])
            total += float(loss_value(model.loss, out, y[idx])) * len(idx)
            model.backward(out, y[idx])
            model.step(lr_e)
        losses.append(total / n)
    return losses
