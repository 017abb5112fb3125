OK_FORMAT = False
name = "checkpoint"

import torch
from otter.test_files import test_case

SHAPES = {"W1": (512, 256), "b1": (512,), "W2": (1, 512), "b2": (1,)}


@test_case(points=4)
def loads():
    state = torch.load("model.pth", weights_only=True)
    assert set(state) == set(SHAPES), f"keys {sorted(state)}"
    for key, shape in SHAPES.items():
        assert tuple(state[key].shape) == shape, f"{key} has shape {tuple(state[key].shape)}"
        assert torch.isfinite(state[key]).all(), f"{key} is not finite"
