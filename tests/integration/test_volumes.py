"""Volumes with real containers: create/ls/inspect/rm/prune, -v NAME, anonymous volumes,
--mount, --tmpfs, --volumes-from, copy-up, sharing, persistence, bad input."""
import json
import os
import time
from pathlib import Path

from conftest import requires_root

pytestmark = requires_root


def volumes_dir(pb) -> Path:
    return pb.root / "volumes"


def test_volume_commands(pb, busybox):
    assert pb("volume", "create", "--label", "team=a", "data").stdout.strip() == "data"
    anon = pb("volume", "create").stdout.strip()
    assert len(anon) == 64
    lines = pb("volume", "ls").stdout.splitlines()
    assert lines[0].split() == ["DRIVER", "VOLUME", "NAME"] and any(line.split() == ["local", "data"] for line in lines)
    assert set(pb("volume", "ls", "-q").stdout.split()) == {"data", anon}
    assert pb("volume", "ls", "-q", "-f", "label=team=a").stdout.split() == ["data"]
    assert pb("volume", "ls", "-q", "-f", "name=dat").stdout.split() == ["data"]
    info = json.loads(pb("volume", "inspect", "data").stdout)[0]
    assert info["Labels"] == {"team": "a"} and info["Driver"] == "local"
    assert Path(info["Mountpoint"]).is_dir() and info["Mountpoint"].startswith(str(pb.root))
    assert "no such volume" in pb("volume", "inspect", "nope", expect=1).stderr
    assert pb("volume", "rm", "data").stdout.strip() == "data"
    pb("volume", "rm", "data", expect=1)
    pb("volume", "rm", "-f", "data")
    r = pb("volume", "create", "bad name", expect=1)
    assert "invalid characters" in r.stderr
    pb("volume", "create", "named")
    pb("run", "--name", "leaver", "-v", "/anon", busybox, "true")
    from_container = json.loads(pb("inspect", "leaver").stdout)[0]["Mounts"][0]["Name"]
    pb("rm", "leaver")                          # without -v: its anonymous volume stays
    r = pb("volume", "prune", "-f")             # Docker 23+: only anonymous volumes by default
    assert from_container in r.stdout and "named" not in r.stdout and anon not in r.stdout
    r = pb("volume", "prune", "-a", "-f")
    assert "named" in r.stdout and anon in r.stdout
    assert pb("volume", "ls", "-q").stdout.strip() == ""


def test_named_volume_shared_between_two_detached_containers_and_kept_after_rm(pb, busybox):
    pb("run", "-d", "--name", "writer", "-v", "shared:/data", busybox, "sh", "-c",
       "echo from-writer > /data/w; while [ ! -e /data/r ]; do sleep 0.05; done; cat /data/r; sleep 100")
    pb("run", "-d", "--name", "reader", "-v", "shared:/data", busybox, "sh", "-c",
       "while [ ! -e /data/w ]; do sleep 0.05; done; cat /data/w; echo from-reader > /data/r; sleep 100")
    deadline = time.time() + 10
    while time.time() < deadline and "from-reader" not in pb("logs", "writer").stdout:
        time.sleep(0.1)
    assert "from-reader" in pb("logs", "writer").stdout and "from-writer" in pb("logs", "reader").stdout
    r = pb("volume", "rm", "shared", expect=1)
    assert "volume is in use" in r.stderr and json.loads(pb("inspect", "writer").stdout)[0]["Id"] in r.stderr
    pb("rm", "-f", "writer", "reader")
    assert pb("run", "--rm", "-v", "shared:/data", busybox, "cat", "/data/w", "/data/r").stdout == \
        "from-writer\nfrom-reader\n"
    mounts = None
    pb("run", "--name", "mm", "-v", "shared:/data:ro", busybox, "true")
    mounts = json.loads(pb("inspect", "mm").stdout)[0]["Mounts"]
    assert mounts[0]["Type"] == "volume" and mounts[0]["Name"] == "shared" and mounts[0]["RW"] is False
    pb("rm", "mm")
    pb("volume", "rm", "shared")


