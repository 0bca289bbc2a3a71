"""`pocketbox ui` under load: first paint and a full container list with 100 containers in
headless Chromium, and the CPU the page's server uses while 10 containers' logs are followed.
No peer: there is no target yet, the README records the figures. Runs in a network namespace
of its own.

Usage: sudo /opt/pocketbox/venv/bin/python benchmarks/ui.py [--containers 100] [--followed 10]"""
import argparse
import http.client
import os
import re
import shutil
import statistics
import subprocess
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

from common import BusyboxEverywhere, bench_dir, pocketbox_argv


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--containers", type=int, default=100)
    ap.add_argument("--followed", type=int, default=10)
    ap.add_argument("--loads", type=int, default=5)
    args = ap.parse_args()
    env = BusyboxEverywhere(Path(tempfile.mkdtemp(prefix="ui-", dir=bench_dir())))
    pb = pocketbox_argv()
    run_env = {**os.environ, **env.pb_env}
    server = None
    try:
        for n in range(args.containers):
            subprocess.run(pb + ["create", "--name", f"c{n}", "--network", "none", env.ref, "true"], env=run_env,
                           check=True, capture_output=True)
        server = subprocess.Popen(pb + ["ui", "--listen", "127.0.0.1:0"], env=run_env, stdout=subprocess.PIPE,
                                  text=True)
        url = re.search(r"http://\S+", server.stdout.readline()).group(0)
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service

        options = webdriver.ChromeOptions()
        options.binary_location = shutil.which("chromium")
        for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                     "--disable-component-update", "--no-first-run", f"--user-data-dir={env.work / 'chromium'}"):
            options.add_argument(flag)
        driver = webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=options)
        paints, full = [], []
        for _ in range(args.loads):
            start = time.perf_counter()
            driver.get(url)
            while driver.execute_script("return document.querySelectorAll('#containers tbody tr').length") \
                    < args.containers:
                time.sleep(0.005)
            full.append((time.perf_counter() - start) * 1000)
            paints.append(driver.execute_script(
                "return performance.getEntriesByName('first-contentful-paint')[0].startTime"))
        driver.quit()
        print(f"page with {args.containers} containers ({args.loads} loads)")
        print(f"  first contentful paint   median {statistics.median(paints):7.1f} ms")
        print(f"  all {args.containers} rows listed      median {statistics.median(full):7.1f} ms")

        for n in range(args.followed):
            subprocess.run(pb + ["run", "-d", "--name", f"f{n}", "--network", "none", env.ref, "sh", "-c",
                                 "while true; do echo tick; sleep 0.1; done"], env=run_env, check=True,
                           capture_output=True)
        base, token = url.split("?token=")
        stop = threading.Event()

        def follow(name: str) -> None:
            request = urllib.request.Request(f"{base}engine/containers/{name}/logs?follow=1&stdout=1&tail=0",
                                             headers={"Cookie": f"pocketbox_ui={token}"})
            try:
                with urllib.request.urlopen(request) as r:
                    while not stop.is_set() and r.read1(65536):
                        pass
            except (OSError, http.client.HTTPException):  # the server stopped at the end
                pass
        followers = [threading.Thread(target=follow, args=(f"f{n}",), daemon=True) for n in range(args.followed)]
        for t in followers:
            t.start()
        time.sleep(1)
        before, t0 = cpu_seconds(server.pid), time.monotonic()
        time.sleep(10)
        used = (cpu_seconds(server.pid) - before) / (time.monotonic() - t0)
        stop.set()
        print(f"{args.followed} containers' logs followed (10 lines/s each) for 10 s")
        print(f"  server CPU               {100 * used:7.1f} % of one core")
    finally:
        if server is not None:
            server.terminate()
            server.wait()
        subprocess.run(pb + ["rm", "-f", *[f"f{n}" for n in range(args.followed)]], env=run_env, capture_output=True)
        subprocess.run(pb + ["container", "prune", "-f"], env=run_env, capture_output=True)
        env.close()


if __name__ == "__main__":
    main()
