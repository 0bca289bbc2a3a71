"""Traffic through a published port (-p), pocketbox vs podman (netavark), in one run: a loop of
short HTTP requests (a new TCP connection each: connection set-up dominates) and one large
transfer (throughput), both to 127.0.0.1:HOSTPORT of a busybox httpd in a container; then the
cost of a whole `run --rm -p` on the bridge network (namespace, veth, address, NAT rules).

Runs in a network namespace of its own (common.py), as every networking act here must.
Usage: sudo /opt/pocketbox/venv/bin/python benchmarks/published_port.py [--requests N] [--mb M]"""
import argparse
import http.client
import os
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from common import PODMAN_LIMITS, BusyboxEverywhere, bench_dir, interleaved, pocketbox_argv, report, timed

SERVER = "mkdir -p /www && echo ok > /www/small && dd if=/dev/zero of=/www/big bs=1M count={mb} 2>/dev/null && " \
         "exec httpd -f -p 80 -h /www"


def get(port: int, path: str) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        size = 0
        while chunk := resp.read(1 << 20):
            size += len(chunk)
        return size
    finally:
        conn.close()


def wait_ready(port: int) -> None:
    deadline = time.monotonic() + 30
    while True:
        try:
            get(port, "/small")
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--requests", type=int, default=300)
    ap.add_argument("--mb", type=int, default=256)
    ap.add_argument("--transfers", type=int, default=5)
    ap.add_argument("--starts", type=int, default=10)
    args = ap.parse_args()
    env = BusyboxEverywhere(Path(tempfile.mkdtemp(prefix="port-", dir=bench_dir())))
    pb = pocketbox_argv()
    penv = {**os.environ, **env.pb_env}
    podman_env = {**os.environ, **env.podman_env}
    script = SERVER.format(mb=args.mb)
    try:
        subprocess.run(pb + ["run", "-d", "--name", "web", "-p", "18080:80", env.ref, "sh", "-c", script],
                       check=True, env=penv, stdout=subprocess.DEVNULL)
        subprocess.run(env.podman + ["run", "-d", "--name", "web", "--runtime", "runc", "-p", "18081:80",
                                     *PODMAN_LIMITS, env.ref, "sh", "-c", script], check=True, env=podman_env,
                       stdout=subprocess.DEVNULL)
        ports = {"pocketbox -p (nftables DNAT)": 18080, "podman -p (netavark)": 18081}
        for port in ports.values():
            wait_ready(port)
            get(port, "/big")  # the file exists and the caches are warm
        latency = {name: [] for name in ports}
        for _ in range(args.requests):
            for name, port in ports.items():
                t = time.perf_counter()
                get(port, "/small")
                latency[name].append(time.perf_counter() - t)
        report(f"short HTTP request, new connection each ({args.requests} each, interleaved)", latency,
               "podman -p (netavark)")
        seconds = {name: [] for name in ports}
        for _ in range(args.transfers):
            for name, port in ports.items():
                t = time.perf_counter()
                size = get(port, "/big")
                seconds[name].append(time.perf_counter() - t)
                assert size == args.mb << 20, size
        report(f"one {args.mb} MB transfer ({args.transfers} each, interleaved)", seconds, "podman -p (netavark)")
        for name, times in seconds.items():
            print(f"  {name}: {args.mb / statistics.median(times):8.0f} MB/s")
        starts = {
            "pocketbox run --rm -p": lambda: timed(pb + ["run", "--rm", "-p", "18090:80", env.ref, "true"],
                                                   env=env.pb_env),
            "podman run --rm -p (runc)": lambda: timed(env.podman + ["run", "--rm", "--runtime", "runc", "-p",
                                                                     "18091:80", *PODMAN_LIMITS, env.ref, "true"],
                                                       env=env.podman_env),
        }
        durations = interleaved(starts, args.starts, str(env.work))
        report(f"run --rm with the bridge network and one published port ({args.starts} each, interleaved)",
               durations, "podman run --rm -p (runc)")
    finally:
        subprocess.run(pb + ["rm", "-f", "web"], env=penv, stdout=subprocess.DEVNULL)
        env.close()


if __name__ == "__main__":
    main()
