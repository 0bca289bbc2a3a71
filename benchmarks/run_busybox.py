"""`run --rm busybox true`, side by side: pocketbox, podman (runtime runc, --network none, as our
machine notes require) and runc on a prepared bundle. Prints medians and ratios.

Target (issue 3): pocketbox at most 0.4x podman's wall time.
Usage: sudo /opt/pocketbox/venv/bin/python benchmarks/run_busybox.py [--runs N]"""
import argparse
import json
import shutil
import subprocess
import tempfile
from pathlib import Path

from common import RegistryProcess, bench_dir, pocketbox_argv, report, skopeo_push, timed

import ociimage

PODMAN_LIMITS = ["--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1000:1000"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--runs", type=int, default=20)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="run-", dir=bench_dir()))
    runroot = f"/run/pbbench-{work.name[-8:]}"
    reg = RegistryProcess(work / "registry")
    try:
        rootfs = work / "busybox-rootfs"
        subprocess.run(["sh", str(Path(__file__).parents[1] / "rootfs/busybox/build.sh"), str(rootfs)],
                       check=True, stdout=subprocess.DEVNULL)
        layout = ociimage.Layout(work / "layout")
        layout.tag(layout.image([ociimage.tar_dir(rootfs)]), "latest")
        ref = f"{reg.host}/library/busybox:latest"
        skopeo_push(work / "layout", "latest", ref, work / "home")
        pb_env = {"POCKETBOX_ROOT": str(work / "pocketbox")}
        timed(pocketbox_argv() + ["pull", "-q", ref], env=pb_env)
        podman = ["podman", "--root", str(work / "podman"), "--runroot", runroot, "--cgroup-manager", "cgroupfs",
                  "--storage-driver", "overlay"]
        timed(podman + ["pull", "-q", "--tls-verify=false", ref], env={"HOME": str(work / "home")})
        bundle = work / "bundle"
        bundle.mkdir()
        shutil.copytree(rootfs, bundle / "rootfs", symlinks=True)
        subprocess.run(["runc", "spec"], cwd=bundle, check=True)
        spec = json.loads((bundle / "config.json").read_text())
        spec["process"]["terminal"] = False
        spec["process"]["args"] = ["true"]
        (bundle / "config.json").write_text(json.dumps(spec))

        tools = {
            "pocketbox run --rm": lambda: timed(pocketbox_argv() + ["run", "--rm", ref, "true"], env=pb_env),
            "podman run --rm (runc)": lambda: timed(podman + ["run", "--rm", "--runtime", "runc", "--network", "none",
                                                              *PODMAN_LIMITS, ref, "true"],
                                                    env={"HOME": str(work / "home")}),
            "runc run (bundle)": lambda: timed(["runc", "--root", f"{runroot}-runc", "run", "--bundle", str(bundle),
                                                f"pbbench-{work.name[-8:]}"]),
        }
        for f in tools.values():  # warm up caches once
            f()
        results = {name: [] for name in tools}
        for _ in range(args.runs):
            for name, f in tools.items():
                results[name].append(f())
        report(f"run --rm busybox true ({args.runs} runs each, interleaved)", results, "podman run --rm (runc)")
    finally:
        reg.stop()
        subprocess.run(["podman", "--root", str(work / "podman"), "--runroot", runroot, "--storage-driver", "overlay",
                        "system", "reset", "-f"], capture_output=True)
        shutil.rmtree(runroot, ignore_errors=True)
        shutil.rmtree(f"{runroot}-runc", ignore_errors=True)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
