"""Bug signatures: when a check fails, say which known mistake the student's code fits.

Each module here (one per rubric category) compares what the student's code returns with
the reference and with small named functions that compute the reference's known-wrong
variants in float64 (a missing factor 2, a transposed gradient, no learning-rate decay...).
The variants are built from the assignment's contract (activation, loss, layout,
biases, init scheme, weight decay: grader/diagnosis/maths.py), so every assignment gets
the signatures of its own maths.
A mistake is named only when the student's values equal that variant within the check's
tolerance (an exact fit); otherwise the diagnosis states only measured facts, or nothing.

Each module registers its diagnoses by check id (`@diagnoses(...)`, grader/diagnoses.py),
which also attaches them: the checks never import this package. The result reaches the
student as `Failed.hint` and the TA as `details["diagnosis"]` (stable ids, for the bug
zoo's confusion table, plus the evidence). grader/known_diagnoses.py imports every module.

Note for the student kit: the variants spell out the reference's maths, so this package
belongs with the reference solution, not in the kit; the diagnoses that compare with the
reference do nothing where `oracle.available()` is False.
"""
