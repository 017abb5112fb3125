OK_FORMAT = False
name = "structure"

import torch
from otter.test_files import test_case

METHODS = ["forward", "backward", "step", "state_dict", "load_state_dict"]
SHAPES = {"W1": (7, 5), "b1": (7,), "W2": (3, 7), "b2": (3,)}


@test_case(points=4)
def api(TwoLayerMLP, mse_loss, train):
    assert callable(TwoLayerMLP) and callable(mse_loss) and callable(train), "TwoLayerMLP, mse_loss or train missing"
    for method in METHODS:
        assert callable(getattr(TwoLayerMLP, method, None)), f"TwoLayerMLP.{method} missing"


@test_case(points=4)
def constructor_dims_and_parameters(TwoLayerMLP):
    model = TwoLayerMLP(5, 7, 3)
    for key, shape in SHAPES.items():
        value = getattr(model, key)
        assert isinstance(value, torch.Tensor) and value.dtype == torch.float32, f"{key} is not a float32 tensor"
        assert tuple(value.shape) == shape, f"{key} has shape {tuple(value.shape)}, expected {shape}"


@test_case(points=2)
def state_dict(TwoLayerMLP):
    source, target = TwoLayerMLP(5, 7, 3), TwoLayerMLP(5, 7, 3)
    state = source.state_dict()
    assert set(state) == set(SHAPES), f"state_dict keys {sorted(state)}"
    target.load_state_dict(state)
    for key in SHAPES:
        assert torch.equal(target.state_dict()[key], state[key]), f"{key} not restored"
