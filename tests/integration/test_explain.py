"""--explain: the events describe acts that really happened, checked against the system state."""
import json
import os
import re

from conftest import requires_root

pytestmark = requires_root


def events(stderr: str) -> list[dict]:
    return [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]


def test_pull_explains_the_registry_conversation(pb, test_images):
    r = pb("--explain=json", "pull", test_images.ref("multi"))
    ev = events(r.stderr)
    urls = [e["what"] for e in ev if e["kind"] == "registry"]
    assert any(re.search(r"GET http://.*/v2/library/multi/manifests/latest answered 200", u) for u in urls)
    chose = [e["what"] for e in ev if e["kind"] == "image" and "manifest list" in e["what"]]
    info = json.loads(pb("image", "inspect", test_images.ref("multi")).stdout)[0]
    assert chose and info["ManifestDigest"] in chose[0] and "linux/amd64" in chose[0]
    layers = [e for e in ev if e["kind"] == "layer"]
    assert len(layers) == len(info["Layers"])
    for e, layer in zip(layers, info["Layers"]):
        assert layer["Digest"][7:19] in e["what"] and os.path.isdir(e["what"].split("unpacked into ")[1].split(":")[0])
    text = pb("--explain", "pull", test_images.ref("multi")).stderr
    assert text.startswith("[explain] == image ==\n[explain]   GET ")


def test_run_explains_cgroups_mounts_and_exec(pb, busybox):
    r = pb("--explain=json", "run", "--name", "shown", "--memory", "32m", busybox, "sh", "-c",
           "cat /proc/self/mountinfo")
    ev = events(r.stderr)
    info = json.loads(pb("inspect", "shown").stdout)[0]
    writes = {e["file"]: e["value"] for e in ev if e["kind"] == "cgroup"}
    limit_files = [f for f in writes if f.endswith(("memory.max", "memory.limit_in_bytes"))]
    assert limit_files and writes[limit_files[0]] == str(32 << 20)
    assert os.path.dirname(limit_files[0]) in info["Cgroup"]["Paths"].values()
    # every mount the explain output names inside the container is in the container's mountinfo
    mount_points = {line.split()[4] for line in r.stdout.splitlines()}
    explained = [e["target"] for e in ev if e["kind"] == "mount" and e["target"].startswith("/")
                 and not e["target"].startswith(info["BundlePath"])]
    assert explained and all(t in mount_points for t in explained), set(explained) - mount_points
    assert "/" in mount_points
    execve = [e for e in ev if e["kind"] == "execve"]
    assert execve[0]["argv"] == ["sh", "-c", "cat /proc/self/mountinfo"] and execve[0]["path"] == "/bin/sh"
    assert any(e["kind"] == "pivot_root" for e in ev) and any(e["kind"] == "unshare" for e in ev)
    exits = [e for e in ev if e["kind"] == "exit"]
    assert exits and exits[0]["code"] == 0
    kinds = [e["kind"] for e in ev]
    # the child's steps in their order; the parent's "fork" event is written while the child runs,
    # so it is only ordered after the cgroup was made
    assert kinds.index("cgroup") < kinds.index("unshare") < kinds.index("pivot_root") < kinds.index("execve") \
        < kinds.index("exit")
    assert kinds.index("cgroup") < kinds.index("fork")
    # the first process enters every hierarchy of its cgroup before it unshares anything
    joined = {e["dir"]: e["act"] for e in ev if e["kind"] == "cgroup-join"}
    assert set(joined) == set(info["Cgroup"]["Paths"].values())
    assert max(i for i, k in enumerate(kinds) if k == "cgroup-join") < kinds.index("unshare")
    if "unified" in info["Cgroup"]["Paths"]:  # one thread in the CLI: born in the cgroup v2 directory
        assert joined[info["Cgroup"]["Paths"]["unified"]].startswith("clone3(CLONE_INTO_CGROUP")
    pb("rm", "shown")


