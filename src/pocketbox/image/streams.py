"""Readers that sit in the one pass a layer takes: bytes in -> digest checked -> decompressed -> tar.

A layer is never written to disk as a temporary .tar: the registry's bytes are hashed (and
saved as the blob) while they are decompressed and unpacked."""
import hashlib

try:  # ISA-L's inflate is about 3x zlib's on x86-64; same API (see README, design notes)
    from isal import isal_zlib as zlib
except ImportError:  # pragma: no cover - platforms without an isal wheel
    import zlib

from pocketbox.errors import DigestMismatch, LayerError

GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
CHUNK = 1 << 20


class TruncatedStream(ConnectionError):
    """The source ended before the descriptor's size: a dropped connection, retried by callers."""


class VerifyingReader:
    """Pass bytes through while computing sha256, optionally copying them to `sink`.

    Reading more than `expected_size` bytes is an error at once (a registry cannot make us
    store an endless blob); `verify()` checks size and digest once the stream is drained."""

    def __init__(self, raw, expected_digest: str | None = None, expected_size: int | None = None, sink=None):
        self.raw = raw
        self.expected_digest = expected_digest
        self.expected_size = expected_size
        self.sink = sink
        self.hash = hashlib.sha256()
        self.size = 0
        self.on_progress = None

    def read(self, n: int = -1) -> bytes:
        data = self.raw.read(n if n and n > 0 else CHUNK)
        if not data and self.expected_size is not None and self.size < self.expected_size:
            raise TruncatedStream(
                f"blob {self.expected_digest}: the stream ended after {self.size} of {self.expected_size} bytes"
            )
        if data:
            self.size += len(data)
            if self.expected_size is not None and self.size > self.expected_size:
                raise DigestMismatch(
                    f"blob {self.expected_digest} is larger than the {self.expected_size} bytes its descriptor says"
                )
            self.hash.update(data)
            if self.sink is not None:
                self.sink.write(data)
            if self.on_progress is not None:
                self.on_progress(self.size)
        return data

    def drain(self) -> None:
        while self.read(CHUNK):
            pass

    @property
    def digest(self) -> str:
        return "sha256:" + self.hash.hexdigest()

    def verify(self, what: str = "blob") -> None:
        if self.expected_size is not None and self.size != self.expected_size:
            raise DigestMismatch(
                f"{what} {self.expected_digest}: got {self.size} bytes, the descriptor says {self.expected_size}"
            )
        if self.expected_digest is not None and self.digest != self.expected_digest:
            raise DigestMismatch(f"{what} digest mismatch: expected {self.expected_digest}, got {self.digest}")


class _Peekable:
    def __init__(self, raw):
        self.raw = raw
        self.head = b""

    def peek(self, n: int) -> bytes:
        while len(self.head) < n:
            more = self.raw.read(n - len(self.head))
            if not more:
                break
            self.head += more
        return self.head[:n]

    def read(self, n: int = -1) -> bytes:
        if self.head:
            data, self.head = self.head, b""
            return data
        return self.raw.read(n)


class _GzipReader:
    """Multi-member gzip decoder over a stream (zlib releases the GIL on big buffers)."""

    def __init__(self, raw):
        self.raw = raw
        self.z = zlib.decompressobj(16 + zlib.MAX_WBITS)
        self.buf = b""
        self.eof = False

    def _next_input(self) -> bytes | None:
        """The compressed bytes to feed next, starting a new gzip member where one ended."""
        if not self.z.eof:
            data = self.z.unconsumed_tail or self.raw.read(CHUNK)
            if not data:
                raise LayerError("layer is truncated: the gzip stream ended early")
            return data
        rest = self.z.unused_data
        while not rest.strip(b"\0"):  # trailing zero padding after the last member
            more = self.raw.read(CHUNK)
            if not more:
                return None
            rest = more
        self.z = zlib.decompressobj(16 + zlib.MAX_WBITS)
        return rest

    def read(self, n: int = -1) -> bytes:
        n = n if n and n > 0 else CHUNK
        while not self.buf and not self.eof:
            data = self._next_input()
            if data is None:
                self.eof = True
                break
            try:
                self.buf = self.z.decompress(data, CHUNK)
            except zlib.error as e:
                raise LayerError(f"layer is not valid gzip: {e}") from None
        data, self.buf = self.buf[:n], self.buf[n:]
        return data


