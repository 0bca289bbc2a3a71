"""The cffi syscall module: real calls, errors as OSError with the kernel's errno."""
import errno
import os

import pytest

from conftest import requires_root
from pocketbox import syscalls

pytestmark = requires_root


def test_errors_carry_the_real_errno(tmp_path):
    with pytest.raises(OSError) as e:
        syscalls.mount("none", str(tmp_path / "missing"), "tmpfs")
    assert e.value.errno == errno.ENOENT and e.value.filename == str(tmp_path / "missing")
    with pytest.raises(OSError) as e:
        syscalls.umount2(str(tmp_path))
    assert e.value.errno == errno.EINVAL
    with pytest.raises(OSError) as e:
        syscalls.setns(-1, 0)
    assert e.value.errno == errno.EBADF


def test_mount_and_namespaces_in_a_child(tmp_path):
    """unshare a mount namespace in a forked child, mount a tmpfs there, and see it stays there."""
    target = tmp_path / "mnt"
    target.mkdir()
    pid = os.fork()
    if pid == 0:
        try:
            syscalls.unshare(syscalls.CLONE_NEWNS | syscalls.CLONE_NEWUTS)
            syscalls.mount(None, "/", None, syscalls.MS_REC | syscalls.MS_PRIVATE)
            syscalls.mount("pbtest", str(target), "tmpfs", syscalls.MS_NOSUID, "size=1m")
            (target / "inside").write_text("x")
            syscalls.sethostname("pbtest-host")
            ok = os.uname().nodename == "pbtest-host" and (target / "inside").exists()
            os._exit(0 if ok else 1)
        except BaseException:
            os._exit(2)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert not (target / "inside").exists()
    assert os.uname().nodename != "pbtest-host"


def test_openat2_stays_in_root(tmp_path):
    (tmp_path / "inside").mkdir()
    os.symlink("/etc", tmp_path / "escape")
    root = os.open(tmp_path, os.O_PATH | os.O_DIRECTORY)
    try:
        with pytest.raises(FileNotFoundError):  # /etc resolved inside tmp_path, where it is not
            syscalls.openat2(root, "escape/passwd", os.O_RDONLY, 0, syscalls.RESOLVE_IN_ROOT)
        with pytest.raises(OSError) as e:
            syscalls.openat2(root, "../../etc/passwd", os.O_RDONLY, 0, syscalls.RESOLVE_BENEATH)
        assert e.value.errno == errno.EXDEV
        fd = syscalls.openat2(root, "../../inside", os.O_PATH, 0, syscalls.RESOLVE_IN_ROOT)
        os.close(fd)
    finally:
        os.close(root)


def test_pivot_root_einval_outside_a_mount_namespace_of_its_own(tmp_path):
    with pytest.raises(OSError) as e:
        syscalls.pivot_root(str(tmp_path), str(tmp_path))
    assert e.value.errno in (errno.EINVAL, errno.EBUSY)
