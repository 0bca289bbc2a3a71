"""--userns auto: the container's root is uid 100000 on the host (runtime/userns.py). Checked
from inside (ids, maps, the image's files still root's), from outside (process and file owners),
and by what root inside can no longer do."""
import json
import os
import subprocess

from conftest import requires_root
from pocketbox.runtime.userns import subordinate_range

pytestmark = requires_root
HOST_ROOT, _ = subordinate_range()


def test_container_root_is_an_unprivileged_host_user(pb, busybox, tmp_path):
    cid = pb("run", "-d", "--name", "uu", "--network", "none", "--userns", "auto", busybox, "sh", "-c",
             "echo made > /made-here; sleep 60").stdout.strip()
    info = json.loads(pb("inspect", "uu").stdout)[0]
    assert info["HostConfig"]["UsernsMode"] == "auto"
    assert info["IdMappings"]["UidMap"] == [{"containerID": 0, "hostID": HOST_ROOT, "size": 65536}]
    pid = info["State"]["Pid"]
    with open(f"/proc/{pid}/status") as f:
        uids = next(line for line in f if line.startswith("Uid:")).split()[1:]
    assert uids == [str(HOST_ROOT)] * 4                       # seen from the host
    inside = pb("exec", "uu", "sh", "-c", "id -u; cat /proc/self/uid_map; stat -c '%u:%g' /bin/busybox /etc/passwd; "
                                          "touch /by-exec").stdout.split()
    assert inside == ["0", "0", str(HOST_ROOT), "65536", "0:0", "0:0"]   # the image's files are root's inside
    upper = info["GraphDriver"]["Data"]["UpperDir"]
    for name in ("made-here", "by-exec"):
        st = os.stat(os.path.join(upper, name))
        assert (st.st_uid, st.st_gid) == (HOST_ROOT, HOST_ROOT), name   # and the host's unprivileged user's outside
    pb("rm", "-f", cid)


def test_root_inside_cannot_do_host_root_things(pb, busybox, tmp_path):
    os.chmod(tmp_path, 0o755)
    (tmp_path / "root-only").write_text("secret")
    os.chmod(tmp_path / "root-only", 0o600)
    r = pb("run", "--rm", "--network", "none", "--userns", "auto", "--security-opt", "seccomp=unconfined",
           "-v", f"{tmp_path}:/data", busybox, "sh", "-c",
           "stat -c %u /data/root-only; cat /data/root-only; mknod /tmp/null c 1 3; hostname other; "
           "mount -t tmpfs t /tmp; unshare -m true; echo end", expect=None)
    assert r.stdout.split() == ["65534", "end"]              # a host root file belongs to nobody here
    errors = r.stderr.splitlines()
    assert "Permission denied" in errors[0]                  # even without seccomp: no host privileges
    assert all("ermi" in e or "not permitted" in e for e in errors[1:]), errors


def test_layered_image_and_bad_options(pb, test_images):
    ref = test_images.ref("layered")
    pb("pull", "-q", ref)
    r = pb("run", "--rm", "--network", "none", "--userns", "auto", ref, "sh", "-c", "id -u; ls / | wc -l")
    assert r.stdout.split()[0] == "0" and int(r.stdout.split()[1]) > 5
    assert "pocketbox knows host and auto" in pb("run", "--rm", "--userns", "bogus", ref, "true", expect=125).stderr
    assert "incompatible" in pb("run", "--rm", "--userns", "auto", "--privileged", ref, "true", expect=125).stderr
    mounts = subprocess.run(["grep", "-c", "idmapped", "/proc/self/mountinfo"], capture_output=True, text=True)
    assert mounts.stdout.strip() == "0"                      # idmapped layers live only in the container's namespace
