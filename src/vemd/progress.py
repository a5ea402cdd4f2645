"""Progress bars shared by vemd's long commands (rich, on stderr, only on a terminal)."""

from __future__ import annotations

from rich.progress import ProgressColumn
from rich.text import Text


class RateColumn(ProgressColumn):
    """Items per second of a rich progress task, named by ``unit`` (``12.3 windows/s``)."""

    def __init__(self, unit: str = "items") -> None:
        super().__init__()
        self.unit = unit

    def render(self, task) -> Text:
        speed = task.finished_speed or task.speed
        return Text(f"{speed:.2f} {self.unit}/s" if speed else f"- {self.unit}/s")
