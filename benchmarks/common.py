"""Shared bits of the benchmarks: a registry with the recipe images, timing, medians and ratios."""
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "rootfs"))
sys.path.insert(0, str(REPO / "tests"))

from helpers.registry import RegistryProcess, skopeo_push  # noqa: E402


from helpers.netns import own_network_namespace  # noqa: E402

own_network_namespace()  # the bridges, veths and NAT rules of pocketbox and podman live and die with it


def bench_dir() -> Path:
    """Where benchmarks write. Not /tmp or /var/tmp: on our machines creating files there costs
    ~20x more than elsewhere on the same disk (measured: 340 us vs 15 us per file)."""
    d = Path(os.environ.get("POCKETBOX_BENCH_DIR", "/var/lib/pocketbox-bench"))
    d.mkdir(parents=True, exist_ok=True)
    return d


def pocketbox_argv() -> list[str]:
    exe = Path(sys.executable).parent / "pocketbox"
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "pocketbox"]


def timed(argv, env=None, **kw) -> float:
    t = time.perf_counter()
    r = subprocess.run(argv, env={**os.environ, **(env or {})}, stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE, **kw)
    elapsed = time.perf_counter() - t
    if r.returncode != 0:
        raise SystemExit(f"benchmark step failed ({r.returncode}): {' '.join(argv)}\n{r.stderr.decode()}")
    return elapsed


def quiesce(marker: str, timeout: float = 5.0) -> None:
    """Wait until no process whose command line names `marker` is left. podman run --rm returns
    while conmon still runs `podman container cleanup` in the background (~0.1 s of CPU); on two
    cores that work would otherwise be charged to whichever tool runs next."""
    deadline = time.monotonic() + timeout
    me = str(os.getpid())
    while time.monotonic() < deadline:
        busy = False
        for pid in os.listdir("/proc"):
            if not pid.isdigit() or pid == me:
                continue
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    if marker.encode() in f.read():
                        busy = True
                        break
            except OSError:
                continue
        if not busy:
            return
        time.sleep(0.005)


def interleaved(tools: dict, runs: int, marker: str) -> dict[str, list[float]]:
    """Each tool (a callable returning seconds) once to warm caches, then `runs` rounds of all of
    them in turn, waiting after each for its background work to end (quiesce). name -> times."""
    for f in tools.values():
        f()
        quiesce(marker)
    results = {name: [] for name in tools}
    for _ in range(runs):
        for name, f in tools.items():
            results[name].append(f())
            quiesce(marker)
    return results


def report(title: str, results: dict[str, list[float]], baseline: str) -> None:
    """Print each tool's median (and spread) and its ratio to the baseline's median."""
    print(f"\n{title}")
    base = statistics.median(results[baseline])
    width = max(len(k) for k in results)
    for name, times in results.items():
        med = statistics.median(times)
        print(f"  {name.ljust(width)}  median {med * 1000:8.1f} ms   min {min(times) * 1000:8.1f}   "
              f"max {max(times) * 1000:8.1f}   ratio to {baseline}: {med / base:5.2f}x   (n={len(times)})")


PODMAN_LIMITS = ["--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1000:1000"]


class BusyboxEverywhere:
    """A loopback registry with the busybox recipe image, pulled into pocketbox and podman
    stores of their own under `work` (and a runc bundle of it), for side-by-side runs."""

    def __init__(self, work: Path):
        import json
        import shutil

        import ociimage

        self.work = work
        self.runroot = f"/run/pbbench-{work.name[-8:]}"
        self.registry = RegistryProcess(work / "registry")
        rootfs = work / "busybox-rootfs"
        subprocess.run(["sh", str(REPO / "rootfs/busybox/build.sh"), str(rootfs)], check=True, stdout=subprocess.DEVNULL)
        layout = ociimage.Layout(work / "layout")
        layout.tag(layout.image([ociimage.tar_dir(rootfs)]), "latest")
        self.ref = f"{self.registry.host}/library/busybox:latest"
        skopeo_push(work / "layout", "latest", self.ref, work / "home")
        self.pb_env = {"POCKETBOX_ROOT": str(work / "pocketbox")}
        timed(pocketbox_argv() + ["pull", "-q", self.ref], env=self.pb_env)
        self.podman = ["podman", "--root", str(work / "podman"), "--runroot", self.runroot,
                       "--cgroup-manager", "cgroupfs", "--storage-driver", "overlay"]
        self.podman_env = {"HOME": str(work / "home")}
        timed(self.podman + ["pull", "-q", "--tls-verify=false", self.ref], env=self.podman_env)
        self.bundle = work / "bundle"
        self.bundle.mkdir()
        shutil.copytree(rootfs, self.bundle / "rootfs", symlinks=True)
        subprocess.run(["runc", "spec"], cwd=self.bundle, check=True)
        spec = json.loads((self.bundle / "config.json").read_text())
        spec["process"]["terminal"] = False
        spec["process"]["args"] = ["true"]
        (self.bundle / "config.json").write_text(json.dumps(spec))

    def close(self) -> None:
        import shutil

        self.registry.stop()
        subprocess.run(self.podman + ["rm", "-af"], capture_output=True, env={**os.environ, **self.podman_env})
        subprocess.run(self.podman + ["system", "reset", "-f"], capture_output=True)
        shutil.rmtree(self.runroot, ignore_errors=True)
        shutil.rmtree(f"{self.runroot}-runc", ignore_errors=True)
        shutil.rmtree(self.work, ignore_errors=True)


def rss_kb(pid: int) -> tuple[int, int]:
    """(VmRSS, RssAnon) of a process, in kB."""
    fields = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            fields[key] = value.split()[0] if value.split() else "0"
    return int(fields.get("VmRSS", 0)), int(fields.get("RssAnon", 0))
