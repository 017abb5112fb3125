OK_FORMAT = False
name = "init"

import math

import torch
from otter.test_files import test_case
from mlp_reference import first_weights

# fan_in and fan_out far apart, thousands of weights (as the grader's init checks)
DIMS = (400, 40, 200)


def weights(model):
    return {"W1": model.W1, "W2": model.W2}


def bound(W):
    fan_out, fan_in = W.shape
    return math.sqrt(6 / (fan_in + fan_out))


@test_case(points=3)
def xavier_bound(TwoLayerMLP):
    for key, W in weights(TwoLayerMLP(*DIMS)).items():
        assert W.abs().max().item() <= bound(W), f"{key} exceeds the Xavier bound"


@test_case(points=3)
def xavier_distribution(TwoLayerMLP):
    # Kolmogorov-Smirnov against U(-a, a); 2.8 / sqrt(n) rejects a correct init with p < 1e-6
    for key, W in weights(TwoLayerMLP(*DIMS)).items():
        a, w = bound(W), W.flatten().double().sort().values
        n = len(w)
        cdf = ((w + a) / (2 * a)).clamp(0, 1)
        above = torch.arange(1, n + 1, dtype=torch.float64) / n
        statistic = max((above - cdf).max().item(), (cdf - (above - 1 / n)).max().item())
        assert statistic < 2.8 / math.sqrt(n), f"{key} is not uniform on (-a, a): KS statistic {statistic:.3g}"


@test_case(points=2)
def zero_biases(TwoLayerMLP):
    model = TwoLayerMLP(*DIMS)
    assert not model.b1.any() and not model.b2.any(), "biases are not zero"


@test_case(points=2)
def seeded(TwoLayerMLP):
    (W1, W2), (W1_again, W2_again) = first_weights(TwoLayerMLP, 3, 3)
    assert torch.equal(W1, W1_again) and torch.equal(W2, W2_again), "same seed, different weights"


@test_case(points=2)
def seeds_differ(TwoLayerMLP):
    (W1, _), (W1_other, _) = first_weights(TwoLayerMLP, 3, 4)
    assert not torch.equal(W1, W1_other), "different seeds, same weights"
