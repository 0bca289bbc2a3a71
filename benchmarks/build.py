"""`build` of the same 6-step Dockerfile (FROM busybox, COPY a 20 MB tree, RUN that writes files,
ENV, WORKDIR, CMD), side by side: pocketbox and buildah bud (isolation chroot, --layers so that
it caches as the classic builder does), both with --network none. Cold builds (--no-cache) and
unchanged rebuilds (every step from the cache), interleaved. Prints medians and ratios.

Targets: cold build at most 0.5x buildah; unchanged rebuild at most 0.3x buildah.
Usage: sudo /opt/pocketbox/venv/bin/python benchmarks/build.py [--runs N]"""
import argparse
import os
import tempfile
from pathlib import Path

from common import BusyboxEverywhere, bench_dir, interleaved, pocketbox_argv, report, timed

DOCKERFILE = """\
FROM {ref}
COPY tree /tree
RUN mkdir /made && for i in $(seq 1 200); do echo "file $i" > /made/f$i; done
ENV APP=bench
WORKDIR /tree
CMD ["sh"]
"""


def make_context(ctx: Path, ref: str) -> None:
    """20 MB in 400 files of 50 kB, in 20 directories."""
    for d in range(20):
        sub = ctx / "tree" / f"d{d:02}"
        sub.mkdir(parents=True)
        for f in range(20):
            (sub / f"f{f:02}.bin").write_bytes(os.urandom(50 * 1024))
    (ctx / "Dockerfile").write_text(DOCKERFILE.format(ref=ref))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--runs", type=int, default=10)
    args = ap.parse_args()
    env = BusyboxEverywhere(Path(tempfile.mkdtemp(prefix="build-", dir=bench_dir())))
    buildah = ["buildah", "--root", str(env.work / "buildah"), "--runroot", f"{env.runroot}-buildah"]
    buildah_env = {"BUILDAH_ISOLATION": "chroot", "HOME": str(env.work / "home")}
    try:
        ctx = env.work / "ctx"
        make_context(ctx, env.ref)
        timed(buildah + ["pull", "-q", "--tls-verify=false", env.ref], env=buildah_env)
        pb = pocketbox_argv() + ["build", "-q", "--network", "none", "-t", "bench"]
        bud = buildah + ["bud", "-q", "--layers", "--network", "none", "--tls-verify=false", "-t", "bench"]
        cold = {
            "pocketbox build --no-cache": lambda: timed(pb + ["--no-cache", str(ctx)], env=env.pb_env),
            "buildah bud --no-cache": lambda: timed(bud + ["--no-cache", str(ctx)], env=buildah_env),
        }
        report(f"cold build ({args.runs} runs each, interleaved)", interleaved(cold, args.runs, str(env.work)),
               "buildah bud --no-cache")
        cached = {
            "pocketbox build (cached)": lambda: timed(pb + [str(ctx)], env=env.pb_env),
            "buildah bud (cached)": lambda: timed(bud + [str(ctx)], env=buildah_env),
        }
        report(f"unchanged rebuild ({args.runs} runs each, interleaved)",
               interleaved(cached, args.runs, str(env.work)), "buildah bud (cached)")
    finally:
        import shutil
        import subprocess

        subprocess.run(buildah + ["rm", "--all"], capture_output=True, env={**os.environ, **buildah_env})
        subprocess.run(buildah + ["rmi", "--all", "--force"], capture_output=True, env={**os.environ, **buildah_env})
        subprocess.run(["umount", "-R", str(env.work / "buildah")], capture_output=True)
        shutil.rmtree(f"{env.runroot}-buildah", ignore_errors=True)
        env.close()


if __name__ == "__main__":
    main()
