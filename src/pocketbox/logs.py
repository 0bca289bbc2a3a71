"""Container logs in Docker's json-file format: one JSON object per line of output,
    {"log": "hello\\n", "stream": "stdout", "time": "2026-11-28T12:00:00.123456789Z"}
stdout and stderr are kept apart by the "stream" field."""
import json
import os
import time


def timestamp() -> str:
    ns = time.time_ns()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ns // 10**9)) + f".{ns % 10**9:09d}Z"


MAX_LINE = 16 * 1024  # Docker's json-file splits longer lines into entries of this size


def rotation(config: dict) -> tuple[int, int]:
    """(max-size in bytes, 0 for none; max-file) of a json-file LogConfig."""
    from pocketbox.engine.options import parse_bytes

    options = config.get("Config") or {}
    size = options.get("max-size")
    max_size = parse_bytes(size, "max-size") if size and size != "-1" else 0
    return max_size, int(options.get("max-file") or 1)


class LogWriter:
    """Appends complete lines per stream; a partial line waits for its end (or for close).
    Invalid UTF-8 is replaced (U+FFFD): every line of the file is valid JSON."""

    def __init__(self, path: str, max_size: int = 0, max_file: int = 1, enabled: bool = True):
        self.path, self.max_size, self.max_file, self.enabled = path, max_size, max(max_file, 1), enabled
        self.fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o640) if enabled else -1
        self.size = os.lseek(self.fd, 0, os.SEEK_END) if enabled else 0
        self.partial = {"stdout": b"", "stderr": b""}

    @classmethod
    def for_record(cls, record: dict, path: str) -> "LogWriter":
        config = record["HostConfig"].get("LogConfig") or {}
        max_size, max_file = rotation(config)
        return cls(path, max_size, max_file, enabled=config.get("Type") != "none")

    def _append(self, data: bytes) -> None:
        """Write, rotating first as json-file's max-size/max-file say (pocketbox-monitor's rule)."""
        if not self.enabled:
            return
        if self.max_size and self.size and self.size + len(data) > self.max_size:
            os.close(self.fd)
            for i in range(self.max_file - 1, 0, -1):
                try:
                    os.rename(self.path if i == 1 else f"{self.path}.{i - 1}", f"{self.path}.{i}")
                except OSError:
                    pass
            self.fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_TRUNC | os.O_CLOEXEC, 0o640)
            self.size = 0
        try:
            os.write(self.fd, data)
            self.size += len(data)
        except OSError:  # a full disk loses log lines, never the container
            pass

    def write(self, stream: str, data: bytes) -> None:
        data = self.partial[stream] + data
        *lines, rest = data.split(b"\n")
        pieces = [line + b"\n" for line in lines]
        while len(rest) >= MAX_LINE:  # cut on a character boundary: never inside a UTF-8 sequence
            cut = MAX_LINE
            while cut > MAX_LINE - 4 and (rest[cut] & 0xC0) == 0x80:
                cut -= 1
            pieces.append(rest[:cut])
            rest = rest[cut:]
        self.partial[stream] = rest
        for piece in pieces:
            self._append(self._entry(stream, piece).encode())

    def _entry(self, stream: str, data: bytes) -> str:
        return json.dumps({"log": data.decode("utf-8", "replace"), "stream": stream, "time": timestamp()}) + "\n"

    def close(self) -> None:
        for stream, rest in self.partial.items():
            if rest:
                self._append(self._entry(stream, rest).encode())
        if self.fd >= 0:
            os.close(self.fd)


def tee(pipes: dict[int, tuple[int | None, str]], log: LogWriter) -> None:
    """Copy each output pipe (read fd -> (terminal fd or None, stream name)) to its terminal fd and
    to the log until every pipe is closed: what a foreground container writes is logged as a
    detached one's is. A terminal that went away (EPIPE) does not stop the logging."""
    import select

    open_fds = dict(pipes)
    while open_fds:
        try:
            ready, _, _ = select.select(list(open_fds), [], [])
        except InterruptedError:
            continue
        for fd in ready:
            data = os.read(fd, 65536)
            if not data:
                del open_fds[fd]
                os.close(fd)
                continue
            target, stream = open_fds[fd]
            log.write(stream, data)
            if target is not None:
                view = memoryview(data)
                try:
                    while view:
                        view = view[os.write(target, view):]
                except OSError:
                    open_fds[fd] = (None, stream)


def read_entries(path: str, offset: int = 0) -> tuple[list[dict], int]:
    """Entries from `offset` on (complete lines only); returns them and the new offset."""
    try:
        with open(path, "rb") as f:
            if os.fstat(f.fileno()).st_size < offset:  # rotated since (max-size): the new file from its start
                offset = 0
            f.seek(offset)
            data = f.read()
    except FileNotFoundError:
        return [], offset
    end = data.rfind(b"\n") + 1
    entries = []
    for line in data[:end].split(b"\n"):
        if line.strip():
            entry = _entry_of(line)
            if entry is not None:
                entries.append(entry)
    return entries, offset + end


class Follower:
    """The entries appended to one log file, read through one open file: a container removed
    meanwhile (its directory and log gone) still has its last lines read."""

    def __init__(self, path: str, offset: int = 0):
        self.path, self.file, self.pending = path, None, b""
        self._open(offset)

    def _open(self, offset: int) -> None:
        try:
            self.file = open(self.path, "rb")
            self.file.seek(offset)
        except FileNotFoundError:
            self.file = None

    def read(self) -> list[dict]:
        if self.file is None:
            self._open(0)  # (not made yet when we started to follow)
        if self.file is None:
            return []
        data = self.pending + self.file.read()
        end = data.rfind(b"\n") + 1
        self.pending = data[end:]
        return [e for e in (_entry_of(line) for line in data[:end].split(b"\n") if line.strip()) if e is not None]

    def close(self) -> None:
        if self.file is not None:
            self.file.close()


def read_all(path: str) -> tuple[list[dict], int]:
    """Every entry, from the oldest rotated file (PATH.N ... PATH.1) to PATH; the offset in PATH."""
    entries = []
    rotated = sorted((int(n.rsplit(".", 1)[1]) for n in os.listdir(os.path.dirname(path) or ".")
                      if n.startswith(os.path.basename(path) + ".") and n.rsplit(".", 1)[1].isdigit()), reverse=True)
    for n in rotated:
        entries += read_entries(f"{path}.{n}")[0]
    more, offset = read_entries(path)
    return entries + more, offset


def _entry_of(line: bytes) -> dict | None:
    """One log line, read tolerantly: raw bytes that are not UTF-8 become U+FFFD; a line that is
    not a log entry at all is skipped (the rest of the log stays readable)."""
    try:
        entry = json.loads(line.decode("utf-8", "replace"))
    except ValueError:
        return None
    if not isinstance(entry, dict) or not isinstance(entry.get("log"), str):
        return None
    if not isinstance(entry.get("time"), str):
        entry["time"] = ""
    if entry.get("stream") not in ("stdout", "stderr"):
        entry["stream"] = "stdout"
    return entry
