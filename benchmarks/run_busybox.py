"""`run --rm busybox true`, side by side: pocketbox and podman (runtime runc), both with
--network none (a new, empty network namespace), and runc on a prepared bundle (which has one
too). Prints medians and ratios. Runs in a network namespace of its own. pocketbox runs twice:
with its default seccomp profile (as podman does) and without (issue 8: what the filter costs).

Target (issue 3): pocketbox at most 0.4x podman's wall time.
Usage: sudo /opt/pocketbox/venv/bin/python benchmarks/run_busybox.py [--runs N]"""
import argparse
import tempfile
from pathlib import Path

from common import PODMAN_LIMITS, BusyboxEverywhere, bench_dir, pocketbox_argv, interleaved, report, timed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--runs", type=int, default=20)
    args = ap.parse_args()
    env = BusyboxEverywhere(Path(tempfile.mkdtemp(prefix="run-", dir=bench_dir())))
    try:
        tools = {
            "pocketbox run --rm": lambda: timed(pocketbox_argv() + ["run", "--rm", "--network", "none", env.ref, "true"],
                                                env=env.pb_env),
            "pocketbox run --rm, seccomp=unconfined": lambda: timed(pocketbox_argv() + [
                "run", "--rm", "--network", "none", "--security-opt", "seccomp=unconfined", env.ref, "true"],
                env=env.pb_env),
            "podman run --rm (runc)": lambda: timed(env.podman + ["run", "--rm", "--runtime", "runc", "--network",
                                                                  "none", *PODMAN_LIMITS, env.ref, "true"],
                                                    env=env.podman_env),
            "runc run (bundle)": lambda: timed(["runc", "--root", f"{env.runroot}-runc", "run", "--bundle",
                                                str(env.bundle), f"pbbench-{env.work.name[-8:]}"]),
        }
        results = interleaved(tools, args.runs, str(env.work))
        report(f"run --rm busybox true ({args.runs} runs each, interleaved)", results, "podman run --rm (runc)")
    finally:
        env.close()


if __name__ == "__main__":
    main()
