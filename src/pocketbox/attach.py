"""The client side of `attach`, `start -a` and `run -it`: the terminal <-> the supervisor's socket.

Output frames go to stdout/stderr; stdin goes out as frames; SIGWINCH becomes a resize frame;
Ctrl-P Ctrl-Q detaches and leaves the container running (Docker's default detach keys)."""
import os
import select
import socket
import sys

from pocketbox import streams_mux as mux

DETACH_KEYS = b"\x10\x11"  # ctrl-p, ctrl-q
DETACHED = -1


def connect(container_dir: str) -> socket.socket:
    fd = os.open(container_dir, os.O_PATH | os.O_DIRECTORY)
    try:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(f"/proc/self/fd/{fd}/attach.sock")
        return s
    finally:
        os.close(fd)


def _winsize(fd: int) -> bytes | None:
    try:
        size = os.get_terminal_size(fd)
        return f"{size.lines} {size.columns}".encode()
    except OSError:
        return None


def parse_detach_keys(text: str | None) -> bytes:
    """--detach-keys: Docker's notation, a comma-separated list of ctrl-<x> (x: a-z @ [ \\ ] ^ _)
    and single characters: "ctrl-p,ctrl-q" (the default), "ctrl-a,x"."""
    if not text:
        return DETACH_KEYS
    out = bytearray()
    for key in text.split(","):
        low = key.lower()
        if len(key) == 1:
            out.append(ord(key))
        elif low.startswith("ctrl-") and len(key) == 6 and ("a" <= low[5] <= "z" or low[5] in "@[\\]^_"):
            out.append((ord(low[5].upper()) if low[5].isalpha() else ord(low[5])) & 0x1f)
        else:
            from pocketbox.errors import PocketboxError

            raise PocketboxError(f"Invalid detach keys ({text}) provided")
    return bytes(out)


def stream(sock: socket.socket, tty: bool, send_stdin: bool, detach_keys: bytes = DETACH_KEYS) -> int:
    """Relay until the container exits (returns its code) or the user detaches (returns DETACHED)."""
    stdin, stdout, stderr = sys.stdin.fileno(), sys.stdout.fileno(), sys.stderr.fileno()
    raw = tty and send_stdin and os.isatty(stdin)
    if raw:
        from pocketbox.runtime.tty import raw_terminal

        with raw_terminal(stdin, lambda: _send_resize(sock, stdin)):
            return _relay(sock, tty, send_stdin, stdin, stdout, stderr, detach_keys)
    return _relay(sock, tty, send_stdin, stdin, stdout, stderr, detach_keys)


def _relay(sock: socket.socket, tty: bool, send_stdin: bool, stdin: int, stdout: int, stderr: int,
           keys: bytes) -> int:
    reader = mux.FrameReader()
    watch = [sock] + ([stdin] if send_stdin else [])
    pending = b""
    try:
        while True:
            try:
                ready, _, _ = select.select(watch, [], [])
            except InterruptedError:
                continue
            if sock in ready:
                data = sock.recv(65536)
                if not data:
                    return 0
                for kind, payload in reader.feed(data):
                    if kind == mux.EXIT:
                        return int(payload)
                    mux.write_all(stderr if kind == mux.STDERR else stdout, payload)
            if stdin in ready:
                data = os.read(stdin, 65536)
                if not data:
                    watch.remove(stdin)
                    sock.sendall(mux.frame(mux.STDIN_EOF, b""))
                    continue
                if tty:
                    data = pending + data
                    pending = b""
                    if keys in data:
                        before = data[:data.index(keys)]
                        if before:
                            sock.sendall(mux.frame(mux.STDIN, before))
                        return DETACHED
                    held = next((n for n in range(len(keys) - 1, 0, -1) if data.endswith(keys[:n])), 0)
                    if held:  # maybe the start of the sequence: wait for what follows
                        data, pending = data[:-held], data[-held:]
                if data:
                    sock.sendall(mux.frame(mux.STDIN, data))
    finally:
        sock.close()


def _send_resize(sock: socket.socket, fd: int) -> None:
    size = _winsize(fd)
    if size:
        try:
            sock.sendall(mux.frame(mux.RESIZE, size))
        except OSError:
            pass
