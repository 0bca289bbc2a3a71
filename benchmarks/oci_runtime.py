"""pocketbox-runc against runc, side by side: `run` of one prepared busybox bundle (`true`), and
podman driving each of them (`podman --runtime X run --rm`), interleaved. Prints medians and
ratios. Runs in a network namespace of its own (both bundles and podman use --network none).

Target: pocketbox-runc at most 1.0x runc in both.
Usage: sudo /opt/pocketbox/venv/bin/python benchmarks/oci_runtime.py [--runs N]"""
import argparse
import tempfile
from pathlib import Path

from common import PODMAN_LIMITS, BusyboxEverywhere, bench_dir, interleaved, report, timed

POCKETBOX_RUNC = "/usr/local/bin/pocketbox-runc"  # the launcher scripts/install.sh writes (python -IS)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--runs", type=int, default=20)
    args = ap.parse_args()
    env = BusyboxEverywhere(Path(tempfile.mkdtemp(prefix="oci-", dir=bench_dir())))
    name = f"pbbench-{env.work.name[-8:]}"
    try:
        bundle_runs = {
            "runc run": lambda: timed(["runc", "--root", f"{env.runroot}-runc", "run", "--bundle", str(env.bundle),
                                       name]),
            "pocketbox-runc run": lambda: timed([POCKETBOX_RUNC, "--root", f"{env.runroot}-pbrunc", "run", "--bundle",
                                                 str(env.bundle), name]),
        }
        results = interleaved(bundle_runs, args.runs, str(env.work))
        report(f"run of a busybox bundle ({args.runs} runs each, interleaved)", results, "runc run")
        podman = [*env.podman, "run", "--rm", "--network", "none", *PODMAN_LIMITS]
        podman_runs = {
            "podman --runtime runc": lambda: timed([*podman[:1], "--runtime", "runc", *podman[1:], env.ref, "true"],
                                                   env=env.podman_env),
            "podman --runtime pocketbox-runc": lambda: timed([*podman[:1], "--runtime", POCKETBOX_RUNC, *podman[1:],
                                                              env.ref, "true"], env=env.podman_env),
        }
        results = interleaved(podman_runs, args.runs, str(env.work))
        report(f"podman run --rm busybox true ({args.runs} runs each, interleaved)", results, "podman --runtime runc")
    finally:
        import shutil

        shutil.rmtree(f"{env.runroot}-pbrunc", ignore_errors=True)
        env.close()


if __name__ == "__main__":
    main()
