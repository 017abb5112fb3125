"""A two-layer fully connected network in numpy, written to the CS231n-style skeleton of
docs/assignments/cs231n-two-layer.md (grader example: one bug, the softmax gradient is not divided by the batch size N).

input -> affine -> ReLU -> affine -> softmax cross-entropy, with L2 regularisation
reg * (sum(W1**2) + sum(W2**2)) on the weights. Weights are stored (in, out).
"""

import numpy as np


class TwoLayerNet:
    def __init__(self, input_size, hidden_size, output_size, std=1e-4):
        self.params = {
            "W1": std * np.random.randn(input_size, hidden_size),
            "b1": np.zeros(hidden_size),
            "W2": std * np.random.randn(hidden_size, output_size),
            "b2": np.zeros(output_size),
        }

    def loss(self, X, y=None, reg=0.0):
        W1, b1 = self.params["W1"], self.params["b1"]
        W2, b2 = self.params["W2"], self.params["b2"]
        n = X.shape[0]

        hidden_in = X.dot(W1) + b1
        hidden = np.maximum(hidden_in, 0)
        scores = hidden.dot(W2) + b2
        if y is None:
            return scores

        shifted = scores - scores.max(axis=1, keepdims=True)
        log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        data_loss = -log_probs[np.arange(n), y].mean()
        loss = data_loss + reg * (np.sum(W1 * W1) + np.sum(W2 * W2))

        dscores = np.exp(log_probs)
        dscores[np.arange(n), y] -= 1
        grads = {}
        grads["W2"] = hidden.T.dot(dscores) + 2 * reg * W2
        grads["b2"] = dscores.sum(axis=0)
        dhidden = dscores.dot(W2.T)
        dhidden[hidden_in <= 0] = 0
        grads["W1"] = X.T.dot(dhidden) + 2 * reg * W1
        grads["b1"] = dhidden.sum(axis=0)
        return loss, grads

    def train(self, X, y, X_val, y_val, learning_rate=1e-3, learning_rate_decay=0.99,
              reg=5e-6, num_iters=100, batch_size=200, verbose=False):
        num_train = X.shape[0]
        iterations_per_epoch = max(num_train // batch_size, 1)
        loss_history, train_acc_history, val_acc_history = [], [], []
        for it in range(num_iters):
            batch = np.random.choice(num_train, batch_size, replace=True)
            loss, grads = self.loss(X[batch], y=y[batch], reg=reg)
            loss_history.append(loss)
            for name in self.params:
                self.params[name] -= learning_rate * grads[name]
            if verbose and it % 100 == 0:
                print(f"iteration {it} / {num_iters}: loss {loss:f}")
            if (it + 1) % iterations_per_epoch == 0:
                train_acc_history.append((self.predict(X[batch]) == y[batch]).mean())
                val_acc_history.append((self.predict(X_val) == y_val).mean())
                learning_rate *= learning_rate_decay
        return {"loss_history": loss_history, "train_acc_history": train_acc_history,
                "val_acc_history": val_acc_history}

    def predict(self, X):
        return np.argmax(self.loss(X), axis=1)


if __name__ == "__main__":
    import sys

    data = np.load(sys.argv[1] if len(sys.argv) > 1 else "data/digits-train.npz")
    X, y = data["X"].astype(np.float64), data["y"]
    X_train, y_train, X_val, y_val = X[:1200], y[:1200], X[1200:], y[1200:]
    np.random.seed(0)
    net = TwoLayerNet(X.shape[1], 64, 10, std=1e-4)
    stats = net.train(X_train, y_train, X_val, y_val, learning_rate=0.5, learning_rate_decay=0.99,
                      reg=1e-3, num_iters=3000, batch_size=200, verbose=True)
    print("validation accuracy:", stats["val_acc_history"][-1])
    np.savez(sys.argv[2] if len(sys.argv) > 2 else "model.npz", **net.params)
