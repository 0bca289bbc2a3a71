"""The Docker CLI against two Engine API services, side by side: `pocketbox serve` and
`podman system service` (its Docker-compatible API), each on a unix socket of its own, over
stores holding the same busybox image. Timed: `docker run -d --rm --network none busybox true`
(create, wait, start: the attached form fails against podman 4's service with the current CLI,
"unable to upgrade to tcp, received 409"), `docker exec idle true`, `docker ps -a`, and, for
pocketbox alone, the attached `docker run --rm`; and each service's memory while idle. Prints medians and ratios. Runs in a
network namespace of its own.

Usage: sudo /opt/pocketbox/venv/bin/python benchmarks/engine_api.py [--runs N]"""
import argparse
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from common import PODMAN_LIMITS, BusyboxEverywhere, bench_dir, interleaved, pocketbox_argv, report, rss_kb, timed


def wait_for(path: str, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the service exited {proc.returncode}")
        try:
            s = socket.socket(socket.AF_UNIX)
            s.connect(path)
            s.close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"no service on {path}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--runs", type=int, default=15)
    args = ap.parse_args()
    if not shutil.which("docker"):
        raise SystemExit("the docker CLI is needed (Debian: docker.io, the client is enough)")
    env = BusyboxEverywhere(Path(tempfile.mkdtemp(prefix="api-", dir=bench_dir())))
    sockets = Path(tempfile.mkdtemp(prefix="pbapi-"))
    services, clients = [], {}
    try:
        pb_sock, podman_sock = str(sockets / "pocketbox.sock"), str(sockets / "podman.sock")
        pb = subprocess.Popen(pocketbox_argv() + ["serve", "--socket", pb_sock], env={**os.environ, **env.pb_env},
                              stderr=subprocess.DEVNULL)
        services.append(pb)
        podman = subprocess.Popen(env.podman + ["system", "service", "--time", "0", f"unix://{podman_sock}"],
                                  env={**os.environ, **env.podman_env}, stderr=subprocess.DEVNULL)
        services.append(podman)
        wait_for(pb_sock, pb)
        wait_for(podman_sock, podman)
        clients = {name: {"DOCKER_HOST": f"unix://{path}", "DOCKER_CONFIG": str(sockets / f"{name}-config"),
                          "DOCKER_CLI_HINTS": "false"} for name, path in (("pocketbox", pb_sock), ("podman", podman_sock))}
        # (the limits podman's runc needs here: see common.PODMAN_LIMITS; the same for both)
        detached = ["docker", "run", "-d", "--rm", "--network", "none", *PODMAN_LIMITS, env.ref, "true"]
        attached = ["docker", "run", "--rm", "--network", "none", *PODMAN_LIMITS, env.ref, "true"]
        tools = {
            "docker run -d --rm via pocketbox serve": lambda: timed(detached, env=clients["pocketbox"]),
            "docker run -d --rm via podman system service": lambda: timed(detached, env=clients["podman"]),
            "docker run --rm (attached) via pocketbox serve": lambda: timed(attached, env=clients["pocketbox"]),
        }
        report(f"docker run busybox true ({args.runs} runs each, interleaved)",
               interleaved(tools, args.runs, str(env.work)), "docker run -d --rm via podman system service")
        for name, client in clients.items():
            subprocess.run(["docker", "run", "-d", "--name", "idle", "--network", "none", *PODMAN_LIMITS, env.ref,
                            "sleep", "3600"], env={**os.environ, **client}, check=True, stdout=subprocess.DEVNULL)
        exec_ = ["docker", "exec", "idle", "true"]
        tools = {"docker exec via pocketbox serve": lambda: timed(exec_, env=clients["pocketbox"]),
                 "docker exec via podman system service": lambda: timed(exec_, env=clients["podman"])}
        report(f"docker exec idle true ({args.runs} runs each, interleaved)",
               interleaved(tools, args.runs, str(env.work)), "docker exec via podman system service")
        ps = ["docker", "ps", "-a"]
        tools = {"docker ps -a via pocketbox serve": lambda: timed(ps, env=clients["pocketbox"]),
                 "docker ps -a via podman system service": lambda: timed(ps, env=clients["podman"])}
        report(f"docker ps -a ({args.runs} runs each, interleaved)", interleaved(tools, args.runs, str(env.work)),
               "docker ps -a via podman system service")
        print("\nidle service memory (RSS, after the runs above)")
        for name, proc in (("pocketbox serve", pb), ("podman system service", podman)):
            rss, _ = rss_kb(proc.pid)
            print(f"  {name.ljust(22)}  {rss / 1024:6.1f} MB")
    finally:
        for client in clients.values():  # the idle containers go before their services
            subprocess.run(["docker", "rm", "-f", "idle"], env={**os.environ, **client}, capture_output=True)
        for proc in services:
            proc.terminate()
            proc.wait(10)
        shutil.rmtree(sockets, ignore_errors=True)
        env.close()


if __name__ == "__main__":
    main()
