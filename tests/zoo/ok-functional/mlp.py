"""HW2 -- two layer MLP, backprop by hand.

Written with small pure functions (linear / relu and their backward passes); the class
just keeps the parameters and the cache.
"""
import math

import torch


def linear(x, W, b):
    return x @ W.T + b


def linear_backward(dout, x, W):
    """returns dx, dW, db"""
    return dout @ W, dout.T @ x, dout.sum(dim=0)


def relu(x):
    return x.clamp_min(0)


def relu_backward(dout, x):
    return dout * (x > 0).to(dout.dtype)


def xavier(fan_out, fan_in):
    limit = math.sqrt(6 / (fan_in + fan_out))
    return torch.empty(fan_out, fan_in).uniform_(-limit, limit)


class TwoLayerMLP:
    def __init__(self, in_dim=256, hidden_dim=512, out_dim=1):
        self.W1, self.b1 = xavier(hidden_dim, in_dim), torch.zeros(hidden_dim)
        self.W2, self.b2 = xavier(out_dim, hidden_dim), torch.zeros(out_dim)
        self.cache = None

    def forward(self, X):
        h_pre = linear(X, self.W1, self.b1)
        h = relu(h_pre)
        self.cache = (X, h_pre, h)
        return linear(h, self.W2, self.b2)

    def backward(self, pred, y):
        X, h_pre, h = self.cache
        dpred = 2 * (pred - y) / pred.numel()
        dh, self.grad_W2, self.grad_b2 = linear_backward(dpred, h, self.W2)
        dh_pre = relu_backward(dh, h_pre)
        _, self.grad_W1, self.grad_b1 = linear_backward(dh_pre, X, self.W1)

    def step(self, lr):
        self.W1 = self.W1 - lr * self.grad_W1
        self.b1 = self.b1 - lr * self.grad_b1
        self.W2 = self.W2 - lr * self.grad_W2
        self.b2 = self.b2 - lr * self.grad_b2

    def state_dict(self):
        return {"W1": self.W1, "b1": self.b1, "W2": self.W2, "b2": self.b2}

    def load_state_dict(self, state):
        self.W1, self.b1, self.W2, self.b2 = (state[k].clone() for k in ("W1", "b1", "W2", "b2"))


def mse_loss(pred, y):
    return torch.mean(torch.square(pred - y))


def train(model, X, y, epochs=150, batch_size=256, lr=1e-3,
          decay_every=50, decay_factor=0.5, shuffle=True):
    n = X.shape[0]
    losses = []
    for epoch in range(epochs):
        lr_epoch = lr * decay_factor ** (epoch // decay_every)
        order = torch.randperm(n) if shuffle else torch.arange(n)
        batch_losses, sizes = [], []
        for chunk in torch.split(order, batch_size):
            pred = model.forward(X[chunk])
            batch_losses.append(mse_loss(pred, y[chunk]).item())
            sizes.append(len(chunk))
            model.backward(pred, y[chunk])
            model.step(lr_epoch)
        losses.append(sum(l * s for l, s in zip(batch_losses, sizes)) / n)
    return losses


if __name__ == "__main__":
    data = torch.load("data/train.pt")
    torch.manual_seed(0)
    model = TwoLayerMLP()
    print(train(model, data["X"], data["y"])[-1])
    torch.save(model.state_dict(), "model.pth")
