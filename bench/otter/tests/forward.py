OK_FORMAT = False
name = "forward"

import torch
from otter.test_files import test_case
from mlp_reference import FORWARD, assert_close, each_case, forward, network, random_batch, random_params


@test_case(points=8)
def matches_reference(TwoLayerMLP):
    for params, X, _, what in each_case():
        assert_close(network(TwoLayerMLP, params).forward(X), forward(params, X), FORWARD, f"forward {what}")


@test_case(points=3)
def input_unchanged(TwoLayerMLP):
    params = random_params(6, 9, 2)
    X, _ = random_batch(5, 6, 2)
    kept = X.clone()
    network(TwoLayerMLP, params).forward(X)
    assert torch.equal(X, kept), "forward modified X"


@test_case(points=3)
def rowwise(TwoLayerMLP):
    params = random_params(6, 9, 2)
    X, _ = random_batch(5, 6, 2)
    model = network(TwoLayerMLP, params)
    whole = model.forward(X)
    for i in range(len(X)):
        assert_close(model.forward(X[i:i + 1]), whole[i:i + 1], FORWARD, f"row {i} alone")
