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


# --- paths built from image or container content stay inside it ---------------------------------

HOST_PASSWD = "/var/lib/pocketbox-tests/hostile-passwd"  # a file only the host has
HOST_DEV = "/var/lib/pocketbox-tests/hostile-dev"


@pytest.fixture
def host_only_files():
    os.makedirs(HOST_DEV, exist_ok=True)
    with open(HOST_PASSWD, "w") as f:
        f.write("root:x:0:0:root:/root:/bin/sh\nhostonly:x:4343:4343::/:/bin/sh\n")
    yield
    os.unlink(HOST_PASSWD)
    assert os.listdir(HOST_DEV) == [], "device nodes were made on the host"
    os.rmdir(HOST_DEV)


def test_user_lookup_never_reads_host_files(pb, make_image, host_only_files):
    image = make_image("hostile-passwd-link", [("etc", "dir", None), ("etc/passwd", "symlink", HOST_PASSWD)])
    r = pb("run", "--rm", "--network", "none", "-u", "hostonly", image, "id", "-u", expect=None)
    assert r.returncode == 125 and "unable to find user hostonly" in r.stderr, r
    pb("run", "-d", "--name", "pw", "--network", "none", image, "sleep", "60")
    r = pb("exec", "-u", "hostonly", "pw", "id", "-u", expect=None)
    assert r.returncode != 0 and "4343" not in r.stdout, r
    pb("rm", "-f", "pw")
    # a link inside the image is followed inside the image
    inside = make_image("etc-elsewhere", [("usr", "dir", None), ("usr/etc", "dir", None),
                                          ("usr/etc/passwd", "file", "root:x:0:0::/root:/bin/sh\nimg:x:4242:4242::/:/bin/sh\n"),
                                          ("usr/etc/group", "file", "root:x:0:\n"), ("etc", "symlink", "/usr/etc")])
    assert pb("run", "--rm", "--network", "none", "-u", "img", inside, "id", "-u").stdout == "4242\n"


def test_device_nodes_are_made_inside_the_container(pb, make_image, host_only_files):
    image = make_image("hostile-dev-link", [("dev", "symlink", HOST_DEV)])
    r = pb("run", "--rm", "--network", "none", image, "sh", "-c", "test -c /dev/null && echo ok", expect=None)
    assert os.listdir(HOST_DEV) == []
    assert r.stdout == "ok\n" or r.returncode == 125, r


def test_copy_up_never_follows_a_planted_symlink(tmp_path):
    """A volume another container writes to holds a link to a host directory where the image has a
    directory: the copy stays in the volume and the host directory keeps its mode and contents."""
    from pocketbox.runtime.rootfs import copy_tree_fd

    host = tmp_path / "host"
    host.mkdir(mode=0o700)
    image, volume = tmp_path / "image", tmp_path / "volume"
    (image / "x").mkdir(parents=True)
    (image / "x").chmod(0o777)
    (image / "x" / "f").write_text("from the image")
    (image / "y").write_text("y")
    volume.mkdir()
    (volume / "x").symlink_to(host)
    (volume / "y").symlink_to(host / "planted")
    src = os.open(image, os.O_RDONLY | os.O_DIRECTORY)
    dst = os.open(volume, os.O_RDONLY | os.O_DIRECTORY)
    try:
        with pytest.raises(OSError):
            copy_tree_fd(src, dst)
    finally:
        os.close(src)
        os.close(dst)
    assert os.listdir(host) == [] and (host.stat().st_mode & 0o777) == 0o700


def test_copy_up_still_copies(pb, make_image):
    image = make_image("copyup-tree", [("data", "dir", None), ("data/sub", "dir", None, 0o750),
                                       ("data/sub/f", "file", "payload", 0o640), ("data/l", "symlink", "sub/f"),
                                       ("data/sparse", "file", "")])
    out = pb("run", "--rm", "--network", "none", "-v", "cu:/data", image, "sh", "-c",
             "stat -c '%n %a %F' /data/sub /data/sub/f /data/l; cat /data/l").stdout
    assert out == "/data/sub 750 directory\n/data/sub/f 640 regular file\n/data/l 777 symbolic link\npayload", out
    pb("volume", "rm", "cu")


def test_workdir_in_a_bind_mount_is_not_made_by_host_root(pb, make_image, tmp_path):
    host = tmp_path / "bound"
    host.mkdir(mode=0o755)
    image = make_image("workdir-in-bind", config={"WorkingDir": "/mnt/wd/sub"})
    r = pb("run", "--rm", "--network", "none", "--userns", "auto", "-v", f"{host}:/mnt/wd", image, "pwd", expect=None)
    made = host / "sub"
    assert not made.exists() or made.stat().st_uid != 0, "the host's root made the directory"
    assert r.returncode in (0, 126), r


@pytest.mark.parametrize("user", ["4294967295", "0:4294967295", "2147483648", "hugeuid"])
def test_ids_out_of_range_are_refused(pb, make_image, user):
    image = make_image("huge-uid", [("etc", "dir", None),
                                    ("etc/passwd", "file", "root:x:0:0::/:/bin/sh\nhugeuid:x:4294967295:0::/:/bin/sh\n")])
    r = pb("run", "--rm", "--network", "none", "-u", user, image, "id", expect=None)
    assert r.returncode == 125 and "uids and gids must be in range 0-2147483647" in r.stderr, r
    assert "uid=0" not in r.stdout
