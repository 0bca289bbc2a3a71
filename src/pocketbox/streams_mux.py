"""Docker's multiplexed stream framing, used between `attach` clients and the supervisor.

Each frame is an 8-byte header [stream, 0, 0, 0, size (4 bytes, big-endian)] and `size` bytes.
Streams: 0 stdin, 1 stdout, 2 stderr (Docker's numbers); pocketbox adds 3 exit (payload: the
exit code), 4 resize (payload: "rows cols"), 5 stdin closed."""
import os
import struct

STDIN, STDOUT, STDERR, EXIT, RESIZE, STDIN_EOF = 0, 1, 2, 3, 4, 5
HEADER = struct.Struct(">BxxxI")


def frame(stream: int, data: bytes) -> bytes:
    return HEADER.pack(stream, len(data)) + data


class FrameReader:
    """Splits a byte stream into (stream, payload) frames as bytes arrive."""

    def __init__(self):
        self.buf = b""

    def feed(self, data: bytes) -> list[tuple[int, bytes]]:
        self.buf += data
        out = []
        while len(self.buf) >= HEADER.size:
            stream, size = HEADER.unpack_from(self.buf)
            if len(self.buf) < HEADER.size + size:
                break
            out.append((stream, self.buf[HEADER.size:HEADER.size + size]))
            self.buf = self.buf[HEADER.size + size:]
        return out


def send_all(sock, data: bytes) -> None:
    sock.sendall(data)


def write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]
