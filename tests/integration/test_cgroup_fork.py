"""fork_into + join put a child into every hierarchy of a container's cgroup before it runs
anything: by clone3(CLONE_INTO_CGROUP) when the process has one thread, by writing to
cgroup.procs when it has more (a raw clone3 would skip the C library's fork handlers)."""
import os
import threading

import pytest

from pocketbox.runtime import cgroups

pytestmark = pytest.mark.root


@pytest.fixture
def cgroup():
    cg = cgroups.ContainerCgroup("pbtest-fork-" + os.urandom(6).hex())
    cg.create(cgroups.Limits(pids_limit=50))
    yield cg
    cg.destroy()


def membership(cg, with_thread: bool):
    """(born_in_unified, the child's /proc/PID/cgroup lines) for a child forked into `cg`."""
    ready_r, ready_w = os.pipe()
    hold_r, hold_w = os.pipe()
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait) if with_thread else None
    if thread:
        thread.start()
    try:
        pid, born = cgroups.fork_into(cg.paths)
        if pid == 0:
            try:
                cgroups.join(cg.paths, born)
                os.write(ready_w, b"k")
                os.read(hold_r, 1)
            finally:
                os._exit(0)
    finally:
        stop.set()
        if thread:
            thread.join()
    try:
        assert os.read(ready_r, 1) == b"k"
        with open(f"/proc/{pid}/cgroup") as f:
            return born, f.read().splitlines()
    finally:
        os.write(hold_w, b"x")
        os.waitpid(pid, 0)
        for fd in (ready_r, ready_w, hold_r, hold_w):
            os.close(fd)


def in_every_hierarchy(cg, lines):
    where = {}
    for line in lines:
        _, controllers, path = line.split(":", 2)
        for c in (controllers.split(",") if controllers else ["unified"]):
            where[c.removeprefix("name=")] = path
    for hierarchy in cg.paths:  # "memory", "cpu,cpuacct", "systemd" (name=systemd), "unified"
        for controller in hierarchy.split(","):
            assert where.get(controller, "").endswith(f"/pocketbox/{cg.id}"), (controller, lines)


def test_single_threaded_child_is_born_in_the_cgroup(cgroup):
    single = len(os.listdir("/proc/self/task")) == 1  # (a fixture's server thread may be running)
    born, lines = membership(cgroup, with_thread=False)
    assert born == ("unified" in cgroup.paths and single)
    in_every_hierarchy(cgroup, lines)


def test_with_threads_the_child_still_joins_every_hierarchy(cgroup):
    born, lines = membership(cgroup, with_thread=True)
    assert born is False
    in_every_hierarchy(cgroup, lines)
