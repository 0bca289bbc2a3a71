"""`exec CONTAINER true` latency, pocketbox vs podman exec, and the resident memory of one idle
detached container's supervisor (pocketbox's shim vs podman's conmon), in one run.

Targets (issue 4): exec at most 0.5x podman's time; supervisor RSS at most 2x conmon's.
Usage: sudo /opt/pocketbox/venv/bin/python benchmarks/exec_and_supervisor.py [--runs N]"""
import argparse
import json
import os
import subprocess
import tempfile
from pathlib import Path

from common import PODMAN_LIMITS, BusyboxEverywhere, bench_dir, pocketbox_argv, interleaved, report, rss_kb, timed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--runs", type=int, default=20)
    args = ap.parse_args()
    env = BusyboxEverywhere(Path(tempfile.mkdtemp(prefix="exec-", dir=bench_dir())))
    try:
        pb = pocketbox_argv()
        penv = {**os.environ, **env.pb_env}
        subprocess.run(pb + ["run", "-d", "--name", "idle", "--network", "none", env.ref, "sleep", "1000"], check=True, env=penv,
                       stdout=subprocess.DEVNULL)
        podman_env = {**os.environ, **env.podman_env}
        subprocess.run(env.podman + ["run", "-d", "--name", "idle", "--runtime", "runc", "--network", "none",
                                     *PODMAN_LIMITS, env.ref, "sleep", "1000"], check=True, env=podman_env,
                       stdout=subprocess.DEVNULL)
        tools = {
            "pocketbox exec": lambda: timed(pb + ["exec", "idle", "true"], env=env.pb_env),
            "podman exec (runc)": lambda: timed(env.podman + ["exec", "idle", "true"], env=env.podman_env),
        }
        results = interleaved(tools, args.runs, str(env.work))
        report(f"exec idle true ({args.runs} runs each, interleaved)", results, "podman exec (runc)")

        shim = json.loads(subprocess.run(pb + ["inspect", "idle"], env=penv, capture_output=True,
                                         check=True).stdout)[0]["State"]["ShimPid"]
        conmon = int(subprocess.run(env.podman + ["inspect", "--format", "{{.State.ConmonPid}}", "idle"],
                                    env=podman_env, capture_output=True, check=True, text=True).stdout)
        (s_rss, s_anon), (c_rss, c_anon) = rss_kb(shim), rss_kb(conmon)
        print("\nsupervisor of one idle detached container (kB)")
        print(f"  pocketbox shim  RSS {s_rss:7d}   private (RssAnon) {s_anon:7d}   ratio to conmon: {s_rss / c_rss:5.2f}x")
        print(f"  podman conmon   RSS {c_rss:7d}   private (RssAnon) {c_anon:7d}   ratio to conmon:  1.00x")
        subprocess.run(pb + ["rm", "-f", "idle"], env=penv, stdout=subprocess.DEVNULL)
    finally:
        env.close()


if __name__ == "__main__":
    main()
