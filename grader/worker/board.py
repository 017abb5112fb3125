"""Where a child notes the stage of its call ("import mlp.py", "backward()") for its host."""

from __future__ import annotations

import mmap


class StageBoard:
    """Where a child notes what it is doing ("import mlp.py", "backward()"): memory it
    shares with the host, which reads it only to say where a call failed. (A message per
    stage would wake the host several times per call.)"""

    SIZE = 1024

    def __init__(self) -> None:
        self.memory = mmap.mmap(-1, self.SIZE)  # anonymous and shared with forked children

    def write(self, text: str) -> None:
        data = text.encode("utf-8", errors="replace")[:self.SIZE - 4]
        self.memory[4:4 + len(data)] = data
        self.memory[0:4] = len(data).to_bytes(4, "big")

    def read(self) -> str | None:
        size = min(int.from_bytes(self.memory[0:4], "big"), self.SIZE - 4)
        return self.memory[4:4 + size].decode("utf-8", errors="replace") or None

    def clear(self) -> None:
        self.memory[0:4] = bytes(4)
