"""The diagnoses' signatures in every assignment: built from the spec, exact-fit only.

The variants are computed from each spec's maths (grader/diagnosis/maths.py); each one
must be told apart from the reference and from every other variant, and right values
must get no hint. The zoo (tests/test_zoo.py) grades realistic one-bug submissions end to
end; here the signatures are fed the variants' own values.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

import numpy as np
import pytest
import torch

from grader import engine, oracle, spec
from grader.diagnosis.init import DIAGNOSIS_DIMS
from grader.diagnosis import backward, forward, init, maths, probe, weight_decay
from grader.diagnosis.fit import fits, fits_variant
from grader.spec import Contract, Dims

ROOT = Path(__file__).parents[1]
SPECS = spec.names()


def _f32(arrays: dict) -> dict:
    return {k: np.asarray(v, dtype=np.float32).astype(np.float64) for k, v in arrays.items()}


@pytest.mark.parametrize("name", SPECS)
def test_maths_with_no_mistake_is_the_reference(name):
    c = spec.assignment(name).contract
    dims = Dims(4, 6, c.small_out_dim)
    for p in backward.make_probes(c, dims):
        expected = oracle.gradients(c, p.params, p.X, p.y)
        got = maths.gradients(c, p.params, p.X, p.y)
        assert all(np.allclose(got[k], expected[k], rtol=1e-12, atol=1e-14) for k in expected)
        assert np.allclose(maths.forward(c, p.params, p.X), oracle.forward(c, p.params, p.X), rtol=1e-12, atol=1e-14)


def backward_mistakes() -> list[tuple[str, str, str]]:
    """(assignment, what to feed the diagnosis, the id it must name) for every signature."""
    cases = []
    for name in SPECS:
        c = spec.assignment(name).contract
        cases.append((name, "correct", ""))
        cases += [(name, f"variant:{key}", variant_id) for key, (variant_id, _) in backward.structural(c).items()]
        cases += [(name, f"scale:{scale_id}", scale_id) for scale_id in backward.scales(c)]
        cases.append((name, "transposed", "backward.transposed"))
    return cases


def fed(c: Contract, p: backward.Probe, ref: dict, how: str) -> dict:
    """What a submission with the mistake `how` returns on probe p."""
    if how == "correct":
        return ref
    if how == "transposed":
        return {k: v.T if v.ndim == 2 else v for k, v in ref.items()}
    if how.startswith("variant:"):
        return backward.variant(c, p, how.split(":", 1)[1])
    scale_id = how.split(":", 1)[1]
    factor = backward.scales(c)[scale_id](p.n)
    decay = maths.decay_terms(c, p.params)
    return {k: factor * (v - decay[k]) + decay[k] if scale_id != "backward.bias_averaged" or k.startswith("b")
            else v for k, v in ref.items()}


@pytest.mark.parametrize("full_size", [False, True], ids=["small", "homework-size"])
@pytest.mark.parametrize("name, how, expected_id", backward_mistakes())
def test_backward_names_each_mistake_and_no_other(name, how, expected_id, full_size):
    """On the generic probes of a network whose dims the constructor honours, and of one
    hard-coded to the homework's."""
    c = spec.assignment(name).contract
    found = backward.make_probes(c, c.dims if full_size else Dims(4, 6, c.small_out_dim))
    refs = [oracle.gradients(c, p.params, p.X, p.y) for p in found]
    for p, ref in zip(found, refs):
        p.got = _f32(fed(c, p, ref, how))
    tol = spec.tolerances()["backward"]
    kinds = {backward.explain(c, n, found, refs, tol)[0] for n in c.param_names}
    assert kinds - {"correct"} == ({expected_id} if expected_id else set())


def test_the_labels_broadcast_needs_as_many_rows_as_classes():
    """Its signature lives on its own probe (N == classes); there it differs from the
    reference and from the other cross-entropy variants."""
    c = spec.assignment("mlp-classification").contract
    dims = Dims(4, 6, 3)
    params, [(X, y)] = probe.generic(c, dims, "backward.labels", [dims.out_dim])
    tol = spec.tolerances()["backward"]
    reference = oracle.gradients(c, params, X, y)
    values = {how: maths.gradients(c, params, X, y, maths.Mistakes(output_gradient=how))
              for how in maths.OUTPUT_GRADIENTS["cross_entropy"]}
    got = _f32(values["labels_as_columns"])
    assert [how for how, v in values.items() if all(fits_variant(got[k], v[k], reference[k], tol) for k in got)] \
        == ["labels_as_columns"]


