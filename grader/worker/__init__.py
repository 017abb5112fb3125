"""The worker: the only place where student code runs.

``host.py`` is the process the grader starts (under the sandbox): it preloads torch and forks
children (``child.py``) that confine themselves and run the student's code, so that every
check starts from the same clean state and a crash, an exit or a hang costs only that call.
``watch.py`` watches a call (deadline, processes, disk: ``disk.py``), ``processes.py`` ends
what a call or a worker left running, ``rlimits.py`` sets the limits and privileges.
``ops.py`` holds the calls a check can ask for, ``protocol.py`` the messages and their wire
format (plain arrays and JSON, never pickles; every answer checked and capped) and
``client.py`` the grader's side.
"""
