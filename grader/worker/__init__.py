"""The worker: the only place where student code runs.

``host.py`` is the process the grader starts (under the sandbox): it preloads torch and forks
one child per check, so that every check starts from the same clean state and a crash, an
exit or a hang costs only that call. ``ops.py`` holds the calls a check can ask for, ``protocol.py``
the wire format (plain arrays and JSON, never pickles) and ``client.py`` the grader's side.
"""
