"""The reference maths of the Otter tests that bench/bench_otter.py builds (an Otter support
file, a package because `otter run` refuses a second .py file next to the submission)."""

import torch

SHAPES = {"W1": ("hidden", "in"), "b1": ("hidden",), "W2": ("out", "hidden"), "b2": ("out",)}
GRADS = {"W1": "grad_W1", "b1": "grad_b1", "W2": "grad_W2", "b2": "grad_b2"}
# (rtol, atol) from grader/tolerances.toml: |got - want| <= atol + rtol * max|want|
FORWARD = BACKWARD = (1e-4, 1e-6)
FINITE_DIFFERENCES = (2e-3, 1e-5)
# (N, in_dim, hidden_dim, out_dim): one row, small networks, the handout's size; out_dim 1 as in
# the grader's gradient checks (the handout's example-correct scales dL/dpred by N only)
CASES = [(1, 3, 4, 1), (5, 6, 9, 1), (16, 8, 32, 1), (7, 256, 512, 1)]


def assert_close(got, want, tol, what):
    got = torch.as_tensor(got).double()
    want = torch.as_tensor(want).double()
    assert got.shape == want.shape, f"{what}: shape {tuple(got.shape)}, expected {tuple(want.shape)}"
    rtol, atol = tol
    error = (got - want).abs().max().item()
    assert error <= atol + rtol * want.abs().max().item(), f"{what}: off by {error:.3g}"


def random_params(n_in, hidden, out, dtype=torch.float64, seed=0):
    sizes = {"in": n_in, "hidden": hidden, "out": out}
    g = torch.Generator().manual_seed(seed)
    return {k: torch.randn([sizes[d] for d in dims], generator=g, dtype=dtype) for k, dims in SHAPES.items()}


def random_batch(n, n_in, out, dtype=torch.float64, seed=1):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, n_in, generator=g, dtype=dtype), torch.randn(n, out, generator=g, dtype=dtype)


def each_case():
    """(params, X, y, what) for every case of CASES in float32 and float64."""
    for dtype in (torch.float32, torch.float64):
        for n, n_in, hidden, out in CASES:
            X, y = random_batch(n, n_in, out, dtype)
            yield random_params(n_in, hidden, out, dtype), X, y, f"of {n} x {n_in} -> {hidden} -> {out}, {dtype}"


def first_weights(TwoLayerMLP, *seeds):
    """W1 and W2 of a 6 -> 8 -> 2 network built after torch.manual_seed(seed), per seed."""
    weights = []
    for seed in seeds:
        torch.manual_seed(seed)
        model = TwoLayerMLP(6, 8, 2)
        weights.append((model.W1, model.W2))
    return weights


def network(TwoLayerMLP, params):
    """The student's network of the params' sizes, holding copies of them."""
    hidden, n_in = params["W1"].shape
    model = TwoLayerMLP(n_in, hidden, params["W2"].shape[0])
    for name, value in params.items():
        setattr(model, name, value.clone())
    return model


def forward(params, X):
    return torch.relu(X @ params["W1"].T + params["b1"]) @ params["W2"].T + params["b2"]


def gradients(params, X, y):
    """dL/dP by torch autograd, L = mean((forward - y)^2)."""
    with torch.enable_grad():  # also when the test runs the student's code under torch.no_grad()
        leaves = {k: v.detach().clone().requires_grad_(True) for k, v in params.items()}
        loss = torch.mean((forward(leaves, X) - y) ** 2)
        return dict(zip(leaves, torch.autograd.grad(loss, list(leaves.values()))))


def assert_gradients(model, params, X, y, what):
    """The student's gradients after forward(X) and backward(pred, y) against the reference's."""
    model.backward(model.forward(X), y)
    want = gradients(params, X, y)
    for key, attribute in GRADS.items():
        assert_close(getattr(model, attribute), want[key], BACKWARD, f"d{key} {what}")


def train(params, X, y, epochs, batch_size, lr, decay_every, decay_factor):
    """The handout's train(shuffle=False), with autograd: final parameters, per-epoch losses."""
    history = []
    for epoch in range(epochs):
        lr_now = lr * decay_factor ** (epoch // decay_every)
        total = 0.0
        for start in range(0, len(X), batch_size):
            xb, yb = X[start:start + batch_size], y[start:start + batch_size]
            total += torch.mean((forward(params, xb) - yb) ** 2).item() * len(xb)
            grads = gradients(params, xb, yb)
            params = {k: v - lr_now * grads[k] for k, v in params.items()}
        history.append(total / len(X))
    return params, history