def test_copy_up_keeps_owners_and_modes(pb, busybox):
    text = pb("run", "--rm", "-v", "etcvol:/etc", busybox, "sh", "-c", "cat /etc/passwd | head -1").stdout
    assert text.startswith("root:x:0:0")
    data = volumes_dir(pb) / "etcvol" / "_data"
    assert (data / "passwd").read_text().startswith("root:")
    # owners and modes: the busybox image's /root is 0700, /tmp 1777
    pb("run", "--rm", "-v", "rootvol:/root", "-v", "tmpvol:/tmp", busybox, "true")
    assert oct(os.stat(volumes_dir(pb) / "rootvol" / "_data").st_mode & 0o7777) == "0o700"
    assert oct(os.stat(volumes_dir(pb) / "tmpvol" / "_data").st_mode & 0o7777) == "0o1777"
    # a volume that is not empty is not overwritten
    (data / "passwd").write_text("mine\n")
    assert pb("run", "--rm", "-v", "etcvol:/etc", busybox, "cat", "/etc/passwd").stdout == "mine\n"
    pb("run", "--rm", "-v", "nocopy:/etc:nocopy", busybox, "true")
    assert sorted(os.listdir(volumes_dir(pb) / "nocopy" / "_data")) == ["hostname", "hosts", "resolv.conf"]


def test_anonymous_volumes_go_with_rm_v_and_rm_flag(pb, busybox):
    pb("run", "--rm", "-v", "/scratch", busybox, "sh", "-c", "echo x > /scratch/f")
    assert not list(volumes_dir(pb).iterdir())
    pb("run", "--name", "keep", "-v", "/scratch", busybox, "true")
    assert len(list(volumes_dir(pb).iterdir())) == 1
    pb("rm", "-v", "keep")
    assert not list(volumes_dir(pb).iterdir())


def test_mount_tmpfs_and_volumes_from(pb, busybox, tmp_path):
    host = tmp_path / "host"
    host.mkdir()
    (host / "f").write_text("bound")
    text = pb("run", "--rm", "--mount", f"type=bind,source={host},target=/b,readonly",
              "--mount", "type=volume,source=mv,target=/v", "--mount", "type=tmpfs,target=/t,tmpfs-size=1m",
              "--tmpfs", "/t2:size=2m", busybox, "sh", "-c",
              "cat /b/f; touch /b/x 2>/dev/null || echo ro; echo v > /v/f; mount | grep -E ' /t2? '").stdout
    assert "bound" in text and "ro" in text
    assert "/t type tmpfs" in text and "size=1024k" in text and "/t2 type tmpfs" in text and "size=2048k" in text
    pb("run", "--name", "src", "-v", "mv:/v", "-v", f"{host}:/b", busybox, "true")
    text = pb("run", "--rm", "--volumes-from", "src:ro", busybox, "sh", "-c",
              "cat /v/f /b/f; touch /v/y 2>/dev/null || echo ro").stdout
    assert text == "v\nboundro\n" or text.split() == ["v", "boundro"] or text.split() == ["v", "bound", "ro"]
    pb("rm", "src")


def test_bad_mounts_create_nothing(pb, busybox, tmp_path):
    cases = [
        (["-v", "relative/path:/x"], "invalid characters"),
        (["--mount", f"type=bind,source={tmp_path}/missing,target=/x"], "does not exist"),
        (["-v", "vol:relative"], "must be absolute"),
        (["-v", "vol:/a/../b"], "'..'"),
        (["-v", "in valid:/x"], "invalid characters"),
        (["--mount", "type=bind,source=relative,target=/x"], "absolute source"),
        (["--mount", "type=volume,source=v"], "target is required"),
        (["--mount", "type=nfs,target=/x"], "type must be"),
        (["--mount", "type=tmpfs,source=x,target=/x"], "takes no source"),
        (["--tmpfs", "relative"], "must be absolute"),
        (["-v", "aa:/same", "-v", "bb:/same"], "duplicate mount point"),
        (["--volumes-from", "nosuch"], "No such container"),
    ]
    for flags, message in cases:
        r = pb("run", "--rm", *flags, busybox, "true", expect=125)
        assert message in r.stderr, (flags, r.stderr)
        assert len(r.stderr.strip().splitlines()) == 1
    assert not (volumes_dir(pb).exists() and list(volumes_dir(pb).iterdir()))
    assert not (pb.root / "containers").exists() or not list((pb.root / "containers").iterdir())
