"""The code file intake writes from what a student handed in: a notebook (`mlp.ipynb`, read
with nbformat) or a script that does work when imported becomes the assignment's `mlp.py`
holding only its definitions (grader/intake/definitions.py); a script that only defines
things is kept byte for byte. Python 2 code is named as such in the log.

A converted file starts with `MARK` lines: what was graded and what was left out, and each
definition that needs a name only left-out code binds. The grader reads them back
(`Submission.conversion()`) for the submission's notes and the spec's `[submission] top_level_work`.
"""

from __future__ import annotations

import re

from grader import python2
from grader.intake.definitions import Extraction, Piece, extract
from grader.submission import CONVERSION_MARK as MARK

MAGIC = re.compile(r"^\s*[%!]")  # IPython line magics and shell escapes: not Python


def notebook_name(code: str) -> str:
    """The notebook a student may hand in instead of the code file: mlp.py -> mlp.ipynb."""
    return code.rsplit(".", 1)[0] + ".ipynb"


def convert(files: dict[str, bytes], code: str, log: list[str]) -> dict[str, bytes]:
    """The files to write, with the notebook (if any) turned into the code file, or the code
    file reduced to its definitions when importing it would do work; `log` gets what was done."""
    notebook = notebook_name(code)
    files = dict(files)
    if notebook in files:
        data = files.pop(notebook)
        _replace_kept_line(log, notebook, f"read {notebook} ({len(data)} bytes)")
        converted = from_notebook(data, notebook, log)
        if converted is not None:
            files[code] = converted
            log.append(f"kept {code} ({len(converted)} bytes)")
    elif code in files:
        converted = from_script(files[code], code, log)
        if converted is not None:
            _replace_kept_line(log, code, f"read {code} ({len(files[code])} bytes)")
            files[code] = converted
            log.append(f"kept {code} ({len(converted)} bytes)")
    return files


def from_notebook(data: bytes, name: str, log: list[str]) -> bytes | None:
    import nbformat  # only when a notebook is handed in

    try:
        book = nbformat.reads(data.decode("utf-8"), as_version=4)
        cells = [(number, cell.get("source", "")) for number, cell in enumerate(book.cells, 1)
                 if cell.get("cell_type") == "code"]
    except Exception as exc:  # noqa: BLE001 - any failure of a third-party parser on untrusted bytes
        log.append(f"dropped {name}: not a notebook nbformat can read ({type(exc).__name__}: {str(exc)[:200]})")
        return None
    pieces, magics = [], {}
    for number, source in cells:
        label = f"cell {number}"
        if source.lstrip().startswith("%%"):
            magics[label] = [f"{label}: left out whole: a cell magic ({source.lstrip().split()[0]}), not Python"]
            pieces.append((label, None))
            continue
        lines = source.splitlines()
        for index, line in enumerate(lines):
            if MAGIC.match(line):
                magics.setdefault(label, []).append(f"{label}: left out line {index + 1} ({line.strip()[:80]}): an "
                                                    f"IPython magic or shell command, not Python")
                lines[index] = ""
        pieces.append((label, "\n".join(lines)))
    extraction = extract(pieces, cells=True)
    for piece in extraction.pieces:
        log += magics.get(piece.label, [])
        if not piece.skipped and (piece.statements or piece.error):
            log.append(_piece_lines(piece))
    return _written(extraction, name, log)


def from_script(data: bytes, name: str, log: list[str]) -> bytes | None:
    """The definitions of a script that does work when imported, or None to keep it as it is."""
    try:
        source = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return None
    extraction = extract([(name, source)], cells=False)
    error = extraction.pieces[0].error
    if error is not None:
        log.append(_unparsable(name, error) + ": kept as handed in (the grader reports it)")
        return None
    if not extraction.needed():
        return None
    log.append(_piece_lines(extraction.pieces[0]))
    return _written(extraction, name, log)


def _written(extraction: Extraction, name: str, log: list[str]) -> bytes:
    marks = [summary(extraction, name), *extraction.unmet()]
    log += [f"converted {name}: {marks[0]}", *(f"warning: {m}" for m in marks[1:])]
    header = "".join(f"{MARK}{m}\n" for m in marks)
    return (header + "\n" + extraction.code()).encode("utf-8")


def summary(extraction: Extraction, name: str) -> str:
    """`graded the definitions of mlp.ipynb: cells 2-4 kept; 5 (training), 6 (plotting) left out`."""
    pieces = [p for p in extraction.pieces if p.counted]
    if not extraction.cells:
        gone = ", ".join(f"{_span(s.first, s.last)} ({s.what})" for p in pieces for s in p.left_out)
        return f"graded the definitions of {name}: left out {gone}"
    kept = [int(p.label.split()[1]) for p in pieces if p.kept]
    gone = [f"{p.label.split()[1]} ({_not_python(p.error) if p.error else p.work()})" for p in pieces if not p.kept]
    part = [p.label.split()[1] for p in pieces if p.kept and p.left_out]
    text = f"graded the definitions of {name}: " + (
        f"{'cell' if len(kept) == 1 else 'cells'} {_ranges(kept)} kept" if kept else "no cell kept")
    text += f" ({', '.join(part)} in part)" if part else ""
    return text + (f"; {', '.join(gone)} left out" if gone else "")


def _piece_lines(piece: Piece) -> str:
    if piece.error is not None:
        return _unparsable(piece.label, piece.error) + ": left out"
    kept = ", ".join(f"{_span(s.first, s.last)} ({s.what})" for s in piece.kept) or "nothing"
    gone = ", ".join(f"{_span(s.first, s.last)} ({s.what})" for s in piece.left_out) or "nothing"
    return f"{piece.label}: kept {kept}; left out {gone}"


def _unparsable(where: str, error: SyntaxError) -> str:
    python2_text = python2.of_syntax_error(error)
    if python2_text:
        return f"{where}: {python2_text}"
    return f"{where}: not Python 3 ({error.msg}{f' at line {error.lineno}' if error.lineno else ''})"


def _not_python(error: SyntaxError) -> str:
    return "Python 2" if python2.of_syntax_error(error) else "not Python 3"


def _span(first: int, last: int) -> str:
    return f"line {first}" if first == last else f"lines {first}-{last}"


def _ranges(numbers: list[int]) -> str:
    runs: list[list[int]] = []
    for n in numbers:
        if runs and n == runs[-1][-1] + 1:
            runs[-1].append(n)
        else:
            runs.append([n])
    return ", ".join(str(r[0]) if len(r) == 1 else f"{r[0]}-{r[-1]}" for r in runs)


def _replace_kept_line(log: list[str], name: str, new: str) -> None:
    for index, line in enumerate(log):
        if re.fullmatch(rf"kept {re.escape(name)} \(\d+ bytes\)", line):
            log[index] = new
