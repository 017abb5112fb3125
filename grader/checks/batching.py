"""All of a check's examples in a few worker calls instead of one call each.

A property's body asks the worker for what the student's code does with its example, then
judges the answer. Its calls depend only on the example and on the answers to its own
earlier calls, so the bodies can run in rounds: in each round every unfinished body runs
until it asks a call that has no answer yet (`Pending`); those calls go to the worker
together as one `batch` request, whose answers the next round replays. A body with two
calls finishes in the third round, after two requests: a check of 25 examples costs one or
two round trips instead of 25 to 50.

The worker runs a batch's calls in order, each as a lone call runs (from torch seed 0, an
error ends that call only), so a body judges the same answers either way, for code whose
answers do not depend on what it did before in the check.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable

from grader import spec
from grader.outcome import Failed
from grader.worker import client
from grader.worker.client import CallResult

if TYPE_CHECKING:
    from grader.context import Context

# A batch request's arrays, at most (the worker's message cap is far larger; a class
# graded at a full size such as mlp-regression's 256 x 512 would otherwise send hundreds
# of MB at once).
MAX_BATCH_BYTES = 32 * 2**20


class Pending(BaseException):
    """A body asked a call the next round will answer. A BaseException, so that no
    `except Exception` of a check (or of Hypothesis) mistakes it for a failure."""


class Unbatched(Exception):
    """A batch request itself failed (the child crashed or the batch ran out of time):
    the calls must be made one by one to say which one and why."""


@dataclass
class Replay:
    """One example's answers so far, handed out in the order its body asks for them."""

    answers: list[CallResult] = field(default_factory=list)
    asked: tuple[str, float | None, dict] | None = None  # (op, timeout, args) of the call it waits for
    position: int = 0
    failure: Failed | None = None

    def answer(self, op: str, timeout: float | None, args: dict) -> CallResult:
        if self.position < len(self.answers):
            self.position += 1
            return self.answers[self.position - 1]
        self.asked = (op, timeout, args)
        raise Pending


def first_failure(ctx: "Context", examples: list, body: Callable[[Any], None]) -> tuple[Any, Failed] | None:
    """Run `body` on every example with batched calls: None when all pass, else the
    first failing example (in the examples' order) and its failure. Raises `Unbatched`
    when a batch request fails as a whole."""
    replays = [Replay() for _ in examples]
    todo = list(range(len(examples)))
    while todo:
        waiting = []
        for index in todo:
            replay = replays[index]
            replay.position = 0
            ctx.replay = replay
            try:
                body(examples[index])
            except Pending:
                waiting.append(index)
            except Failed as failure:
                replay.failure = failure
            finally:
                ctx.replay = None
        for chunk in _chunks(waiting, replays):
            answers = _send(ctx, [replays[i].asked for i in chunk])
            for index, answer in zip(chunk, answers):
                replays[index].answers.append(answer)
        todo = waiting
    return next(((examples[i], r.failure) for i, r in enumerate(replays) if r.failure is not None), None)


def _chunks(indices: list[int], replays: list[Replay]):
    chunk, size = [], 0
    for index in indices:
        nbytes = _array_bytes(replays[index].asked[2])
        if chunk and size + nbytes > MAX_BATCH_BYTES:
            yield chunk
            chunk, size = [], 0
        chunk.append(index)
        size += nbytes
    if chunk:
        yield chunk


def _array_bytes(value: Any) -> int:
    if hasattr(value, "nbytes"):
        return int(value.nbytes)
    if isinstance(value, dict):
        return sum(_array_bytes(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return sum(_array_bytes(v) for v in value)
    return 0


def _send(ctx: "Context", asked: list[tuple[str, float | None, dict]]) -> list[CallResult]:
    """One batch request; its time in student code and its output are the check's. It may
    take as long as its slowest call alone: a student's hang or slow code makes it fail
    as a whole, and the calls are then made one by one, each with its own timeout."""
    limits = spec.limits()
    call = limits["time"]["call"]
    timeout = max(t or call for _, t, _ in asked)
    result = ctx.send("batch", timeout, {"calls": [{"op": op, "args": args} for op, _, args in asked]})
    items = result.value.get("results") if result.ok and isinstance(result.value, dict) else None
    if not isinstance(items, list) or len(items) != len(asked) or not all(isinstance(i, dict) for i in items):
        raise Unbatched(result.problem() if not result.ok else "the worker's batch answer is malformed")
    return [client.result_from(item, t or call, limits) for item, (_, t, _) in zip(items, asked)]
