"""Real Docker as the oracle: Debian's `docker.io` dockerd, started by the tests with a data root,
exec root and socket of its own, in the suite's own network namespace (its bridge, addresses and
iptables rules live and die there), under a cgroup parent of its own; never a system service."""
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

CGROUP_PARENT = "pbtest-docker"
BRIDGE_ADDRESS = "192.168.231.1/24"  # inside the suite's network namespace only


class Dockerd:
    def __init__(self, work: Path):
        self.work = work
        work.mkdir(parents=True, exist_ok=True)
        self.sock = work / "docker.sock"
        self.host = f"unix://{self.sock}"
        self.log = open(work / "dockerd.log", "wb")
        argv = ["dockerd", "--data-root", str(work / "data"), "--exec-root", str(work / "exec"),
                "--pidfile", str(work / "dockerd.pid"), "-H", self.host, "--bip", BRIDGE_ADDRESS,
                "--cgroup-parent", f"/{CGROUP_PARENT}", "--log-level", "warn"]  # (Docker's default userland proxy: its IPv6 side)
        self.proc = subprocess.Popen(argv, stdout=self.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     start_new_session=True)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"dockerd exited {self.proc.returncode}: {(work / 'dockerd.log').read_text()[-2000:]}")
            if self.sock.exists() and self.docker("version", check=False).returncode == 0:
                return
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"dockerd did not answer: {(work / 'dockerd.log').read_text()[-2000:]}")

    def env(self) -> dict:
        # (DOCKER_BUILDKIT=0: `docker build` is the classic builder, the one pocketbox's follows)
        return {**os.environ, "DOCKER_HOST": self.host, "DOCKER_CONFIG": str(self.work / "client"),
                "DOCKER_BUILDKIT": "0"}

    def docker(self, *args, input=None, check=True, timeout=120) -> subprocess.CompletedProcess:
        return subprocess.run(["docker", *map(str, args)], input=input, capture_output=True, text=True,
                              env=self.env(), timeout=timeout, check=check)

    def stop(self) -> None:
        if self.proc.poll() is None:
            ids = self.docker("ps", "-aq", check=False).stdout.split()
            if ids:
                self.docker("rm", "-f", *ids, check=False)
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.log.close()
        subprocess.run(["umount", "-R", "-l", str(self.work / "exec")], capture_output=True)
        subprocess.run(["umount", "-R", "-l", str(self.work / "data")], capture_output=True)
        for base in Path("/sys/fs/cgroup").iterdir():
            d = base / CGROUP_PARENT
            if d.is_dir():
                for child in sorted(d.rglob("*"), reverse=True):
                    if child.is_dir():
                        try:
                            child.rmdir()
                        except OSError:
                            pass
                try:
                    d.rmdir()
                except OSError:
                    pass
        shutil.rmtree(self.work / "data", ignore_errors=True)


def available() -> bool:
    return shutil.which("dockerd") is not None and shutil.which("docker") is not None
