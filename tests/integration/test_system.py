"""info, version, system df and system prune, checked against the machine itself."""
import json
import os
import platform
import subprocess

from conftest import requires_root

pytestmark = requires_root


def fstype(path: str) -> str:
    return subprocess.run(["findmnt", "-n", "-o", "FSTYPE", "-T", path], capture_output=True, text=True).stdout.strip()


def test_info_matches_the_machine(pb, busybox):
    pb("run", "-d", "--name", "up", busybox, "sleep", "100")
    pb("run", "--name", "down", busybox, "true")
    data = json.loads(pb("info", "--format", "json").stdout)
    assert (data["Containers"], data["ContainersRunning"], data["ContainersStopped"]) == (2, 1, 1)
    assert data["Images"] == 1
    top = fstype("/sys/fs/cgroup")
    unified = fstype("/sys/fs/cgroup/unified") if os.path.isdir("/sys/fs/cgroup/unified") else ""
    expected = "v2" if top == "cgroup2" else ("hybrid" if unified == "cgroup2" else "v1")
    assert data["CgroupMode"] == expected and data["CgroupVersion"] == ("2" if expected == "v2" else "1")
    assert data["KernelVersion"] == platform.release() and data["NCPU"] == os.cpu_count()
    with open("/proc/meminfo") as f:
        assert data["MemTotal"] == int(f.readline().split()[1]) * 1024
    assert data["DriverStatus"][0][1] == fstype(str(pb.root))
    with open("/proc/sys/net/ipv4/ip_forward") as f:
        forwarding = f.read().strip() == "1"
    assert data["IPv4Forwarding"] == forwarding
    assert any("IPv4 forwarding" in w for w in data["Warnings"]) != forwarding
    assert "memory" in data["CgroupControllers"] and "pids" in data["CgroupControllers"]
    text = pb("info")
    assert "Storage Driver: overlay" in text.stdout and f"Root Dir: {pb.root}" in text.stdout
    assert ("IPv4 forwarding is disabled" in text.stderr) != forwarding
    pb("rm", "-f", "up")


def test_version(pb):
    text = pb("version").stdout
    assert "Client:" in text and "Runtime:" in text and "OCI spec:      1.0.2" in text
    data = json.loads(pb("version", "--format", "json").stdout)
    assert data["Client"]["Version"] == pb("--version").stdout.split()[-1]


def test_system_df_and_prune_free_what_they_say(pb, busybox):
    pb("run", "--name", "big", "-v", "/anon", busybox, "sh", "-c",
       "dd if=/dev/zero of=/blob bs=1M count=5 2>/dev/null; echo x > /anon/f")
    rows = {line.split()[0]: line.split() for line in pb("system", "df").stdout.splitlines()[1:]}
    assert rows["Containers"][1:3] == ["1", "0"] and rows["Containers"][3].endswith("MB")
    assert rows["Local"][2:4] == ["1", "1"]   # "Local Volumes": 1 total, 1 in use (by the stopped container)
    assert rows["Images"][4:] != ["0B"]
    assert rows["Images"][1:3] == ["1", "1"]
    r = pb("system", "prune", input="n\n")
    assert "WARNING! This will remove:" in r.stdout and "Total reclaimed" not in r.stdout
    r = pb("system", "prune", "-f", "--volumes")
    assert "Deleted Containers:" in r.stdout and "Deleted Volumes:" in r.stdout
    freed = r.stdout.strip().splitlines()[-1].split()[-1]
    assert freed.endswith("MB") and float(freed[:-2]) >= 5.0
    assert pb("ps", "-aq").stdout.strip() == "" and pb("volume", "ls", "-q").stdout.strip() == ""
    assert pb("images", "-q").stdout.strip()          # still used? no, but not dangling: kept without -a
    r = pb("system", "prune", "-a", "-f")
    assert "Deleted Images:" in r.stdout and pb("images", "-q").stdout.strip() == ""
    assert not list((pb.root / "layers").iterdir())
