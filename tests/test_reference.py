"""The reference solution is the contract: prove it equals torch autograd, in float64."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from grader import oracle, spec
from grader.spec import Dims
from grader.strategies import cases, small_dims

ref = oracle._reference()
REGRESSION = spec.assignment("mlp-regression").contract


def autograd_gradients(case):
    """torch autograd's gradients of the default assignment's objective on `case`."""
    return autograd_gradients_of(case.params, case.X, case.y, REGRESSION)


def reference_model(params):
    model = ref.TwoLayerMLP.__new__(ref.TwoLayerMLP).configure()
    for k, v in params.items():
        setattr(model, k, torch.tensor(v, dtype=torch.float64))
    return model


@settings(max_examples=200)
@given(cases(REGRESSION, small_dims(REGRESSION, st.integers(1, 4)), n=st.integers(1, 9), kink_margin=1e-6))
def test_backward_equals_autograd(case):
    """Away from kinks, for many shapes including N = 1 and out_dim > 1."""
    model = reference_model(case.params)
    model.backward(model.forward(torch.tensor(case.X)), torch.tensor(case.y))
    expected = autograd_gradients(case)
    for name in expected:
        np.testing.assert_allclose(getattr(model, f"grad_{name}").numpy(), expected[name], rtol=1e-12, atol=1e-12)


@settings(max_examples=50)
@given(cases(REGRESSION, small_dims(REGRESSION), kinks=True))
def test_backward_at_exact_kinks_uses_relu_grad_zero_like_autograd(case):
    model = reference_model(case.params)
    model.backward(model.forward(torch.tensor(case.X)), torch.tensor(case.y))
    for name, grad in autograd_gradients(case).items():
        np.testing.assert_allclose(getattr(model, f"grad_{name}").numpy(), grad, rtol=1e-12, atol=1e-12)


def test_forward_is_the_contract_formula():
    torch.manual_seed(0)
    model = ref.TwoLayerMLP(3, 4, 2, dtype=torch.float64)
    model.b1 = torch.randn(4, dtype=torch.float64)
    X = torch.randn(5, 3, dtype=torch.float64)
    expected = torch.clamp(X @ model.W1.T + model.b1, min=0) @ model.W2.T + model.b2
    assert torch.equal(model.forward(X), expected)


def test_init_is_xavier_uniform_with_zero_biases_and_follows_the_global_seed():
    torch.manual_seed(3)
    a = ref.TwoLayerMLP(256, 512, 1)
    torch.manual_seed(3)
    b = ref.TwoLayerMLP(256, 512, 1)
    assert all(torch.equal(a.state_dict()[k], b.state_dict()[k]) for k in a.state_dict())
    assert a.W1.dtype == torch.float32 and a.W1.shape == (512, 256) and a.W2.shape == (1, 512)
    assert float(a.W1.abs().max()) <= np.sqrt(6 / (256 + 512))
    assert float(a.W1.abs().max()) > 0.99 * np.sqrt(6 / (256 + 512))
    assert not a.b1.any() and not a.b2.any()


@pytest.mark.parametrize("n,batch_size", [(10, 4), (12, 4), (7, 1), (5, 8)])
def test_train_follows_the_schedule_like_autograd(n, batch_size):
    """Across decay boundaries, N not a multiple of the batch size, batch size 1."""
    rng = np.random.default_rng(n)
    dims = Dims(3, 6, 1)
    params = {"W1": rng.standard_normal((6, 3)), "b1": rng.standard_normal(6) * 0.1,
              "W2": rng.standard_normal((1, 6)), "b2": np.zeros(1)}
    X, y = rng.standard_normal((n, dims.in_dim)), rng.standard_normal((n, 1))
    kwargs = dict(epochs=5, batch_size=batch_size, lr=0.05, decay_every=2, decay_factor=0.5)
    losses, final = oracle.train(REGRESSION, params, X, y, shuffle=False, **kwargs)
    expected_losses, expected_final = autograd_train_of(params, X, y, REGRESSION, **kwargs)
    np.testing.assert_allclose(losses, expected_losses, rtol=1e-12)
    for name in final:
        np.testing.assert_allclose(final[name], expected_final[name], rtol=1e-10, atol=1e-12)


def test_learning_rate_schedule_halves_every_decay_every_epochs():
    rates = [ref.learning_rate(e, 1e-3, 50, 0.5) for e in (0, 49, 50, 99, 100, 149)]
    assert rates == [1e-3, 1e-3, 5e-4, 5e-4, 2.5e-4, 2.5e-4]


# ---------------------------------------------------------------- every assignment spec

def autograd_forward_loss(p, X, y, c):
    """The assignment's network and objective written with torch ops, for autograd."""
    def linear(A, W, b):
        out = A @ W.T if c.layout == "out_in" else A @ W
        return out + b if b is not None else out

    z = linear(X, p["W1"], p.get("b1"))
    a = torch.relu(z) if c.activation == "relu" else torch.tanh(z)
    out = linear(a, p["W2"], p.get("b2"))
    if c.loss == "cross_entropy":
        data_loss = torch.nn.functional.cross_entropy(out, y)
    else:
        data_loss = torch.nn.functional.mse_loss(out, y)
    penalty = 0.5 * c.weight_decay * sum((p[w] ** 2).sum() for w in c.weights)
    return out, data_loss, data_loss + penalty


