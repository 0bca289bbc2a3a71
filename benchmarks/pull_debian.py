"""Pull a Debian bookworm image (debootstrap minbase, ~50 MB gzip) from a loopback registry,
side by side: pocketbox pull, skopeo copy + umoci unpack, podman pull. Prints medians and ratios.

Target (issue 2): pocketbox <= 0.5x podman, and no slower than skopeo + umoci.
Usage: sudo /opt/pocketbox/venv/bin/python benchmarks/pull_debian.py [--rounds N]"""
import argparse
import os
import shutil
import tempfile
from pathlib import Path

from common import RegistryProcess, bench_dir, pocketbox_argv, report, skopeo_push, timed

import cache


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    layout = cache.layout_from_recipe("debian")
    work = Path(tempfile.mkdtemp(prefix="pull-", dir=bench_dir()))
    reg = RegistryProcess(work / "registry")
    try:
        ref = f"{reg.host}/library/debian:bookworm"
        skopeo_push(layout, "latest", ref, work / "home")
        tools = {
            "pocketbox pull": lambda d: timed(pocketbox_argv() + ["pull", "-q", ref],
                                              env={"POCKETBOX_ROOT": str(d / "pb")}),
            "skopeo copy + umoci unpack": lambda d: timed(
                ["sh", "-c", f"skopeo copy -q --src-tls-verify=false docker://{ref} oci:{d}/oci:bookworm && "
                             f"umoci unpack --image {d}/oci:bookworm {d}/bundle"],
                env={"HOME": str(work / "home")}),
            "podman pull": lambda d: timed(
                ["podman", "--root", str(d / "podman"), "--runroot", runroot(d),
                 "--storage-driver", "overlay", "pull", "-q", "--tls-verify=false", ref],
                env={"HOME": str(work / "home")}),
        }
        results: dict[str, list[float]] = {name: [] for name in tools}
        names = list(tools)
        for i in range(args.rounds):
            # rotate the order each round; delete nothing until the end (ext4 discards on delete
            # would slow whichever tool runs next)
            for name in names[i % len(names):] + names[:i % len(names)]:
                d = work / f"round{i}-{names.index(name)}"
                d.mkdir()
                os.sync()
                results[name].append(tools[name](d))
        report(f"pull of {ref} (one 50 MB gzip layer; fresh store each round)", results, "podman pull")
    finally:
        reg.stop()
        for d in work.glob("round*"):
            cleanup(d)
        shutil.rmtree(work, ignore_errors=True)


def runroot(d: Path) -> str:
    """podman refuses a runroot longer than 50 characters: keep it short, under /run."""
    return f"/run/pbbench-{d.parent.name[-8:]}-{d.name}"


def cleanup(d: Path) -> None:
    """podman leaves overlay mounts in its store: unmount before deleting."""
    import subprocess

    if (d / "podman").exists():
        subprocess.run(["podman", "--root", str(d / "podman"), "--runroot", runroot(d),
                        "--storage-driver", "overlay", "system", "reset", "-f"], capture_output=True)
    shutil.rmtree(d, ignore_errors=True)
    shutil.rmtree(runroot(d), ignore_errors=True)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONDONTWRITEBYTECODE", "1")
    main()
