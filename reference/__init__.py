"""The reference solution. TA-only: it never reaches students (see `grader kit`)."""