def autograd_gradients_of(params, X, y, c):
    p = {k: torch.tensor(v, dtype=torch.float64, requires_grad=True) for k, v in params.items()}
    _, _, objective = autograd_forward_loss(p, torch.tensor(X), torch.tensor(y), c)
    objective.backward()
    return {k: t.grad.numpy() for k, t in p.items()}


@pytest.mark.parametrize("name", spec.names())
def test_backward_equals_autograd_for_every_assignment(name):
    """Activation, loss (stable CE with int64 labels), biases or none, layout and weight
    decay, away from kinks, for many shapes including N = 1."""
    c = spec.assignment(name).contract

    @settings(max_examples=100)
    @given(cases(c, small_dims(c, st.integers(1, 4)), n=st.integers(1, 9), kink_margin=1e-6))
    def prop(case):
        got = oracle.gradients(c, case.params, case.X, case.y)
        expected = autograd_gradients_of(case.params, case.X, case.y, c)
        assert set(got) == set(expected) == set(c.param_names)
        for k in expected:
            np.testing.assert_allclose(got[k], expected[k], rtol=1e-10, atol=1e-12)

    prop()


@pytest.mark.parametrize("offset", [-1000.0, 1000.0, 1e5])
def test_cross_entropy_gradient_is_finite_and_exact_for_huge_logits(offset):
    c = spec.assignment("mlp-classification").contract
    rng = np.random.default_rng(0)
    params = {"W1": rng.standard_normal((5, 3)), "b1": rng.standard_normal(5),
              "W2": rng.standard_normal((4, 5)) * 10, "b2": rng.standard_normal(4) + offset}
    X, y = rng.standard_normal((6, 3)), rng.integers(0, 4, 6)
    got = oracle.gradients(c, params, X, y)
    expected = autograd_gradients_of(params, X, y, c)
    for k in expected:
        assert np.all(np.isfinite(got[k]))
        np.testing.assert_allclose(got[k], expected[k], rtol=1e-9, atol=1e-12)
    assert np.isfinite(oracle.loss(c, params, X, y))


