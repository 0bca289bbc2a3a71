"""The cgroup v2 device filter (runtime/devices_bpf.py) on its own: the eBPF program is loaded by
the real kernel (its verifier included) and attached to a cgroup of pocketbox's subtree; a
process moved there may open exactly the nodes the rules allow."""
import os
import stat
import uuid

import pytest

from conftest import requires_root
from pocketbox.runtime import cgroups, devices_bpf

pytestmark = requires_root
EPERM = 1


@pytest.fixture
def v2_cgroup():
    mode = cgroups.detect()
    if mode == "v1":
        pytest.skip("no cgroup2 hierarchy on this host")
    base = cgroups.CGROUP_ROOT if mode == "v2" else f"{cgroups.CGROUP_ROOT}/unified"
    parent = f"{base}/{cgroups.PARENT}"
    os.makedirs(parent, exist_ok=True)
    path = f"{parent}/devtest-{uuid.uuid4().hex[:8]}"
    os.mkdir(path)
    yield path
    os.rmdir(path)
    try:
        os.rmdir(parent)
    except OSError:
        pass  # other pocketbox cgroups live there


def opens_in(cgroup: str, attempts: list[tuple[str, int]]) -> list:
    """Fork a child into the cgroup; it tries each (path, flags) and reports "ok" or the errno."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            with open(f"{cgroup}/cgroup.procs", "w") as f:
                f.write("0")
            out = []
            for path, flags in attempts:
                try:
                    os.close(os.open(path, flags))
                    out.append("ok")
                except OSError as e:
                    out.append(e.errno)
            os.write(w, repr(out).encode())
        finally:
            os._exit(0)
    os.close(w)
    data = os.read(r, 4096)
    os.close(r)
    os.waitpid(pid, 0)
    return eval(data.decode())  # a list literal we wrote ourselves


def test_default_rules(v2_cgroup, tmp_path):
    devices_bpf.attach(v2_cgroup, cgroups.DEFAULT_DEVICE_RULES)
    block = tmp_path / "disk"
    os.mknod(block, stat.S_IFBLK | 0o600, os.makedev(7, 0))     # a loop device node, made outside
    kvm = "/dev/kvm" if os.path.exists("/dev/kvm") else "/dev/loop-control"
    got = opens_in(v2_cgroup, [("/dev/null", os.O_RDWR), ("/dev/urandom", os.O_RDONLY), (kvm, os.O_RDONLY),
                               (str(block), os.O_RDONLY)])
    assert got == ["ok", "ok", EPERM, EPERM]


def test_access_bits_and_wildcards(v2_cgroup):
    kvm = "/dev/kvm" if os.path.exists("/dev/kvm") else "/dev/loop-control"
    st = os.stat(kvm)
    devices_bpf.attach(v2_cgroup, [f"c {os.major(st.st_rdev)}:* r", "c 1:3 rwm"])
    got = opens_in(v2_cgroup, [(kvm, os.O_RDONLY), (kvm, os.O_WRONLY), ("/dev/null", os.O_WRONLY),
                               ("/dev/zero", os.O_RDONLY)])
    assert got == ["ok", EPERM, "ok", EPERM]


def test_allow_all_is_a_valid_program(v2_cgroup):
    devices_bpf.attach(v2_cgroup, cgroups.DEFAULT_DEVICE_RULES + ["a *:* rwm", "c 1:3 rwm"])  # nothing unreachable
    kvm = "/dev/kvm" if os.path.exists("/dev/kvm") else "/dev/loop-control"
    assert opens_in(v2_cgroup, [(kvm, os.O_RDONLY)]) == ["ok"]
