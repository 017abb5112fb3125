OK_FORMAT = False
name = "backward"

import torch
from otter.test_files import test_case
from mlp_reference import (FINITE_DIFFERENCES, GRADS, assert_close, assert_gradients, each_case, network,
                           random_batch, random_params)


def student_gradients(model, X, y):
    pred = model.forward(X)
    model.backward(pred, y)
    return {key: getattr(model, attribute) for key, attribute in GRADS.items()}


@test_case(points=10)
def matches_reference(TwoLayerMLP):
    for params, X, y, what in each_case():
        assert_gradients(network(TwoLayerMLP, params), params, X, y, what)


@test_case(points=8)
def finite_differences(TwoLayerMLP):
    # central differences of the student's own forward, in float64
    params = random_params(3, 4, 1)
    X, y = random_batch(5, 3, 1)
    model = network(TwoLayerMLP, params)
    got = student_gradients(model, X, y)
    step = 1e-6
    for key in GRADS:
        numeric = torch.zeros_like(params[key])
        for index in range(params[key].numel()):
            losses = []
            for sign in (1, -1):
                moved = params[key].clone()
                moved.view(-1)[index] += sign * step
                setattr(model, key, moved)
                losses.append(torch.mean((model.forward(X) - y) ** 2).item())
            numeric.view(-1)[index] = (losses[0] - losses[1]) / (2 * step)
        setattr(model, key, params[key].clone())
        assert_close(got[key], numeric, FINITE_DIFFERENCES, f"d{key} vs finite differences")


@test_case(points=4)
def latest_cache(TwoLayerMLP):
    params = random_params(6, 9, 1)
    X1, _ = random_batch(5, 6, 1, seed=1)
    X2, y2 = random_batch(4, 6, 1, seed=2)
    model = network(TwoLayerMLP, params)
    model.forward(X1)
    assert_gradients(model, params, X2, y2, "after two forwards")


@test_case(points=4)
def grad_disabled(TwoLayerMLP):
    params = random_params(6, 9, 1)
    X, y = random_batch(5, 6, 1)
    model = network(TwoLayerMLP, params)
    with torch.no_grad():
        assert_gradients(model, params, X, y, "under torch.no_grad()")
