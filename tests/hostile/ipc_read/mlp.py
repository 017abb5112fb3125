"""HW 3: two-layer MLP with manual backprop.

Hostile: at import, looks for what an earlier student (ipc_leave) left in the worker's
kernel state: the SysV segment, queue and semaphore of its keys, the POSIX message queue,
the /dev/shm file, the file in the temporary folder, the abstract socket. Says what it
found (it is graded after ipc_leave, by the same worker).
"""

import ctypes
import math
import os
import socket
import sys
import tempfile

import torch

MARKER = "mlp-hostile-marker-ipc-read"
KEY = 0x6D6C7033

class TwoLayerMLP:
    def __init__(self, in_dim=256, hidden_dim=512, out_dim=1):
        bound1 = math.sqrt(6 / (in_dim + hidden_dim))
        bound2 = math.sqrt(6 / (hidden_dim + out_dim))
        self.W1 = torch.empty(hidden_dim, in_dim).uniform_(-bound1, bound1)
        self.b1 = torch.zeros(hidden_dim)
        self.W2 = torch.empty(out_dim, hidden_dim).uniform_(-bound2, bound2)
        self.b2 = torch.zeros(out_dim)

    def forward(self, X):
        # cache what backward needs
        self.x = X
        self.z1 = X @ self.W1.T + self.b1
        self.a1 = torch.clamp(self.z1, min=0)
        return self.a1 @ self.W2.T + self.b2

    def backward(self, pred, y):
        N = pred.shape[0]
        dout = 2 * (pred - y) / N          # dL/dpred, out_dim = 1
        self.grad_W2 = dout.T @ self.a1
        self.grad_b2 = dout.sum(0)
        da1 = dout @ self.W2
        dz1 = da1 * (self.z1 > 0).float()
        self.grad_W1 = dz1.T @ self.x
        self.grad_b1 = dz1.sum(0)

    def step(self, lr):
        self.W1 = self.W1 - lr * self.grad_W1
        self.b1 = self.b1 - lr * self.grad_b1
        self.W2 = self.W2 - lr * self.grad_W2
        self.b2 = self.b2 - lr * self.grad_b2

    def state_dict(self):
        return {"W1": self.W1, "b1": self.b1, "W2": self.W2, "b2": self.b2}

    def load_state_dict(self, state):
        self.W1, self.b1 = state["W1"].clone(), state["b1"].clone()
        self.W2, self.b2 = state["W2"].clone(), state["b2"].clone()


def mse_loss(pred, y):
    return torch.mean((pred - y) ** 2)


def train(model, X, y, epochs=150, batch_size=256, lr=1e-3,
          decay_every=50, decay_factor=0.5, shuffle=True):
    N = X.shape[0]
    history = []
    for epoch in range(epochs):
        lr_now = lr * decay_factor ** (epoch // decay_every)
        order = torch.randperm(N) if shuffle else torch.arange(N)
        total = 0.0
        for start in range(0, N, batch_size):
            idx = order[start:start + batch_size]
            xb, yb = X[idx], y[idx]
            pred = model.forward(xb)
            loss = mse_loss(pred, yb)
            total += loss.item() * len(idx)
            model.backward(pred, yb)
            model.step(lr_now)
        history.append(total / N)
    return history


LIBC = ctypes.CDLL(None, use_errno=True)
FOUND = []


def _shm():
    shmid = LIBC.shmget(KEY, 0, 0)
    if shmid < 0:
        raise OSError(ctypes.get_errno(), "shmget")
    LIBC.shmat.restype = ctypes.c_void_p
    address = LIBC.shmat(shmid, None, 0o10000)  # SHM_RDONLY
    if address in (None, ctypes.c_void_p(-1).value):
        raise OSError(ctypes.get_errno(), "shmat")
    return ctypes.string_at(address, 64)


def _msg():
    qid = LIBC.msgget(KEY, 0)
    if qid < 0:
        raise OSError(ctypes.get_errno(), "msgget")
    buffer = ctypes.create_string_buffer(1024)
    size = LIBC.msgrcv(qid, buffer, 512, 0, 0o4000)  # IPC_NOWAIT
    if size < 0:
        raise OSError(ctypes.get_errno(), "msgrcv")
    return buffer.raw[8:8 + size]


def _sem():
    if LIBC.semget(KEY, 0, 0) < 0:
        raise OSError(ctypes.get_errno(), "semget")
    return b"a semaphore"


def _mq():
    lib = ctypes.CDLL("librt.so.1", use_errno=True)
    if lib.mq_open(b"/mlp-hostile-ipc", os.O_RDONLY, 0, None) < 0:
        raise OSError(ctypes.get_errno(), "mq_open")
    return b"a queue"


def _file(path):
    with open(path, "rb") as fh:
        return fh.read(64)


def _abstract():
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(2)
        s.connect("\0mlp-hostile-ipc")
        return s.recv(64)


for _name, _look in (("shm", _shm), ("msg", _msg), ("sem", _sem), ("mq", _mq),
                     ("dev_shm", lambda: _file("/dev/shm/mlp-hostile-ipc")),
                     ("tmp", lambda: _file(os.path.join(tempfile.gettempdir(), "mlp-hostile-ipc"))),
                     ("abstract", _abstract)):
    try:
        if _look():
            FOUND.append(_name)
    except OSError:
        pass
print("found:", FOUND)


if __name__ == "__main__":
    data = torch.load(sys.argv[1] if len(sys.argv) > 1 else "data/train.pt")
    torch.manual_seed(0)
    model = TwoLayerMLP()
    losses = train(model, data["X"], data["y"])
    print("final training loss", losses[-1])
    torch.save(model.state_dict(), sys.argv[2] if len(sys.argv) > 2 else "model.pth")
