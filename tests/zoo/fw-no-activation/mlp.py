# HW2 MLP -- manual backprop
# uses torch.where for relu and in-place parameter updates
import math
import torch


class TwoLayerMLP:

    def __init__(self, in_dim=256, hidden_dim=512, out_dim=1):
        self.in_dim, self.hidden_dim, self.out_dim = in_dim, hidden_dim, out_dim
        w1_lim = math.sqrt(6.0 / (in_dim + hidden_dim))
        w2_lim = math.sqrt(6.0 / (hidden_dim + out_dim))
        self.W1 = torch.zeros(hidden_dim, in_dim)
        self.W1.uniform_(-w1_lim, w1_lim)
        self.W2 = torch.zeros(out_dim, hidden_dim)
        self.W2.uniform_(-w2_lim, w2_lim)
        self.b1 = torch.zeros(hidden_dim)
        self.b2 = torch.zeros(out_dim)

    def forward(self, X):
        pre = torch.addmm(self.b1, X, self.W1.T)
        post = pre  # TODO activation
        self._saved = {"inp": X, "pre": pre, "post": post}
        return torch.addmm(self.b2, post, self.W2.T)

    def backward(self, pred, y):
        inp, pre, post = self._saved["inp"], self._saved["pre"], self._saved["post"]
        batch = pred.shape[0]
        d_out = (pred - y).mul(2.0).div(batch * pred.shape[1])
        self.grad_W2 = torch.matmul(d_out.T, post)
        self.grad_b2 = torch.sum(d_out, dim=0)
        d_post = torch.matmul(d_out, self.W2)
        d_pre = d_post
        self.grad_W1 = torch.matmul(d_pre.T, inp)
        self.grad_b1 = torch.sum(d_pre, dim=0)

    def step(self, lr):
        # in-place updates
        self.W1.sub_(lr * self.grad_W1)
        self.b1.sub_(lr * self.grad_b1)
        self.W2.sub_(lr * self.grad_W2)
        self.b2.sub_(lr * self.grad_b2)

    def state_dict(self):
        return {"W1": self.W1.clone(), "b1": self.b1.clone(), "W2": self.W2.clone(), "b2": self.b2.clone()}

    def load_state_dict(self, state):
        self.W1.copy_(state["W1"])
        self.b1.copy_(state["b1"])
        self.W2.copy_(state["W2"])
        self.b2.copy_(state["b2"])


def mse_loss(pred, y):
    diff = pred - y
    return (diff * diff).mean()


def train(model, X, y, epochs=150, batch_size=256, lr=1e-3,
          decay_every=50, decay_factor=0.5, shuffle=True):
    num = X.size(0)
    epoch_losses = []
    current = lr
    for epoch in range(epochs):
        if epoch > 0 and epoch % decay_every == 0:
            current *= decay_factor
        index = torch.randperm(num) if shuffle else torch.arange(num)
        weighted = 0.0
        start = 0
        while start < num:
            sel = index[start:start + batch_size]
            p = model.forward(X[sel])
            weighted += mse_loss(p, y[sel]).item() * sel.numel()
            model.backward(p, y[sel])
            model.step(current)
            start += batch_size
        epoch_losses.append(weighted / num)
    return epoch_losses


if __name__ == "__main__":
    import sys
    data = torch.load(sys.argv[1])
    torch.manual_seed(0)
    model = TwoLayerMLP()
    train(model, data["X"], data["y"])
    torch.save(model.state_dict(), sys.argv[2])
