"""The CS231n-style TwoLayerNet built from layers.py (tests/specs_ok: a correct solution
written differently, over two files)."""

import numpy as np

from layers import affine_backward, affine_forward, relu_backward, relu_forward, softmax_loss


class TwoLayerNet:
    def __init__(self, input_size, hidden_size, output_size, std=1e-4):
        self.params = {}
        self.params["W1"] = np.random.randn(input_size, hidden_size) * std
        self.params["b1"] = np.zeros((hidden_size,))
        self.params["W2"] = np.random.randn(hidden_size, output_size) * std
        self.params["b2"] = np.zeros((output_size,))

    def loss(self, X, y=None, reg=0.0):
        p = self.params
        h, cache1 = affine_forward(X, p["W1"], p["b1"])
        a, cache_relu = relu_forward(h)
        scores, cache2 = affine_forward(a, p["W2"], p["b2"])
        if y is None:
            return scores
        data_loss, dscores = softmax_loss(scores, y)
        loss = data_loss + reg * sum(np.sum(p[w] ** 2) for w in ("W1", "W2"))
        grads = {}
        da, grads["W2"], grads["b2"] = affine_backward(dscores, cache2)
        dh = relu_backward(da, cache_relu)
        _, grads["W1"], grads["b1"] = affine_backward(dh, cache1)
        for w in ("W1", "W2"):
            grads[w] = grads[w] + 2.0 * reg * p[w]
        return loss, grads

    def train(self, X, y, X_val, y_val, learning_rate=1e-3, learning_rate_decay=0.95,
              reg=5e-6, num_iters=100, batch_size=200, verbose=False):
        n = X.shape[0]
        per_epoch = max(n // batch_size, 1)
        history = {"loss_history": [], "train_acc_history": [], "val_acc_history": []}
        for it in range(num_iters):
            idx = np.random.choice(n, batch_size)
            X_batch, y_batch = X[idx], y[idx]
            loss, grads = self.loss(X_batch, y=y_batch, reg=reg)
            history["loss_history"].append(loss)
            for key, grad in grads.items():
                self.params[key] = self.params[key] - learning_rate * grad
            if it % per_epoch == per_epoch - 1:
                history["train_acc_history"].append(np.mean(self.predict(X_batch) == y_batch))
                history["val_acc_history"].append(np.mean(self.predict(X_val) == y_val))
                learning_rate *= learning_rate_decay
        return history

    def predict(self, X):
        return self.loss(X).argmax(axis=1)
