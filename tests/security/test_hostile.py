"""Hostile images and containers: what an attacker's image tries against the host, and the faults
an unlucky user meets. Each test fails on a runtime that has the defect it names."""
import errno
import hashlib
import os
import subprocess
import sys
import time

import pytest

from conftest import requires_root

pytestmark = requires_root

PACKAGE = os.path.dirname(__import__("pocketbox").__file__)


def host_binaries() -> dict[str, str]:
    """sha256 of every host program a container could have been handed: the interpreter and
    pocketbox's own programs."""
    paths = {os.path.realpath(sys.executable), os.path.realpath("/usr/bin/python3"),
             os.path.join(PACKAGE, "pocketbox-monitor"), os.path.join(PACKAGE, "pocketbox-exec")}
    out = {}
    for p in sorted(paths):
        with open(p, "rb") as f:
            out[p] = hashlib.sha256(f.read()).hexdigest()
    return out


# A script whose interpreter line names /proc/self/exe: the kernel resolves it in the process that
# calls execve. Were that the runtime's Python, this Python code would run and keep the host's
# interpreter open.
SELF_EXE_SCRIPT = ("#!/proc/self/exe\n"
                   "import os\n"
                   "open('/pwned', 'w').write(os.readlink('/proc/self/exe'))\n"
                   "fd = os.open('/proc/self/exe', os.O_RDONLY)\n"
                   "os.execv('/bin/sh', ['sh', '-c', 'while ! echo x >> /proc/self/fd/%d; do sleep 0.1; done' % fd])\n")


@pytest.fixture
def self_exe_image(make_image):
    return make_image("hostile-selfexe", [("evil", "file", SELF_EXE_SCRIPT, 0o755)])


def test_proc_self_exe_never_reaches_a_host_binary(pb, self_exe_image):
    before = host_binaries()
    r = pb("run", "--rm", "--network", "none", self_exe_image, "/proc/self/exe", "--version", expect=None)
    assert r.returncode == 126 and "Python" not in r.stdout + r.stderr, r
    assert "pocketbox-exec" in r.stderr
    r = pb("run", "--rm", "--network", "none", self_exe_image, "/evil", expect=None)
    assert r.returncode == 126 and "Python" not in r.stdout + r.stderr, r
    r = pb("run", "--rm", "--network", "none", "--entrypoint", "/proc/self/exe", self_exe_image, expect=None)
    assert r.returncode == 126, r
    # exec: the same through setns, while a process in the container watches every /proc/N/exe
    # and tries to write to each
    pb("run", "-d", "--name", "watch", "--network", "none", self_exe_image, "sh", "-c",
       "while :; do for p in /proc/[0-9]*; do l=$(readlink $p/exe) && echo \"$l\" >> /seen; "
       "{ echo x >> $p/exe; } 2>/dev/null && echo \"$l\" >> /wrote; done; done")
    for _ in range(15):
        assert pb("exec", "watch", "/evil", expect=None).returncode == 126
        assert pb("exec", "watch", "/proc/self/exe", expect=None).returncode == 126
        pb("exec", "watch", "true")
    time.sleep(0.5)
    seen = set(pb("exec", "watch", "cat", "/seen").stdout.split("\n"))
    wrote = pb("exec", "watch", "sh", "-c", "cat /wrote 2>/dev/null; ls /pwned 2>&1", expect=None).stdout
    assert "No such file" in wrote and "/pwned" not in wrote.replace("ls: /pwned", "")
    assert not [line for line in wrote.splitlines() if not line.startswith("ls:")], wrote
    outside = {s for s in seen if s and not s.startswith(("/bin/", "/memfd:pocketbox-exec"))}
    assert not outside, f"a container process saw a host binary: {outside}"
    pb("rm", "-f", "watch")
    assert host_binaries() == before


def test_the_exec_helper_is_sealed():
    from pocketbox.runtime.init import sealed_exec_helper

    fd = sealed_exec_helper()
    try:
        w = os.open(f"/proc/self/fd/{fd}", os.O_WRONLY)
        with pytest.raises(PermissionError):
            os.write(w, b"\x7fELF overwritten")
        os.close(w)
        with pytest.raises(PermissionError):
            os.ftruncate(fd, 0)
    finally:
        os.close(fd)


def test_signals_are_reset_for_the_command(pb, busybox):
    """Python ignores SIGPIPE and SIGXFSZ; an ignored signal stays ignored across execve."""
    for args in (["run", "--rm", "--network", "none", busybox], ["exec", "sig"]):
        if args[0] == "exec":
            pb("run", "-d", "--name", "sig", "--network", "none", busybox, "sleep", "60")
        r = pb(*args, "grep", "-E", "Sig(Ign|Blk)", "/proc/self/status")
        assert r.stdout.split() == ["SigBlk:", "0000000000000000", "SigIgn:", "0000000000000000"], r.stdout
        r = pb(*args, "sh", "-c", "yes | head -n 2", timeout=20)
        assert r.stdout == "y\ny\n"
    pb("rm", "-f", "sig")
