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


def report(title: str, results: dict[str, list[float]], baseline: str) -> None:
    """Print each tool's median (and spread) and its ratio to the baseline's median."""
    print(f"\n{title}")
    base = statistics.median(results[baseline])
    width = max(len(k) for k in results)
    for name, times in results.items():
        med = statistics.median(times)
        print(f"  {name.ljust(width)}  median {med * 1000:8.1f} ms   min {min(times) * 1000:8.1f}   "
              f"max {max(times) * 1000:8.1f}   ratio to {baseline}: {med / base:5.2f}x   (n={len(times)})")