def autograd_train_of(params, X, y, c, epochs, batch_size, lr, decay_every, decay_factor):
    """An independent training loop using torch autograd, per the handout's schedule, for
    the assignment whose contract is `c`."""
    p = {k: torch.tensor(v, dtype=torch.float64, requires_grad=True) for k, v in params.items()}
    X, y = torch.tensor(X), torch.tensor(y)
    losses = []
    for epoch in range(epochs):
        lr_e = lr * decay_factor ** (epoch // decay_every)
        total = 0.0
        for start in range(0, len(X), batch_size):
            _, data_loss, objective = autograd_forward_loss(p, X[start:start + batch_size], y[start:start + batch_size], c)
            total += data_loss.item() * len(X[start:start + batch_size])
            objective.backward()
            with torch.no_grad():
                for t in p.values():
                    t -= lr_e * t.grad
                    t.grad = None
        losses.append(total / len(X))
    return losses, {k: t.detach().numpy() for k, t in p.items()}


@pytest.mark.parametrize("name", spec.names())
def test_train_follows_the_schedule_like_autograd_for_every_assignment(name):
    c = spec.assignment(name).contract
    rng = np.random.default_rng(1)
    dims = Dims(3, 6, c.small_out_dim)
    params = {k: rng.standard_normal(shape) * 0.5 for k, shape in c.param_shapes(dims).items()}
    X = rng.standard_normal((10, 3))
    y = rng.integers(0, 3, 10) if c.classification else rng.standard_normal((10, 1))
    kwargs = dict(epochs=5, batch_size=4, lr=0.05, decay_every=2, decay_factor=0.5)
    losses, final = oracle.train(c, params, X, y, shuffle=False, **kwargs)
    expected_losses, expected_final = autograd_train_of(params, X, y, c, **kwargs)
    np.testing.assert_allclose(losses, expected_losses, rtol=1e-12)
    assert set(final) == set(expected_final) == set(c.param_names)
    for k in final:
        np.testing.assert_allclose(final[k], expected_final[k], rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", spec.names())
def test_init_follows_the_spec_scheme(name):
    """Shapes per layout, zero biases, and the scheme's spread (uniform bound or normal std)."""
    c = spec.assignment(name).contract
    dims = Dims(200, 300, 50)
    model = oracle.new_model(c, dims, seed=4)
    state = model.state_dict()
    assert {k: tuple(v.shape) for k, v in state.items()} == c.param_shapes(dims)
    assert all(not state[b].any() for b in c.biases)
    for w in c.weights:
        fan_in, fan_out = (state[w].shape[1], state[w].shape[0]) if c.layout == "out_in" else state[w].shape
        scheme = c.init["scheme"]
        if scheme == "xavier_uniform":
            bound = np.sqrt(6 / (fan_in + fan_out))
            assert 0.99 * bound < float(state[w].abs().max()) <= bound
        else:
            std = {"xavier_normal": np.sqrt(2 / (fan_in + fan_out)), "he_normal": np.sqrt(2 / fan_in),
                   "normal": c.init.get("std")}[scheme]
            assert abs(float(state[w].std()) / std - 1) < 0.05


def trajectory_inputs(seed: int = 0):
    rng = np.random.default_rng(seed)
    params = {"W1": rng.uniform(-1, 1, (5, 3)), "b1": rng.uniform(-0.5, 0.5, 5),
              "W2": rng.uniform(-1, 1, (1, 5)), "b2": rng.uniform(-0.5, 0.5, 1)}
    X, y = rng.standard_normal((32, 3)), rng.standard_normal((32, 1))
    kwargs = {"epochs": 3, "batch_size": 8, "lr": 0.05, "decay_every": 2, "decay_factor": 0.5}
    return params, X, y, kwargs


@pytest.mark.parametrize("seed, shuffle", [(5, True), (None, False)])
def test_a_trajectory_asked_again_is_the_same_and_leaves_torchs_generator_as_computing_it_does(seed, shuffle):
    params, X, y, kwargs = trajectory_inputs()
    oracle._TRAJECTORIES.clear()
    first = oracle.train(REGRESSION, params, X, y, seed=seed, shuffle=shuffle, **kwargs)
    after_first = torch.get_rng_state()
    first[1]["W1"][:] = 0.0  # a caller's changes do not reach the next caller
    torch.manual_seed(123)
    again = oracle.train(REGRESSION, params, X, y, seed=seed, shuffle=shuffle, **kwargs)
    assert len(oracle._TRAJECTORIES) == 1
    oracle._TRAJECTORIES.clear()
    torch.manual_seed(123)
    computed = oracle.train(REGRESSION, params, X, y, seed=seed, shuffle=shuffle, **kwargs)
    assert again[0] == computed[0]
    assert all(np.array_equal(again[1][k], computed[1][k]) for k in computed[1])
    if seed is not None:
        assert torch.equal(torch.get_rng_state(), after_first)


def test_a_trajectory_that_shuffles_without_a_seed_is_computed_every_time():
    params, X, y, kwargs = trajectory_inputs()
    oracle._TRAJECTORIES.clear()
    oracle.train(REGRESSION, params, X, y, shuffle=True, **kwargs)
    assert oracle._TRAJECTORIES == {}


def test_other_inputs_are_another_trajectory():
    params, X, y, kwargs = trajectory_inputs()
    oracle._TRAJECTORIES.clear()
    oracle.train(REGRESSION, params, X, y, seed=5, **kwargs)
    oracle.train(REGRESSION, params, X, y * 2, seed=5, **kwargs)
    oracle.train(REGRESSION, params, X, y, seed=6, **kwargs)
    oracle.train(REGRESSION, params, X, y, seed=5, relu_grad_at_zero=1, **kwargs)
    assert len(oracle._TRAJECTORIES) == 4
