"""no_autograd catches autograd by every route (issue 13, finding 5), and leaves every
correct style alone.

The hostile submissions are in tests/hostile/ (see its README); each is graded on the two
no_autograd checks only. The runtime check (`grad_disabled`) reads the worker's guard
(grader/worker/guard.py); the static one (`source`) scans mlp.py and the modules it imports.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from grader import engine

pytestmark = pytest.mark.slow  # submissions graded for real

ROOT = Path(__file__).parents[1]
HOSTILE = Path(__file__).parent / "hostile"
CHECKS = ["no_autograd.grad_disabled", "no_autograd.source"]
ENGINE_PASS = ("backward() under torch.no_grad() ran 1 backward pass(es) of torch's autograd engine "
               "(Tensor.backward, torch.autograd.grad, torch.func.grad/vjp or the like). Compute every gradient by hand")
CLEAN = "passed"

# folder -> (the runtime check's message, the static check's message or CLEAN)
ROUTES = {
    "autograd_module_function": (
        ENGINE_PASS,
        "autograd in the graded code: mlp.py line 42: torch.enable_grad (autograd state); mlp.py line 43: "
        "requires_grad_ (autograd state); mlp.py line 44: torch.autograd.grad. Compute every gradient by hand in "
        "backward()"),
    "autograd_helper_module": (
        ENGINE_PASS,
        "autograd in the graded code: gradients.py line 7: torch.enable_grad (autograd state); gradients.py line 8: "
        "requires_grad_ (autograd state); gradients.py line 11: loss.backward() (autograd's backward: no backward "
        "method of your classes takes these arguments); gradients.py line 12: W1.grad (autograd state); "
        "gradients.py line 12: b1.grad (autograd state); gradients.py line 12: W2.grad (autograd state); "
        "gradients.py line 12: b2.grad (autograd state). Compute every gradient by hand in backward()"),
    "autograd_getattr": (ENGINE_PASS, CLEAN),
    "autograd_importlib": (
        ENGINE_PASS,
        "autograd in the graded code: mlp.py line 28: importlib.import_module() (runs code the autograd scan cannot "
        "read: write the graded code out); mlp.py line 29: torch.enable_grad (autograd state); mlp.py line 30: "
        "requires_grad_ (autograd state); mlp.py line 31: engine.grad (autograd state). Compute every gradient by "
        "hand in backward()"),
    "autograd_exec": (
        ENGINE_PASS,
        "autograd in the graded code: mlp.py line 28: exec() (runs code the autograd scan cannot read: write the "
        "graded code out). Compute every gradient by hand in backward()"),
    "autograd_enable_grad": (
        ENGINE_PASS,
        "autograd in the graded code: mlp.py line 27: torch.enable_grad (autograd state); mlp.py line 28: "
        "torch.set_grad_enabled() (turns autograd on); mlp.py line 29: requires_grad_ (autograd state); mlp.py "
        "line 30: backward() (autograd's backward: no backward method of your classes takes these arguments); "
        "mlp.py line 31: p.grad (autograd state). Compute every gradient by hand in backward()"),
    "autograd_forward_mode": (
        "backward() under torch.no_grad() used automatic differentiation: torch.func.jvp/jacfwd. "
        "Compute every gradient by hand", CLEAN),
    # It pops the guard's modes first: the engine's counter still sees the pass.
    "autograd_pops_guard": (
        ENGINE_PASS,
        "autograd in the graded code: mlp.py line 33: torch.enable_grad (autograd state); mlp.py line 34: "
        "requires_grad_ (autograd state). Compute every gradient by hand in backward()"),
    # It pops the guard's modes, then runs forward-mode AD (no backward pass): the removal is named.
    "autograd_hides_from_guard": (
        "backward() under torch.no_grad(): torch's dispatch-mode stack was changed during backward() (the "
        "grader's mode popped, or other modes left on it); torch's torch-function-mode stack was changed during "
        "backward() (the grader's mode popped, or other modes left on it): the grader cannot check for autograd "
        "behind it", CLEAN),
    "finite_differences": (
        "backward() did 25 times the arithmetic of forward() (at most 10 times is backprop on a network of 4 "
        "parameters) and called forward() 9 time(s): gradients by finite differences of forward are not "
        "hand-written backprop", CLEAN),
}
CORRECT = [ROOT / "submissions" / name for name in ("example-correct", "example-sin-correct", "example-digits-correct")]
CORRECT += sorted((ROOT / "tests" / "zoo").glob("ok-*")) + [HOSTILE / "own_layers_module"]


@pytest.fixture(scope="module")
def graded() -> dict[str, dict]:
    return {name: {o.check.id: o for o in engine.grade(HOSTILE / name, only=CHECKS).outcomes} for name in ROUTES}


@pytest.mark.parametrize("name", sorted(ROUTES))
def test_every_route_to_autograd_fails_the_runtime_check(graded, name):
    outcome = graded[name]["no_autograd.grad_disabled"]
    assert (outcome.score, outcome.status) == (0.0, "failed")
    assert outcome.message == ROUTES[name][0]


@pytest.mark.parametrize("name", sorted(ROUTES))
def test_the_scan_names_what_it_can_see_with_file_and_line(graded, name):
    outcome = graded[name]["no_autograd.source"]
    expected = ROUTES[name][1]
    if expected == CLEAN:  # built from computed names: only the runtime guard sees it
        assert (outcome.score, outcome.status) == (outcome.check.points, "passed")
    else:
        assert (outcome.score, outcome.status, outcome.message) == (0.0, "failed", expected)


@pytest.mark.parametrize("folder", CORRECT, ids=lambda p: p.name)
def test_correct_styles_keep_every_no_autograd_point(folder):
    """einsum, torch.where, in-place updates, numpy inside, per-sample loops, layer classes
    with their own backward (also in a helper module), and the bundled correct examples."""
    outcomes = engine.grade(folder, only=CHECKS).outcomes
    assert [(o.check.id, o.status, o.message) for o in outcomes] == [(c, "passed", "") for c in CHECKS]
