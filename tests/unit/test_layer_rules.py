"""Pure rules of layer unpacking and the image store (no root needed)."""
import hashlib

import pytest

from pocketbox.errors import DigestMismatch, LayerError
from pocketbox.image.store import chain_ids, hex_of
from pocketbox.image.unpack import clean_name, whiteout_target


@pytest.mark.parametrize("name, parts", [
    ("etc/passwd", ["etc", "passwd"]),
    ("./etc//passwd", ["etc", "passwd"]),
    ("/abs/file", ["abs", "file"]),
    ("./", []),
    ("dir/./x", ["dir", "x"]),
])
def test_clean_name(name, parts):
    assert clean_name(name) == parts


@pytest.mark.parametrize("name", ["../x", "a/../../b", "a/..", "x\0y"])
def test_clean_name_refuses_escapes(name):
    with pytest.raises(LayerError):
        clean_name(name)


def test_whiteouts():
    assert whiteout_target(".wh.passwd") == "passwd"
    assert whiteout_target(".wh..wh..opq") is None
    assert whiteout_target("passwd") is None
    assert whiteout_target("x.wh.y") is None
    for bad in (".wh.", ".wh..", ".wh..wh.x"):
        with pytest.raises(LayerError):
            whiteout_target(bad)


def test_chain_ids_follow_the_image_spec():
    a, b, c = ("sha256:" + h * 64 for h in "abc")
    ab = "sha256:" + hashlib.sha256(f"{a} {b}".encode()).hexdigest()
    abc = "sha256:" + hashlib.sha256(f"{ab} {c}".encode()).hexdigest()
    assert chain_ids([a, b, c]) == [a, ab, abc]
    assert chain_ids([]) == []


def test_digests_are_validated_before_they_become_paths():
    assert hex_of("sha256:" + "0" * 64) == "0" * 64
    for bad in ("sha256:../../etc", "sha512:" + "0" * 128, "sha256:" + "0" * 63, "sha256:" + "G" * 64):
        with pytest.raises(DigestMismatch):
            hex_of(bad)