def test_exec_and_stop_explained(pb, busybox):
    pb("run", "-d", "--name", "target", busybox, "sleep", "100")
    pid = json.loads(pb("inspect", "target").stdout)[0]["State"]["Pid"]
    ev = events(pb("--explain=json", "exec", "target", "true").stderr)
    joined = [e["namespace"] for e in ev if e["kind"] == "setns"]
    assert set(joined) >= {"pid", "mnt", "net", "uts", "ipc"} and all(e["pid"] == pid for e in ev if e["kind"] == "setns")
    ev = events(pb("--explain=json", "stop", "-t", "1", "target").stderr)
    signals = [e["signal"] for e in ev if e["kind"] == "signal"]
    assert signals[0] == "SIGTERM" and "SIGKILL" in signals[1]
    off = pb("exec", "target", "true", expect=1)   # stopped now: and no explain lines without the flag
    assert "[explain]" not in off.stderr
    ev = events(pb("run", "--rm", busybox, "true", env={"POCKETBOX_EXPLAIN": "json"}).stderr)
    assert any(e["kind"] == "execve" for e in ev)


def test_run_detached_with_port_explains_the_network(pb, busybox):
    import subprocess

    from conftest import links

    r = pb("--explain=json", "run", "-d", "--name", "pub", "-p", "8085:80", busybox, "sleep", "100")
    ev = events(r.stderr)
    info = json.loads(pb("inspect", "pub").stdout)[0]
    net = [e for e in ev if e["kind"] == "network"]
    ip = info["NetworkSettings"]["IPAddress"]
    assert any(f"allocate the address {ip}/16" in e["what"] for e in net)
    netns = [e for e in net if "network namespace" in e["what"]][0]
    sandbox = info["NetworkSettings"]["SandboxKey"]
    assert sandbox in netns["call"]
    with open("/proc/self/mountinfo") as f:
        assert any(line.split()[4] == sandbox for line in f)          # the namespace really is kept there
    veth = [e for e in net if "veth pair" in e["what"]][0]
    name = re.search(r"(veth\w+) here", veth["what"]).group(1)
    assert name in links() and info["NetworkSettings"]["MacAddress"] in veth["call"]
    inside = subprocess.run(["nsenter", f"--net={sandbox}", "ip", "-4", "-o", "addr", "show", "eth0"],
                            capture_output=True, text=True).stdout
    assert f"{ip}/16" in inside                                      # the address it says eth0 got
    route = subprocess.run(["nsenter", f"--net={sandbox}", "ip", "route"], capture_output=True, text=True).stdout
    assert f"default via {info['NetworkSettings']['Gateway']} dev eth0" in route
    nat = [e for e in ev if e["kind"] == "nat" and "publish" in e["what"]]
    assert nat and f"dnat to {ip}:80" in nat[0]["call"]
    rules = subprocess.run(["nft", "list", "chain", "ip", "pocketbox", "published"], capture_output=True,
                           text=True).stdout
    assert f"tcp dport 8085 dnat to {ip}:80" in rules
    kinds = [e["kind"] for e in ev]
    assert kinds.index("network") < kinds.index("fork") < kinds.index("join") < kinds.index("execve")
    ev = events(pb("--explain=json", "stop", "-t", "1", "pub").stderr)
    cleanup = " ".join(e["what"] for e in ev if e["kind"] == "cleanup")
    assert f"veth pair {name}" in cleanup and f"release the address {ip}" in cleanup and "NAT rule" in cleanup
    assert name not in links()
    pb("rm", "pub")


def test_text_explain_is_grouped_in_the_course_steps(pb, busybox):
    """The text form: a heading per step, runs of one rule folded with a count, the state root as
    $ROOT, short IDs, one line per event; --explain=full keeps everything; --explain may follow
    the command's verb."""
    text = pb("run", "--explain", "--rm", "--network", "none", busybox, "true").stderr
    headings = [line.split("==")[1].strip() for line in text.splitlines() if line.startswith("[explain] ==")]
    for step in ("cgroups", "namespaces", "filesystem", "security", "process", "cleanup"):
        assert step in headings, headings
    assert "more like it)" in text and "$ROOT" in text and str(pb.root) not in text
    assert not re.search(r"[0-9a-f]{64}", text)
    assert len(text.splitlines()) < 70
    full = pb("--explain=full", "run", "--rm", "--network", "none", busybox, "true").stderr
    assert str(pb.root) in full and re.search(r"[0-9a-f]{64}", full) and "== " not in full
    assert len(full.splitlines()) > len(text.splitlines())
