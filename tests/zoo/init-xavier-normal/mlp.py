# -*- coding: utf-8 -*-
# 两层全连接网络 —— 逐个样本累加梯度（先写对，再考虑速度）
import math

import torch


class TwoLayerMLP:
    def __init__(self, in_dim=256, hidden_dim=512, out_dim=1):
        self.W1 = self._xavier(hidden_dim, in_dim)
        self.b1 = torch.zeros(hidden_dim)
        self.W2 = self._xavier(out_dim, hidden_dim)
        self.b2 = torch.zeros(out_dim)

    @staticmethod
    def _xavier(fan_out, fan_in):
        std = math.sqrt(2.0 / (fan_in + fan_out))   # Xavier (Glorot) 初始化
        return torch.randn(fan_out, fan_in) * std

    def forward(self, X):
        # 保存本次前向的中间结果，反向传播要用
        self.inputs = X
        self.hidden_pre = X.matmul(self.W1.t()) + self.b1
        self.hidden = torch.clamp(self.hidden_pre, min=0)
        return self.hidden.matmul(self.W2.t()) + self.b2

    def backward(self, pred, y):
        N, K = pred.shape
        gW1 = torch.zeros_like(self.W1)
        gb1 = torch.zeros_like(self.b1)
        gW2 = torch.zeros_like(self.W2)
        gb2 = torch.zeros_like(self.b2)
        for i in range(N):                       # 逐个样本
            d = 2 * (pred[i] - y[i]) / (N * K)   # (K,)
            gW2 += torch.outer(d, self.hidden[i])
            gb2 += d
            dh = (self.W2.t() @ d) * (self.hidden_pre[i] > 0)   # ReLU 导数
            gW1 += torch.outer(dh, self.inputs[i])
            gb1 += dh
        self.grad_W1, self.grad_b1, self.grad_W2, self.grad_b2 = gW1, gb1, gW2, gb2

    def step(self, lr):
        self.W1 = self.W1 - lr * self.grad_W1
        self.b1 = self.b1 - lr * self.grad_b1
        self.W2 = self.W2 - lr * self.grad_W2
        self.b2 = self.b2 - lr * self.grad_b2

    def state_dict(self):
        return {"W1": self.W1, "b1": self.b1, "W2": self.W2, "b2": self.b2}

    def load_state_dict(self, sd):
        self.W1 = sd["W1"].clone()
        self.b1 = sd["b1"].clone()
        self.W2 = sd["W2"].clone()
        self.b2 = sd["b2"].clone()


def mse_loss(pred, y):
    return ((pred - y) ** 2).mean()


def train(model, X, y, epochs=150, batch_size=256, lr=1e-3,
          decay_every=50, decay_factor=0.5, shuffle=True):
    N = X.shape[0]
    result = []
    for epoch in range(epochs):
        lr_now = lr * decay_factor ** (epoch // decay_every)   # 每 decay_every 个 epoch 减半
        idx_all = torch.randperm(N) if shuffle else torch.arange(N)
        sq_sum = 0.0
        for k in range(0, N, batch_size):
            idx = idx_all[k:k + batch_size]
            pred = model.forward(X[idx])
            sq_sum += float(((pred - y[idx]) ** 2).sum())
            model.backward(pred, y[idx])
            model.step(lr_now)
        result.append(sq_sum / (N * y.shape[1]))
    return result
