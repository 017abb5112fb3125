"""My gradient helper."""

import torch


def of(params, X, y):
    with torch.enable_grad():
        W1, b1, W2, b2 = [p.detach().clone().requires_grad_() for p in params]
        pred = torch.clamp(X @ W1.T + b1, min=0) @ W2.T + b2
        loss = ((pred - y) ** 2).mean()
        loss.backward()
    return W1.grad, b1.grad, W2.grad, b2.grad
