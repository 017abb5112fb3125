"""Each assignment's handout states the contract the grader grades: keep the two equal.
ASSIGNMENT.md is mlp-regression's; the others' are named by their spec's `handout`."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from grader import spec

ROOT = Path(__file__).parents[1]
HANDOUT = (ROOT / "ASSIGNMENT.md").read_text(encoding="utf-8")


def handout(name: str) -> str:
    return (ROOT / spec.assignment(name).contract.handout).read_text(encoding="utf-8")


@pytest.mark.parametrize("name", spec.names())
def test_rubric_table_equals_the_spec(name):
    rows = re.findall(r"^\| (\w+\.\w+) \| (\w+) \| (\d+) \| (.+?) \|$", handout(name), flags=re.M)
    expected = [(c.id, c.category, str(int(c.points)), c.title) for c in spec.assignment(name).rubric.checks]
    assert rows == expected


@pytest.mark.parametrize("name", spec.names())
def test_handout_states_the_contract_numbers(name):
    text = handout(name)
    c = spec.assignment(name).contract
    t = c.training
    dims = c.dims
    activation = {"relu": "ReLU", "tanh": "tanh"}[c.activation]
    assert f"{dims.in_dim} → {dims.hidden_dim} ({activation}) → {dims.out_dim}" in text
    if c.binding["train"] == "iterations":  # a course's train(): iterations of random mini-batches
        assert f"**{t['num_iters']} iterations**" in text and f"**batch size {t['batch_size']}**" in text
        assert f"learning rate **{t['learning_rate']:g}**" in text
        assert f"**learning_rate_decay = {t['learning_rate_decay']:g}**" in text and f"reg = {c.reg:g}" in text
    else:
        assert f"**{t['epochs']} epochs**" in text and f"**batch size {t['batch_size']}**" in text
        assert (f"learning rate **{t['lr']:.0e}**".replace("e-0", "e-") in text
                or f"learning rate **{t['lr']:g}**" in text)
        assert f"**halved every {t['decay_every']} epochs**" in text and t["decay_factor"] == 0.5
    if c.weight_decay and c.binding.get("reg_convention") == "sum_squares":
        assert "reg \\* (sum(W1\\*\\*2) + sum(W2\\*\\*2))" in text and "**2 \\* reg \\* W**" in text
    elif c.weight_decay:
        assert f"weight_decay={c.weight_decay:g}" in text
    if "n_train" in c.data:
        assert f"{c.data['n_train']:,}" in text or f"{c.data['n_train']} ×" in text
    for name_ in c.param_names:
        assert f'"{name_}"' in text
    for fn in c.functions:
        assert f"def {fn}(" in text
    if name != spec.DEFAULT:
        assert f'assignment = "{name}"' in text


@pytest.mark.parametrize("name", spec.names())
def test_handout_states_the_checkpoint_bounds(name):
    text = handout(name)
    cp = spec.assignment(name).contract.checkpoint
    points = int(spec.assignment(name).rubric[cp["check"]].points)
    if cp["metric"] == "test_mse_ratio":
        assert f"Ratio ≤ {cp['full_credit']:.2f}: all {points} points" in text
        assert f"≥ {cp['zero_credit']:.1f}: none" in text
    elif cp["metric"] == "test_accuracy":
        assert f"Accuracy ≥ {cp['full_credit']:.1%}: all {points} points; ≤ {cp['zero_credit']:.1%}: none" in text
    else:
        assert f"RMSE ≤ {cp['full_credit']:g}: all {points} points; ≥ {cp['zero_credit']:g}: none" in text
    assert spec.assignment(name).rubric.total == 100
