"""cgroup v2 and the Vagrant path, proven on a real VM: qemu boots Debian's own kernel with a
Debian guest that has only cgroup2 and no network but loopback; the guest runs the Vagrantfile's
provisioning script (scripts/install.sh, unchanged) and then tests/vm/checks.py with real
containers. Each check comes back through a shared directory and is asserted on its own.

The guest disk is built once with debootstrap (tests/vm/build-guest.sh) and cached by recipe
hash with the test images; KVM is used when it really works, TCG otherwise.
Skip it in a quick run with `-m "not vm"`; .ci/run runs it."""
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import pytest

from conftest import REPO, requires_root
from helpers.netns import in_host_network

pytestmark = [requires_root, pytest.mark.vm]
HERE = Path(__file__).resolve().parent
CHECKS = ["install_and_info", "memory_max", "memory_swap_max", "oom_killed", "cpu_max",
          "pids_limit_stops_fork_bomb", "pause_freezes", "stop_and_rm_leave_nothing", "own_cgroup_namespace",
          "device_filter_v2", "stats_update_cpuset_v2", "engine_api_v2"]
BOOT_TIMEOUT = 15 * 60


def install_packages() -> str:
    """PACKAGES of scripts/install.sh: the guest has them preinstalled, so the script skips apt."""
    text = (REPO / "scripts" / "install.sh").read_text()
    match = re.search(r'^PACKAGES="([^"]*)"', text, re.M)
    return " ".join(match.group(1).replace("\\", " ").split())


def vagrant_provisioners() -> tuple[str, str]:
    """What the Vagrantfile provisions with: the "file" provisioner's destination for the checkout
    (source ".") and the "shell" provisioner's inline script, read from the Vagrantfile itself."""
    text = (REPO / "Vagrantfile").read_text()
    upload = re.search(r'provision\s+"file",\s*source:\s*"\."\s*,\s*destination:\s*"([^"]+)"', text)
    inline = re.search(r'provision\s+"shell",\s*inline:\s*"((?:[^"\\]|\\.)*)"', text)
    assert upload and inline, "the Vagrantfile has no file upload of the checkout or no inline shell provisioner"
    return upload.group(1), inline.group(1).encode().decode("unicode_escape")


def cache_dir() -> Path:
    return Path(os.environ.get("POCKETBOX_IMAGE_CACHE", "/var/cache/pocketbox-images"))


def guest_disk() -> Path:
    """OUT.img/.vmlinuz/.initrd, built from build-guest.sh and the package list, cached by their hash."""
    key = hashlib.sha256((HERE / "build-guest.sh").read_bytes() + install_packages().encode()).hexdigest()[:16]
    out = cache_dir() / f"vm-guest-{key}" / "guest"
    if (out.parent / "ready").exists():
        return out
    work = Path(f"{out.parent}.building.{os.getpid()}")
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    try:
        subprocess.run(in_host_network(["sh", str(HERE / "build-guest.sh"), str(work / "guest"), install_packages()]),
                       check=True)
        (work / "ready").write_text("")
        shutil.rmtree(out.parent, ignore_errors=True)
        os.rename(work, out.parent)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return out


def wheels() -> Path:
    """What pip needs in the guest (build requirements, dependencies, test extras, pip itself),
    downloaded here once: the guest has no network, install.sh's pip reads them from a directory."""
    meta = tomllib.loads((REPO / "pyproject.toml").read_text())
    wanted = sorted({"pip", *meta["build-system"]["requires"], *meta["project"]["dependencies"],
                     *meta["project"].get("optional-dependencies", {}).get("test", [])})
    key = hashlib.sha256(" ".join(wanted).encode()).hexdigest()[:16]
    out = cache_dir() / f"vm-wheels-{key}"
    if not (out / "ready").exists():
        shutil.rmtree(out, ignore_errors=True)
        subprocess.run(in_host_network([sys.executable, "-m", "pip", "download", "-q", "--prefer-binary", "-d",
                                        str(out), *wanted]), check=True)
        (out / "ready").write_text("")
    return out