@pytest.mark.parametrize("dims", [Dims(4, 6, 3), Dims(64, 64, 10)])
@pytest.mark.parametrize("form", ["correct", *weight_decay.FORMS])
def test_weight_decay_forms_are_told_apart(form, dims):
    c = spec.assignment("mlp-classification").contract
    params, X, y = weight_decay.make_probe(c, dims)
    expected = oracle.gradients(c, params, X, y)
    if form == "correct":
        got = expected
    else:
        on_weights, on_biases, _ = weight_decay.FORMS[form]
        mistakes = maths.Mistakes(decay_weights=on_weights(weight_decay.ROWS),
                                  decay_biases=on_biases(weight_decay.ROWS))
        got = maths.gradients(c, params, X, y, mistakes)
    found = weight_decay.forms_that_fit(c, _f32(got), params, expected, spec.tolerances()["backward"])
    assert [f for f, _ in found] == ([] if form == "correct" else [form])
    assert all(fits(np.float32(got[k]), expected[k], spec.tolerances()["backward"]) == (form == "correct")
               for k in (c.weights if form != "backward.weight_decay_on_biases" else c.biases))


@pytest.mark.parametrize("name", SPECS)
def test_forward_tells_every_candidate_of_the_spec_apart(name):
    c = spec.assignment(name).contract
    params, [(X, _)] = probe.generic(c, Dims(4, 4, 4), "forward", [5])
    reference = oracle.forward(c, params, X)
    tol = spec.tolerances()["forward"]
    outputs = dict(forward.variants(c, params, X))
    assert outputs
    for names, output in outputs.items():
        got = np.asarray(output, dtype=np.float32).astype(np.float64)
        assert [n for n, o in outputs.items() if fits_variant(got, o, reference, tol)] == [names]


def _draw(name: str, dims: Dims, dist_of, seed: int) -> dict[str, np.ndarray]:
    """Weights of the spec's shapes drawn from dist_of(fan_in, fan_out)."""
    c = spec.assignment(name).contract
    rng = np.random.default_rng(seed)
    params = {}
    for w, shape in c.param_shapes(dims).items():
        if len(shape) == 2:
            params[w] = np.asarray(dist_of(*init.fans(c, np.empty(shape))).rvs(size=shape, random_state=rng),
                                   dtype=np.float32).astype(np.float64)
    return params


INIT_DIMS = {"mlp-classification": spec.assignment("mlp-classification").contract.dims, "sin-fit": DIAGNOSIS_DIMS}


@pytest.mark.parametrize("name", INIT_DIMS)
@pytest.mark.parametrize("seed", range(3))
def test_init_names_nothing_in_the_spec_scheme(name, seed):
    c = spec.assignment(name).contract
    assert not init.weights(c, _draw(name, INIT_DIMS[name], partial(init.correct, c), seed)).findings


@pytest.mark.parametrize("name, candidate", [(n, k) for n in INIT_DIMS for k in init.OTHER_THAN_NORMAL
                                             if k != spec.assignment(n).contract.init["scheme"]])
def test_init_names_each_known_wrong_scheme(name, candidate):
    c = spec.assignment(name).contract
    hint_id, dist_of, _ = init.candidates(c)[candidate]
    same_everywhere = all(dist_of(*init.fans(c, np.empty(s))).std() == init.correct(c, *init.fans(c, np.empty(s))).std()
                          for s in c.param_shapes(INIT_DIMS[name]).values() if len(s) == 2)
    result = init.weights(c, _draw(name, INIT_DIMS[name], dist_of, seed=0))
    # a scheme equal to the spec's at these fans (Xavier's fans swapped) is no mistake
    assert result.ids == (() if same_everywhere and hint_id != "init.uniform_not_normal" else (hint_id,))


def test_he_with_swapped_fans_is_named_from_the_measured_spread():
    c = spec.assignment("mlp-classification").contract
    params = _draw("mlp-classification", c.dims, init.he_normal_fan_out, seed=1)
    [finding] = init.weights(c, params).findings
    assert finding.id == "init.fans_swapped"
    assert f"W2 has std {np.std(params['W2']):.4g}, the handout's init 0.1768" in finding.text


CORRECT = [ROOT / "tests" / "specs_ok" / n for n in ("digits-ok", "sin-ok")] + [
    ROOT / "submissions" / n for n in ("example-correct", "example-digits-correct", "example-sin-correct")]


@pytest.mark.parametrize("folder", CORRECT, ids=lambda p: p.name)
@pytest.mark.slow
def test_a_correct_submission_gets_full_code_points_and_no_hint(folder):
    from grader.submission import Submission

    assignment, _ = Submission(folder).assignment()
    code = [c.id for c in assignment.rubric.checks if c.category != "checkpoint"]
    torch.set_num_threads(1)
    outcomes = engine.grade(folder, only=code).outcomes
    assert [(o.check.id, o.message[:200]) for o in outcomes if o.score < o.check.points] == []
    assert [o.details["diagnosis"] for o in outcomes if o.details.get("diagnosis")] == []
