"""Importing this module registers every diagnosis (grader/diagnosis/) in grader/diagnoses.py's
registry, by check id. The grading session (grader/session.py, shared by engine.grade and
the plugin) imports it; the checks never do. The student kit ships its own version of this
module, which registers nothing (kit.py: the diagnoses' variants spell out the solution)."""

from grader.diagnosis import backward, checkpoint, forward, init, step, training, weight_decay  # noqa: F401
