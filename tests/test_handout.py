"""ASSIGNMENT.md states the contract the grader grades: keep the two equal."""

from __future__ import annotations

import re
from pathlib import Path

from grader import spec

HANDOUT = (Path(__file__).parents[1] / "ASSIGNMENT.md").read_text(encoding="utf-8")


def test_rubric_table_equals_rubric_toml():
    rows = re.findall(r"^\| (\w+\.\w+) \| (\w+) \| (\d+) \| (.+?) \|$", HANDOUT, flags=re.M)
    expected = [(c.id, c.category, str(int(c.points)), c.title) for c in spec.rubric().checks]
    assert rows == expected


def test_handout_states_the_contract_numbers():
    c = spec.contract()
    t = c.training
    dims = c.dims
    assert f"{dims.in_dim} → {dims.hidden_dim} (ReLU) → {dims.out_dim}" in HANDOUT
    assert f"**{t['epochs']} epochs**" in HANDOUT and f"**batch size {t['batch_size']}**" in HANDOUT
    assert f"learning rate **{t['lr']:.0e}**".replace("e-0", "e-") in HANDOUT and f"**halved every {t['decay_every']} epochs**" in HANDOUT
    assert f"{c.data['n_train']:,}" in HANDOUT
    for name in c.param_names:
        assert f'"{name}"' in HANDOUT


def test_handout_states_the_checkpoint_bounds():
    tol = spec.tolerances()["checkpoint"]
    assert f"Ratio ≤ {tol['full_credit_ratio']:.2f}" in HANDOUT and f"≥ {tol['zero_credit_ratio']:.1f}: none" in HANDOUT
    assert spec.rubric().total == 100
