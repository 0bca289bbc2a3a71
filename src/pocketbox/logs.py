"""Container logs in Docker's json-file format: one JSON object per line of output,
    {"log": "hello\\n", "stream": "stdout", "time": "2026-11-28T12:00:00.123456789Z"}
stdout and stderr are kept apart by the "stream" field."""
import json
import os
import time


def timestamp() -> str:
    ns = time.time_ns()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ns // 10**9)) + f".{ns % 10**9:09d}Z"


class LogWriter:
    """Appends complete lines per stream; a partial line waits for its end (or for close)."""

    def __init__(self, path: str):
        self.fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o640)
        self.partial = {"stdout": b"", "stderr": b""}

    def write(self, stream: str, data: bytes) -> None:
        data = self.partial[stream] + data
        *lines, rest = data.split(b"\n")
        self.partial[stream] = rest
        out = "".join(self._entry(stream, line + b"\n") for line in lines)
        if out:
            os.write(self.fd, out.encode())

    def _entry(self, stream: str, data: bytes) -> str:
        return json.dumps({"log": data.decode("utf-8", "replace"), "stream": stream, "time": timestamp()}) + "\n"

    def close(self) -> None:
        for stream, rest in self.partial.items():
            if rest:
                os.write(self.fd, self._entry(stream, rest).encode())
        os.close(self.fd)


def read_entries(path: str, offset: int = 0) -> tuple[list[dict], int]:
    """Entries from `offset` on (complete lines only); returns them and the new offset."""
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            data = f.read()
    except FileNotFoundError:
        return [], offset
    end = data.rfind(b"\n") + 1
    entries = [json.loads(line) for line in data[:end].splitlines() if line.strip()]
    return entries, offset + end