def decompressed(raw, media_type: str = ""):
    """Return a reader of the uncompressed tar, choosing the codec from the magic bytes."""
    p = _Peekable(raw)
    head = p.peek(4)
    if head.startswith(GZIP_MAGIC):
        return _GzipReader(p)
    if head == ZSTD_MAGIC:
        import zstandard  # only zstd layers pay for this import

        return zstandard.ZstdDecompressor().stream_reader(p, read_across_frames=True, read_size=CHUNK)
    if media_type.endswith("+gzip") or media_type.endswith(".gzip") or media_type.endswith("+zstd"):
        raise LayerError(f"layer says {media_type} but its bytes are not in that format")
    return p


class ForwardReader:
    """A read/tell/seek-forward view of a stream, so tarfile can parse it in its seekable mode.

    tarfile's stream mode (r|) re-copies its whole buffer on every small read; in r: mode it
    only seeks forward when members are read in order, which is how unpack reads them.
    Seeking forward reads and drops bytes; seeking backward is an error."""

    def __init__(self, raw):
        self.raw = raw
        self.buf = b""
        self.off = 0  # position of the next byte inside buf
        self.pos = 0  # position in the stream

    def tell(self) -> int:
        return self.pos

    def read(self, n: int = -1) -> bytes:
        if n is None or n < 0:
            parts = [self.buf[self.off:]]
            while chunk := self.raw.read(CHUNK):
                parts.append(chunk)
            self.buf, self.off = b"", 0
            data = b"".join(parts)
            self.pos += len(data)
            return data
        parts = []
        want = n
        while want > 0:
            if self.off >= len(self.buf):
                self.buf, self.off = self.raw.read(CHUNK), 0
                if not self.buf:
                    break
            take = self.buf[self.off:self.off + want]
            self.off += len(take)
            want -= len(take)
            parts.append(take)
        data = parts[0] if len(parts) == 1 else b"".join(parts)
        self.pos += len(data)
        return data

    def seek(self, pos: int, whence: int = 0) -> int:
        if whence == 1:
            pos += self.pos
        elif whence != 0:
            raise OSError("ForwardReader cannot seek from the end")
        if pos < self.pos:
            raise OSError(f"ForwardReader cannot seek backwards ({self.pos} -> {pos})")
        while self.pos < pos:
            if not self.read(min(pos - self.pos, CHUNK)):
                break
        return self.pos

    def seekable(self) -> bool:
        return True


class ThreadedReader:
    """Read `source` in a background thread, so that download, hashing and decompression (C code
    that releases the GIL) run on one core while the tar is unpacked on the other.

    Errors raised in the thread come out of read(); close() stops the thread."""

    _END = object()

    def __init__(self, source, depth: int = 8):
        import queue
        import threading

        self.source = source
        self.queue = queue.Queue(maxsize=depth)
        self.stopped = threading.Event()
        self.buf = b""
        self.off = 0
        self.done = False
        self.thread = threading.Thread(target=self._produce, name="layer-reader", daemon=True)
        self.thread.start()

    def _produce(self) -> None:
        try:
            while not self.stopped.is_set():
                chunk = self.source.read(CHUNK)
                if not chunk:
                    break
                self._put(chunk)
            self._put(self._END)
        except BaseException as e:  # handed to the reading thread
            self._put(e)

    def _put(self, item) -> None:
        import queue

        while not self.stopped.is_set():
            try:
                self.queue.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def read(self, n: int = -1) -> bytes:
        if n is None or n < 0:
            n = 1 << 62
        while self.off >= len(self.buf):
            if self.done:
                return b""
            item = self.queue.get()
            if item is self._END:
                self.done = True
                return b""
            if isinstance(item, BaseException):
                self.done = True
                raise item
            self.buf, self.off = item, 0
        data = self.buf[self.off:self.off + n]
        self.off += len(data)
        return data

    def close(self) -> None:
        self.stopped.set()
        self.thread.join()
