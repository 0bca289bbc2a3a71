"""Debian's docker-registry (the CNCF distribution registry) on 127.0.0.1, for tests and benchmarks."""
import json
import socket
import subprocess
import time
import urllib.request
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RegistryProcess:
    """`docker-registry serve CONFIG` with its own storage dir; config extras merge into the YAML."""

    def __init__(self, workdir: Path, extra: dict | None = None):
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.host = f"127.0.0.1:{self.port}"
        self.storage = self.workdir / "data"
        config = {
            "version": 0.1,
            "log": {"level": "error", "accesslog": {"disabled": True}},
            "storage": {"filesystem": {"rootdirectory": str(self.storage)}, "delete": {"enabled": True}},
            "http": {"addr": self.host, "secret": "pocketbox-tests"},
            **(extra or {}),
        }
        self.config_path = self.workdir / "config.yml"
        self.config_path.write_text(json.dumps(config))  # YAML is a superset of JSON
        self.log = open(self.workdir / "registry.log", "wb")
        self.proc = subprocess.Popen(["docker-registry", "serve", str(self.config_path)],
                                     stdout=self.log, stderr=subprocess.STDOUT)
        self._wait()

    def _wait(self) -> None:
        deadline = time.time() + 20
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"docker-registry exited: {(self.workdir / 'registry.log').read_text()}")
            try:
                urllib.request.urlopen(f"http://{self.host}/v2/", timeout=1)
                return
            except urllib.error.HTTPError:
                return  # 401 from an auth-enabled registry: it is up
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("docker-registry did not start")

    def blob_data_path(self, digest: str) -> Path:
        hexd = digest.split(":", 1)[1]
        return self.storage / "docker/registry/v2/blobs/sha256" / hexd[:2] / hexd / "data"

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


def skopeo_push(layout: Path, tag: str, dest: str, home: Path, extra_args=(), all_images: bool = False,
                creds: str | None = None) -> None:
    """Push `oci:layout:tag` to `docker://dest` over plain HTTP."""
    cmd = ["skopeo", "copy", "-q", "--dest-tls-verify=false", *extra_args]
    if all_images:
        cmd.append("--all")
    if creds:
        cmd += ["--dest-creds", creds]
    cmd += [f"oci:{layout}:{tag}", f"docker://{dest}"]
    subprocess.run(cmd, check=True, env={"HOME": str(home), "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"},
                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def raw_push(layout: Path, desc: dict, host: str, repo: str, tag: str) -> None:
    """Push one image of an OCI layout byte for byte (skopeo would recompress an uncompressed
    layer): blobs by monolithic upload (POST, then PUT ?digest=), then the manifest."""
    import urllib.request

    blobs = Path(layout) / "blobs" / "sha256"
    manifest = json.loads((blobs / desc["digest"][7:]).read_bytes())
    for d in [manifest["config"], *manifest["layers"]]:
        r = urllib.request.urlopen(urllib.request.Request(f"http://{host}/v2/{repo}/blobs/uploads/", method="POST"))
        location = r.headers["Location"]
        sep = "&" if "?" in location else "?"
        url = location if location.startswith("http") else f"http://{host}{location}"
        urllib.request.urlopen(urllib.request.Request(f"{url}{sep}digest={d['digest']}",
                                                      data=(blobs / d["digest"][7:]).read_bytes(), method="PUT",
                                                      headers={"Content-Type": "application/octet-stream"}))
    urllib.request.urlopen(urllib.request.Request(f"http://{host}/v2/{repo}/manifests/{tag}",
                                                  data=(blobs / desc["digest"][7:]).read_bytes(), method="PUT",
                                                  headers={"Content-Type": manifest["mediaType"]}))
