OK_FORMAT = False
name = "training"

import torch
from otter.test_files import test_case
from mlp_reference import BACKWARD, GRADS, assert_close, network, random_batch, random_params, train as reference_train

# 10 samples in batches of 4 (the last one shorter), across two learning-rate decays
SCHEDULE = dict(epochs=5, batch_size=4, lr=0.01, decay_every=2, decay_factor=0.5)


@test_case(points=4)
def step(TwoLayerMLP):
    params = random_params(6, 9, 2)
    grads = random_params(6, 9, 2, seed=5)
    model = network(TwoLayerMLP, params)
    for key, attribute in GRADS.items():
        setattr(model, attribute, grads[key].clone())
    model.step(0.1)
    for key in GRADS:
        assert_close(getattr(model, key), params[key] - 0.1 * grads[key], BACKWARD, f"{key} after step(0.1)")


@test_case(points=2)
def loss(mse_loss):
    pred, y = random_batch(7, 3, 3)
    assert_close(mse_loss(pred, y), torch.mean((pred - y) ** 2), BACKWARD, "mse_loss")


@test_case(points=8)
def trajectory(TwoLayerMLP, train):
    params = random_params(3, 5, 1)
    X, y = random_batch(10, 3, 1)
    model = network(TwoLayerMLP, params)
    history = train(model, X, y, shuffle=False, **SCHEDULE)
    want_params, want_history = reference_train(params, X, y, **SCHEDULE)
    assert_close(torch.tensor([float(h) for h in history]), torch.tensor(want_history), BACKWARD, "losses per epoch")
    for key in GRADS:
        assert_close(getattr(model, key), want_params[key], BACKWARD, f"{key} after training")


@test_case(points=4)
def loss_falls(TwoLayerMLP, train):
    torch.manual_seed(0)
    teacher = random_params(8, 4, 1, seed=7)
    X, _ = random_batch(200, 8, 1)
    y = X @ teacher["W1"].T[:, :1]
    model = TwoLayerMLP(8, 16, 1)
    history = train(model, X.float(), y.float(), epochs=20, batch_size=32, lr=0.01, decay_every=10)
    assert float(history[-1]) < 0.5 * float(history[0]), f"training loss {float(history[0]):.3g} -> {float(history[-1]):.3g}"
