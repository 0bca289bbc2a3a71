import gzip
import hashlib
import io

import pytest

from pocketbox.errors import DigestMismatch, LayerError
from pocketbox.image.streams import TruncatedStream, VerifyingReader, decompressed
from pocketbox.registry.auth import parse_challenge


def read_all(r) -> bytes:
    out = b""
    while chunk := r.read(7):
        out += chunk
    return out


def test_multi_member_gzip_and_padding():
    data = gzip.compress(b"hello ") + gzip.compress(b"world") + b"\0" * 1024
    assert read_all(decompressed(io.BytesIO(data))) == b"hello world"


def test_uncompressed_and_zstd():
    zstd = pytest.importorskip("zstandard")
    assert read_all(decompressed(io.BytesIO(b"plain tar bytes"))) == b"plain tar bytes"
    frames = zstd.ZstdCompressor().compress(b"ab") + zstd.ZstdCompressor().compress(b"cd")
    assert read_all(decompressed(io.BytesIO(frames))) == b"abcd"


def test_truncated_or_mislabelled_gzip():
    data = gzip.compress(b"x" * 100000)[:-20]
    with pytest.raises(LayerError):
        read_all(decompressed(io.BytesIO(data)))
    with pytest.raises(LayerError):
        decompressed(io.BytesIO(b"not gzip"), "application/vnd.oci.image.layer.v1.tar+gzip")


def test_verifying_reader():
    data = b"blob" * 1000
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    sink = io.BytesIO()
    r = VerifyingReader(io.BytesIO(data), digest, len(data), sink)
    r.drain()
    r.verify()
    assert sink.getvalue() == data
    bad = VerifyingReader(io.BytesIO(data), "sha256:" + "0" * 64, len(data))
    bad.drain()
    with pytest.raises(DigestMismatch):
        bad.verify()
    with pytest.raises(DigestMismatch):  # more bytes than the descriptor allows: stop at once
        VerifyingReader(io.BytesIO(data), digest, 10).drain()
    with pytest.raises(TruncatedStream):  # fewer: a dropped connection
        VerifyingReader(io.BytesIO(data), digest, len(data) + 1).drain()


def test_www_authenticate():
    kind, params = parse_challenge('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",'
                                   'scope="repository:library/busybox:pull"')
    assert kind == "bearer"
    assert params == {"realm": "https://auth.docker.io/token", "service": "registry.docker.io",
                      "scope": "repository:library/busybox:pull"}
    assert parse_challenge('Basic realm="Registry Realm"') == ("basic", {"realm": "Registry Realm"})
