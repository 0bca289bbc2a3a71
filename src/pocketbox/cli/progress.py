"""Pull progress: per-layer lines redrawn in place on a terminal (like Docker), plain lines otherwise."""
import sys

from pocketbox.text.format import human_size

BAR_WIDTH = 50


class PullProgress:
    def __init__(self, stream=None):
        self.stream = stream or sys.stdout
        self.tty = self.stream.isatty()
        self.order: list[str] = []
        self.lines: dict[str, str] = {}
        self.last_status: dict[str, str] = {}
        self.drawn = 0

    def __call__(self, layer_id: str, status: str, current=None, total=None) -> None:
        if layer_id not in self.lines:
            self.order.append(layer_id)
        text = f"{layer_id}: {status}"
        if current is not None and self.tty:
            text += " " + self._bar(current, total)
        self.lines[layer_id] = text
        if self.tty:
            self._redraw(layer_id)
        elif self.last_status.get(layer_id) != status:
            self.last_status[layer_id] = status
            self.stream.write(text + "\n")
            self.stream.flush()

    def _bar(self, current: int, total: int | None) -> str:
        if not total:
            return human_size(current)
        filled = min(BAR_WIDTH, int(BAR_WIDTH * current / total))
        arrow = "=" * max(filled - 1, 0) + (">" if filled else "")
        return f"[{arrow.ljust(BAR_WIDTH)}]  {human_size(current)}/{human_size(total)}"

    def _redraw(self, layer_id: str) -> None:
        if self.drawn < len(self.order):  # a layer seen for the first time gets a new line
            self.stream.write(self.lines[layer_id] + "\n")
            self.drawn += 1
        else:  # move up to the layer's line, rewrite it, move back down
            up = len(self.order) - self.order.index(layer_id)
            self.stream.write(f"\x1b[{up}A\r\x1b[2K{self.lines[layer_id]}\r\x1b[{up}B")
        self.stream.flush()
