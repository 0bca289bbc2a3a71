import pytest

from pocketbox.errors import InvalidReference
from pocketbox.reference import parse

DIGEST = "sha256:" + "a" * 64


@pytest.mark.parametrize("given, name, familiar", [
    ("debian", "docker.io/library/debian:latest", "debian:latest"),
    ("debian:12", "docker.io/library/debian:12", "debian:12"),
    ("user/repo:tag", "docker.io/user/repo:tag", "user/repo:tag"),
    ("index.docker.io/library/busybox", "docker.io/library/busybox:latest", "busybox:latest"),
    ("docker.io/library/busybox:1.36", "docker.io/library/busybox:1.36", "busybox:1.36"),
    ("localhost/repo", "localhost/repo:latest", "localhost/repo:latest"),
    ("localhost:5000/a/b/c", "localhost:5000/a/b/c:latest", "localhost:5000/a/b/c:latest"),
    ("127.0.0.1:5000/x", "127.0.0.1:5000/x:latest", "127.0.0.1:5000/x:latest"),
    ("quay.io/org/img:v1.2_3-rc", "quay.io/org/img:v1.2_3-rc", "quay.io/org/img:v1.2_3-rc"),
    (f"debian@{DIGEST}", f"docker.io/library/debian@{DIGEST}", f"debian@{DIGEST}"),
    (f"debian:12@{DIGEST}", f"docker.io/library/debian:12@{DIGEST}", f"debian:12@{DIGEST}"),
    ("a__b/c-d/e..f", None, None),
])
def test_normalisation(given, name, familiar):
    if name is None:
        with pytest.raises(InvalidReference):
            parse(given)
        return
    ref = parse(given)
    assert ref.name == name
    assert ref.familiar() == familiar


def test_parts():
    ref = parse("registry.example:5000/team/tool:1")
    assert (ref.domain, ref.path, ref.tag, ref.digest) == ("registry.example:5000", "team/tool", "1", None)
    assert parse("repo", default_tag=False).tag is None
    assert parse(f"repo@{DIGEST}").tag is None


@pytest.mark.parametrize("bad, rule", [
    ("", "empty"),
    ("Debian", "lowercase"),
    ("a" * 64, "64-byte hexadecimal"),
    ("repo:-tag", "tag"),
    ("repo:" + "t" * 129, "tag"),
    ("repo@sha256:abc", "digest"),
    ("repo@sha256:" + "A" * 64, "lowercase hex"),
    ("-repo", "name component"),
    ("repo/", "name component"),
    ("bad..name", "name component"),
    ("host:port:/x", "invalid reference"),
    ("a/" * 130 + "b", "255"),
])
def test_invalid_references_name_the_rule(bad, rule):
    with pytest.raises(InvalidReference) as e:
        parse(bad)
    assert rule in str(e.value)
