"""Which checks a pytest run grades: check ids typed after a submission folder
(`pytest submissions/alice::backward.matches_reference`), `--shard I/N`, and the node ids
pytest-xdist's loadgroup shows ("...::init.seeded@alice")."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Callable

import pytest

from grader import spec
from grader.submission import is_submission_dir

CHECK_SELECTIONS = pytest.StashKey[dict[Path, set[str]]]()


def without_group(nodeid: str) -> str:
    """submissions/alice::init.seeded@alice (pytest-xdist's loadgroup names a check so) as
    submissions/alice::init.seeded, the id the reports show and pytest accepts."""
    base, _, check = nodeid.partition("::")
    name, at, group = check.rpartition("@")
    return f"{base}::{name}" if at and check and group == Path(base).name else nodeid


def parse_shard(text: str) -> tuple[int, int]:
    try:
        index, count = (int(part) for part in text.split("/"))
    except ValueError:
        raise pytest.UsageError(f"--shard takes I/N such as 2/4, not {text!r}") from None
    if not 1 <= index <= count:
        raise pytest.UsageError(f"--shard {text}: I must be between 1 and N")
    return index, count


def shard_of(student: str, count: int) -> int:
    """Stable across machines and runs (unlike hash()): 1-based shard of a student."""
    return int(hashlib.sha256(student.encode("utf-8")).hexdigest(), 16) % count + 1


def grading_path(arg: str) -> bool:
    """A command-line argument that names a submissions folder or something inside one."""
    if arg.startswith("-"):
        return False
    path = Path(arg.split("::")[0]).resolve()
    root_name = spec.root_name()
    return path.exists() and (path.name == root_name or root_name in path.parent.parts)


def take_check_selections(config: pytest.Config) -> None:
    """`pytest submissions/alice::backward.matches_reference`, the id every report shows:
    pytest refuses `::` after a directory, so the check names come off the arguments and
    only those checks of that student are kept (see select_checks)."""
    selections: dict[Path, set[str]] = {}
    whole: set[Path] = set()
    args: list[str] = []
    for arg in config.args:
        base, _, checks = arg.partition("::")
        path = (config.invocation_params.dir / base).resolve()
        if not is_submission_dir(path):
            args.append(arg)
            continue
        if checks:
            # pytest-xdist's --dist loadgroup shows ids with "@<group>" appended: accept them too
            selections.setdefault(path, set()).add(checks.split("@")[0])
        else:
            whole.add(path)
        if base not in args:
            args.append(base)
    config.args[:] = args
    config.stash[CHECK_SELECTIONS] = {p: ids for p, ids in selections.items() if p not in whole}


def _deselect(config: pytest.Config, items: list[pytest.Item], dropped: Callable[[pytest.Item], bool]) -> None:
    keep, drop = [], []
    for item in items:
        (drop if dropped(item) else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


def select_checks(config: pytest.Config, items: list[pytest.Item], check_type: type) -> None:
    """Drop the checks (items of `check_type`) of a student that the arguments did not name."""
    selections = config.stash.get(CHECK_SELECTIONS, {})
    if selections:
        _deselect(config, items, lambda item: isinstance(item, check_type) and item.check_id not in selections.get(
            item.path.resolve(), {item.check_id}))


def select_shard(config: pytest.Config, items: list[pytest.Item], check_type: type) -> None:
    """Drop the checks (items of `check_type`) of the students of other shards."""
    shard = config.getoption("--shard")
    if shard:
        index, count = shard
        _deselect(config, items, lambda item: isinstance(item, check_type) and shard_of(item.path.name, count) != index)


def recognise_failures_by_their_shown_id(config: pytest.Config, items: list[pytest.Item]) -> None:
    """In an xdist worker the items' ids end in "@<student>" by now, and --lf (whose filter
    runs after this) knows the failures by the ids the controller reported, without it."""
    lastfailed = getattr(config.pluginmanager.get_plugin("lfplugin"), "lastfailed", None)
    if not lastfailed:
        return
    for item in items:
        shown = without_group(item.nodeid)
        if shown != item.nodeid and shown in lastfailed:
            lastfailed[item.nodeid] = lastfailed[shown]
