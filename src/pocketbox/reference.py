"""Image references, normalised exactly as Docker does.

`debian` -> docker.io/library/debian:latest; `user/repo:tag`; `host:port/repo`;
`repo@sha256:...`; `repo:tag@sha256:...`. The grammar is distribution's reference/regexp.go."""
import re
from collections import namedtuple

from pocketbox.errors import InvalidReference

DEFAULT_DOMAIN = "docker.io"
LEGACY_DOMAIN = "index.docker.io"
OFFICIAL_PREFIX = "library/"
DEFAULT_TAG = "latest"
NAME_TOTAL_MAX = 255

_ALNUM = r"[a-z0-9]+"
_SEPARATOR = r"(?:[._]|__|[-]*)"
PATH_COMPONENT = re.compile(rf"{_ALNUM}(?:{_SEPARATOR}{_ALNUM})*\Z")
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
DOMAIN = re.compile(rf"{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*(?::[0-9]+)?\Z")
TAG = re.compile(r"[\w][\w.-]{0,127}\Z")
DIGEST = re.compile(r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}\Z")
SHA256_DIGEST = re.compile(r"sha256:[a-f0-9]{64}\Z")
ID_HEX = re.compile(r"[a-f0-9]{64}\Z")


class Reference(namedtuple("Reference", "domain path tag digest", defaults=(None, None))):
    """domain (registry host), path (repository path inside it, e.g. library/debian), tag, digest.
    A named tuple rather than a dataclass: importing dataclasses costs ~5 ms of every `run`."""

    __slots__ = ()

    @property
    def repository(self) -> str:
        """The full repository name: docker.io/library/debian."""
        return f"{self.domain}/{self.path}"

    @property
    def familiar_repository(self) -> str:
        """The short form Docker prints: debian, user/repo, 127.0.0.1:5000/repo."""
        if self.domain == DEFAULT_DOMAIN:
            if self.path.startswith(OFFICIAL_PREFIX) and self.path.count("/") == 1:
                return self.path[len(OFFICIAL_PREFIX):]
            return self.path
        return self.repository

    @property
    def name(self) -> str:
        """Canonical string: repository[:tag][@digest]."""
        s = self.repository
        if self.tag:
            s += ":" + self.tag
        if self.digest:
            s += "@" + self.digest
        return s

    def familiar(self) -> str:
        s = self.familiar_repository
        if self.tag:
            s += ":" + self.tag
        if self.digest:
            s += "@" + self.digest
        return s

    @property
    def tagged_name(self) -> str | None:
        return f"{self.repository}:{self.tag}" if self.tag else None

    def __str__(self) -> str:
        return self.name


def _split_domain(name: str) -> tuple[str, str]:
    first, sep, rest = name.partition("/")
    if not sep or ("." not in first and ":" not in first and first != "localhost"):
        domain, path = DEFAULT_DOMAIN, name
    else:
        domain, path = first, rest
    if domain == LEGACY_DOMAIN:
        domain = DEFAULT_DOMAIN
    if domain == DEFAULT_DOMAIN and "/" not in path:
        path = OFFICIAL_PREFIX + path
    return domain, path


def parse(ref: str, default_tag: bool = True) -> Reference:
    """Parse and normalise `ref`; raise InvalidReference naming the rule it breaks."""
    original = ref
    if not ref:
        raise InvalidReference("invalid reference format: the image name is empty")
    if ID_HEX.match(ref):
        raise InvalidReference(
            f"invalid repository name ({ref}), cannot specify 64-byte hexadecimal strings"
        )
    digest = None
    if "@" in ref:
        ref, digest = ref.split("@", 1)
        if not DIGEST.match(digest):
            raise InvalidReference(f"invalid reference format: {original!r}: bad digest {digest!r}")
        if digest.startswith("sha256:") and not SHA256_DIGEST.match(digest):
            raise InvalidReference(
                f"invalid reference format: {original!r}: a sha256 digest is 64 lowercase hex characters"
            )
    tag = None
    slash = ref.rfind("/")
    colon = ref.rfind(":")
    if colon > slash:
        ref, tag = ref[:colon], ref[colon + 1:]
        if not TAG.match(tag):
            raise InvalidReference(
                f"invalid reference format: {original!r}: a tag is up to 128 letters, digits, '_', '.', '-' "
                "and cannot start with '.' or '-'"
            )
    if not ref:
        raise InvalidReference(f"invalid reference format: {original!r}: the repository name is empty")
    domain, path = _split_domain(ref)
    if not DOMAIN.match(domain):
        raise InvalidReference(f"invalid reference format: {original!r}: bad registry host {domain!r}")
    for component in path.split("/"):
        if not PATH_COMPONENT.match(component):
            if component.lower() != component and PATH_COMPONENT.match(component.lower()):
                raise InvalidReference(
                    f"invalid reference format: repository name ({path}) must be lowercase"
                )
            raise InvalidReference(
                f"invalid reference format: {original!r}: each name component is lowercase letters and digits "
                "separated by '.', '_', '__' or '-'"
            )
    if len(domain) + 1 + len(path) > NAME_TOTAL_MAX:
        raise InvalidReference(f"invalid reference format: {original!r}: repository name longer than 255 characters")
    if tag is None and digest is None and default_tag:
        tag = DEFAULT_TAG
    return Reference(domain=domain, path=path, tag=tag, digest=digest)
