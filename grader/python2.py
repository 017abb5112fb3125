"""Telling Python 2 code from a Python 3 syntax error, so a student who handed in Python 2
is told so in one sentence instead of being shown a traceback.

Only the first syntax error is looked at (Python stops there): its message and the text of
its line. Used by intake (on the code it parses) and by the worker's client (on the
SyntaxError the import of mlp.py raised).
"""

from __future__ import annotations

import re

# (the SyntaxError's message starts with, its line matches, the idiom, how Python 3 says it)
IDIOMS = (
    ("Missing parentheses in call to 'print'", None, "print statement", "print(...)"),
    ("Missing parentheses in call to 'exec'", None, "exec statement", "exec(...)"),
    ("multiple exception types must be parenthesized", r"^\s*except\s+[\w.]+\s*,\s*\w+\s*:",
     "`except E, e:`", "except E as e:"),
    ("leading zeros in decimal integer literals", None, "octal literal like 0777", "0o777"),
    ("invalid decimal literal", r"\b\d+[lL]\b", "long integer literal like 10L", "10"),
    ("Function parameters cannot be parenthesized", None, "tuple parameter", "unpack it in the body"),
    ("Lambda expression parameters cannot be parenthesized", None, "tuple parameter", "unpack it in the body"),
    ("invalid syntax", r"`", "backquotes", "repr(...)"),
    ("invalid syntax", r"<>", "`<>` operator", "!="),
    ("invalid syntax", r"^\s*raise\s+[\w.]+\s*,", "`raise E, message`", "raise E(message)"),
    ("invalid syntax", r"\b[uU][rR]['\"]", "ur'...' string", "r'...'"),
)


def idiom(message: str, line: str | None) -> tuple[str, str] | None:
    """(the Python 2 idiom, its Python 3 spelling) a syntax error points at, or None."""
    for start, pattern, name, fix in IDIOMS:
        if message.startswith(start) and (pattern is None or (line and re.search(pattern, line))):
            return name, fix
    return None


def described(message: str, lineno: int | None, line: str | None) -> str | None:
    """"this is Python 2 code: ..." for a syntax error that points at a Python 2 idiom, else None."""
    found = idiom(message, line)
    if found is None:
        return None
    where = f" at line {lineno}" if lineno else ""
    return f"this is Python 2 code: {found[0]}{where}; the grader runs Python 3 (write {found[1]})"


def of_syntax_error(exc: SyntaxError) -> str | None:
    return described(exc.msg or "", exc.lineno, exc.text)


def of_worker_error(error: dict) -> str | None:
    """The same, from the worker's description of a SyntaxError: its message ends with
    "(mlp.py, line N)" and its traceback shows the line above the SyntaxError (and its carets)."""
    if error.get("type") != "SyntaxError":
        return None
    match = re.match(r"^(?P<message>.*) \((?P<file>[^()]*), line (?P<line>\d+)\)$", str(error.get("message", "")), re.S)
    if not match:
        return None
    lines = str(error.get("traceback", "")).splitlines()
    last = next((i for i in range(len(lines) - 1, -1, -1) if lines[i].startswith("SyntaxError")), len(lines))
    before = [text for text in lines[:last] if text.strip() and not set(text.strip()) <= {"^", "~"}]
    source_line = before[-1] if before and not before[-1].lstrip().startswith('File "') else None
    return described(match["message"], int(match["line"]), source_line)
