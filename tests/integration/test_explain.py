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
    assert text.startswith("[explain] registry: ")


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
    assert kinds.index("cgroup") < kinds.index("fork") < kinds.index("unshare") < kinds.index("pivot_root") \
        < kinds.index("execve") < kinds.index("exit")
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
    off = pb("exec", "target", "true", expect=125)   # stopped now: and no explain lines without the flag
    assert "[explain]" not in off.stderr
    ev = events(pb("run", "--rm", busybox, "true", env={"POCKETBOX_EXPLAIN": "json"}).stderr)
    assert any(e["kind"] == "execve" for e in ev)
