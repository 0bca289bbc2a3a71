"""WebSocket (RFC 6455), the server's side and only what the exec terminal needs: the opening
handshake, reading the browser's masked frames (text, binary, close, ping), writing unmasked
binary frames. ~60 lines instead of a dependency."""
import base64
import hashlib
import struct

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # fixed by the RFC: proves the server read the key
TEXT, BINARY, CLOSE, PING, PONG = 0x1, 0x2, 0x8, 0x9, 0xA
MAX_FRAME = 1 << 20  # keystrokes and pastes; anything larger is refused


class Closed(Exception):
    pass


def accept_key(key: str) -> str:
    return base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()


def handshake(handler) -> None:
    """Answer an HTTP Upgrade request (on a http.server handler) with 101 Switching Protocols."""
    handler.send_response(101, "Switching Protocols")
    handler.send_header("Upgrade", "websocket")
    handler.send_header("Connection", "Upgrade")
    handler.send_header("Sec-WebSocket-Accept", accept_key(handler.headers["Sec-WebSocket-Key"]))
    handler.end_headers()
    handler.wfile.flush()


def _exactly(rfile, n: int) -> bytes:
    data = rfile.read(n)
    if len(data) != n:
        raise Closed()
    return data


def read_message(rfile, send) -> bytes:
    """The next data message's payload; answers pings; Closed when the browser closes."""
    message = b""
    while True:
        first, second = _exactly(rfile, 2)
        opcode, final = first & 0x0F, bool(first & 0x80)
        length = second & 0x7F
        if length == 126:
            length = struct.unpack(">H", _exactly(rfile, 2))[0]
        elif length == 127:
            length = struct.unpack(">Q", _exactly(rfile, 8))[0]
        if length > MAX_FRAME:
            raise Closed()
        mask = _exactly(rfile, 4) if second & 0x80 else b"\0\0\0\0"
        payload = bytes(b ^ mask[i % 4] for i, b in enumerate(_exactly(rfile, length)))
        if opcode == CLOSE:
            raise Closed()
        if opcode == PING:
            send(frame(PONG, payload))
            continue
        if opcode == PONG:
            continue
        message += payload
        if final:
            return message


def frame(opcode: int, payload: bytes) -> bytes:
    n = len(payload)
    if n < 126:
        header = struct.pack(">BB", 0x80 | opcode, n)
    elif n < 1 << 16:
        header = struct.pack(">BBH", 0x80 | opcode, 126, n)
    else:
        header = struct.pack(">BBQ", 0x80 | opcode, 127, n)
    return header + payload
