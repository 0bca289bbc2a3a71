"""/etc/hosts of a container: localhost, its own name, and on a user-defined network one line per
other container there (how `ping other-container` resolves without a DNS server)."""

BASE = ("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\n"
        "ff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n")


def hosts_text(hostname: str, address: str = "127.0.1.1", peers: list[tuple[str, str, str]] = (),
               extra: list[str] = ()) -> str:
    """peers: (address, name, short ID) of the other containers on the same network; extra:
    --add-host NAME:IP entries (before the container's own line, as Docker writes them)."""
    return (BASE + extra_lines(extra) + f"{address}\t{hostname}\n"
            + "".join(f"{ip}\t{name} {short}\n" for ip, name, short in peers))


def extra_lines(extra: list[str]) -> str:
    return "".join(f"{item.split(':', 1)[1]}\t{item.split(':', 1)[0]}\n" for item in extra or [])


def rewrite(path: str, text: str) -> None:
    """Write in place: the container sees the file through a bind mount of this very inode, so it
    must be truncated and rewritten, never replaced by a rename."""
    with open(path, "w") as f:
        f.write(text)
