"""mlp-grader: grades the two-layer MLP homework with hand-written backprop.

Kept free of imports: the worker imports ``grader.worker`` inside the sandbox, where only
the worker's own files are present.
"""

__version__ = "0.1.0"
