"""作业二：两层 MLP（手写反向传播）。

全部用 einsum 写，方便对照公式。
"""
import math

import torch


class TwoLayerMLP:
    def __init__(self, in_dim=256, hidden_dim=512, out_dim=1):
        # Xavier 均匀初始化: a = sqrt(6 / (fan_in + fan_out))
        a1 = math.sqrt(6.0 / in_dim)
        a2 = math.sqrt(6.0 / hidden_dim)
        self.W1 = (torch.rand(hidden_dim, in_dim) * 2 - 1) * a1
        self.b1 = torch.zeros(hidden_dim)
        self.W2 = (torch.rand(out_dim, hidden_dim) * 2 - 1) * a2
        self.b2 = torch.zeros(out_dim)

    def forward(self, X):
        self.X = X                                   # 缓存输入
        self.Z = torch.einsum("ni,hi->nh", X, self.W1) + self.b1
        self.H = torch.relu(self.Z)
        return torch.einsum("nh,oh->no", self.H, self.W2) + self.b2

    def backward(self, pred, y):
        n = pred.shape[0] * pred.shape[1]
        g = 2.0 * (pred - y) / n                     # dL/dpred
        self.grad_W2 = torch.einsum("no,nh->oh", g, self.H)
        self.grad_b2 = torch.einsum("no->o", g)
        gz = torch.einsum("no,oh->nh", g, self.W2) * (self.Z > 0)   # ReLU 的导数
        self.grad_W1 = torch.einsum("nh,ni->hi", gz, self.X)
        self.grad_b1 = torch.einsum("nh->h", gz)

    def step(self, lr):
        self.W1 = self.W1 - lr * self.grad_W1
        self.b1 = self.b1 - lr * self.grad_b1
        self.W2 = self.W2 - lr * self.grad_W2
        self.b2 = self.b2 - lr * self.grad_b2

    def state_dict(self):
        return {"W1": self.W1, "b1": self.b1, "W2": self.W2, "b2": self.b2}

    def load_state_dict(self, state):
        self.W1 = state["W1"].clone()
        self.b1 = state["b1"].clone()
        self.W2 = state["W2"].clone()
        self.b2 = state["b2"].clone()


def mse_loss(pred, y):
    return ((pred - y) ** 2).mean()


def train(model, X, y, epochs=150, batch_size=256, lr=1e-3,
          decay_every=50, decay_factor=0.5, shuffle=True):
    N = X.shape[0]
    history = []
    for ep in range(epochs):
        cur_lr = lr * (decay_factor ** (ep // decay_every))   # 学习率衰减
        perm = torch.randperm(N) if shuffle else torch.arange(N)
        sse = 0.0
        for s in range(0, N, batch_size):
            idx = perm[s:s + batch_size]
            xb, yb = X[idx], y[idx]
            out = model.forward(xb)
            sse += ((out - yb) ** 2).sum().item()
            model.backward(out, yb)
            model.step(cur_lr)
        history.append(sse / (N * y.shape[1]))
    return history


if __name__ == "__main__":
    d = torch.load("data/train.pt")
    torch.manual_seed(0)
    m = TwoLayerMLP()
    print(train(m, d["X"], d["y"])[-1])
    torch.save(m.state_dict(), "model.pth")
