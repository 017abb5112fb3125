"""`grader intake`: the one door for submissions (docs/INTAKE.md).

It reads a download (`entries`: folders and zip archives, safely), tells whose files are
where (`formats`: Canvas, Moodle, Gradescope, GitHub Classroom, plain folders), keeps only
what the assignment asks for (`policy`), turns a notebook or a script that trains at import
into its definitions (`convert`, `definitions`) and writes `submissions/<student>/` with a log of
what was dropped and why (`write`); `command` is the CLI. Nothing a student hands in that
pytest would read or run (configuration files, conftest.py, test modules), no link, pipe or
device, and nothing outside the assignment's files ever reaches a submission folder.
"""