def qemu_argv(guest: Path, results: Path, accel: str) -> list[str]:
    return ["qemu-system-x86_64", "-accel", accel, "-M", "q35", "-m", "2048", "-smp", "2", "-nographic",
            "-no-reboot", "-nic", "none", "-kernel", f"{guest}.vmlinuz", "-initrd", f"{guest}.initrd",
            "-append", "root=/dev/vda rw console=ttyS0 panic=-1 init=/sbin/pocketbox-vm-init "
                       "systemd.unified_cgroup_hierarchy=1 cgroup_no_v1=all quiet",
            "-drive", f"file={guest}.img,if=virtio,format=raw,snapshot=on",
            "-fsdev", f"local,id=project,path={REPO},security_model=none,readonly=on",
            "-device", "virtio-9p-pci,fsdev=project,mount_tag=project",
            "-fsdev", f"local,id=results,path={results},security_model=none",
            "-device", "virtio-9p-pci,fsdev=results,mount_tag=results"]


def accelerator(guest: Path) -> str:
    """KVM if a kernel really boots with it (nested KVM here opens /dev/kvm and then fails), else TCG."""
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        return "tcg"
    probe = ["qemu-system-x86_64", "-accel", "kvm", "-M", "q35", "-m", "256", "-nographic", "-no-reboot",
             "-nic", "none", "-kernel", f"{guest}.vmlinuz", "-append", "console=ttyS0 panic=-1 init=/nonexistent"]
    try:
        r = subprocess.run(probe, capture_output=True, text=True, timeout=10)  # KVM boots in ~1 s
        out = r.stdout + r.stderr
    except subprocess.TimeoutExpired as e:
        out = (e.stdout or b"").decode(errors="replace") if isinstance(e.stdout, bytes) else (e.stdout or "")
    return "kvm" if "Kernel panic" in out or "VFS" in out else "tcg"


@pytest.fixture(scope="module")
def vm(tmp_path_factory, busybox_rootfs):
    if not shutil.which("qemu-system-x86_64"):
        pytest.fail("qemu-system-x86_64 is missing: scripts/test.sh installs qemu-system-x86")
    import ociimage

    guest = guest_disk()
    results = tmp_path_factory.mktemp("vm") / "results"
    results.mkdir()
    shutil.copytree(wheels(), results / "wheels")
    upload_to, inline = vagrant_provisioners()
    (results / "provision.env").write_text(f"UPLOAD_TO={upload_to}\n")
    (results / "provision.inline").write_text(inline + "\n")
    layout = ociimage.Layout(results.parent / "layout")
    desc = layout.image([ociimage.tar_dir(busybox_rootfs)])
    ociimage.docker_archive(layout, desc, "busybox:latest", results / "busybox.tar")
    accel = accelerator(guest)
    start = time.monotonic()
    console = results.parent / "console.log"
    with open(console, "wb") as out:
        proc = subprocess.run(qemu_argv(guest, results, accel), stdout=out, stderr=subprocess.STDOUT,
                              stdin=subprocess.DEVNULL, timeout=BOOT_TIMEOUT)
    took = time.monotonic() - start
    print(f"\nVM ({accel}): booted, provisioned and checked in {took:.0f} s; console in {console}")
    data = json.loads((results / "results.json").read_text()) if (results / "results.json").exists() else {}
    return {"results": data, "dir": results, "console": console.read_text(errors="replace"), "qemu": proc.returncode,
            "accel": accel, "seconds": took}


def test_guest_provisioned_with_the_vagrant_script(vm):
    rc = (vm["dir"] / "provision.rc").read_text().strip() if (vm["dir"] / "provision.rc").exists() else "none"
    log = (vm["dir"] / "provision.log").read_text(errors="replace") if (vm["dir"] / "provision.log").exists() else ""
    assert rc == "0", f"install.sh exited {rc}\n{log[-3000:]}\n--- console ---\n{vm['console'][-3000:]}"
    assert "pocketbox installed: pocketbox version" in log
    assert "cgroup: cgroup2fs" in vm["console"]


@pytest.mark.parametrize("name", CHECKS)
def test_cgroup_v2_check(vm, name):
    results = vm["results"]
    assert name in results, f"check {name} did not run\n{(vm['dir'] / 'checks.log').read_text(errors='replace')[-3000:] if (vm['dir'] / 'checks.log').exists() else vm['console'][-3000:]}"
    assert results[name]["ok"], results[name]["detail"]
