"""`pocketbox build`: real builds from real Dockerfiles, run afterwards by pocketbox, and the same
Dockerfile built by buildah for comparison (config fields and root filesystems, file by file)."""
import io
import json
import os
import shutil
import stat
import subprocess
import tarfile

import pytest

from conftest import requires_root

pytestmark = requires_root


def write(root, files: dict) -> None:
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content) if isinstance(content, str) else path.write_bytes(content)


SINGLE = """\
ARG BASE
FROM $BASE
ARG WHO=world
ENV GREETING="hello $WHO" HOME_DIR=/app
WORKDIR $HOME_DIR
COPY hello.txt ./
COPY conf /app/conf/
RUN echo "$GREETING" > greet.txt && adduser -D -u 1000 student 2>/dev/null || echo 'student:x:1000:1000::/home:/bin/sh' >> /etc/passwd
COPY --chown=1000:1000 --chmod=640 hello.txt /app/owned.txt
USER student
EXPOSE 8080 53/udp
VOLUME /data
LABEL course=containers "two words"="a b"
STOPSIGNAL SIGINT
HEALTHCHECK --interval=5s --retries=2 CMD true
CMD ["cat", "/app/greet.txt"]
"""


def test_single_stage_build_runs_as_docker_would(pb, busybox, tmp_path):
    ctx = tmp_path / "ctx"
    write(ctx, {"Dockerfile": SINGLE, "hello.txt": "hi\n", "conf/a.conf": "a\n", "conf/secret.key": "no\n",
                "conf/keep.key": "yes\n", ".dockerignore": "**/*.key\n!conf/keep.key\n"})
    r = pb("build", "-t", "course/app:1", "--network", "none", "--build-arg", f"BASE={busybox}",
           "--build-arg", "WHO=students", ctx)
    assert "Step 1/16 : ARG BASE" in r.stdout and "Step 16/16 : CMD" in r.stdout
    assert " ---> Running in " in r.stdout and "Removing intermediate container" in r.stdout
    image_id = r.stdout.split("Successfully built ")[1].split()[0]
    assert "Successfully tagged course/app:1" in r.stdout
    assert pb("run", "--rm", "--network", "none", "course/app:1").stdout == "hello students\n"
    seen = pb("run", "--rm", "--network", "none", "course/app:1", "sh", "-c",
              "id -u; pwd; ls /app/conf; stat -c '%u:%g %a' /app/owned.txt /app/hello.txt").stdout.split("\n")
    assert seen[:5] == ["1000", "/app", "a.conf", "keep.key", "1000:1000 640"] and seen[5] == "0:0 644"
    config = json.loads(pb("image", "inspect", "-f", "{{json .Config}}", "course/app:1").stdout)
    assert config["Env"][-2:] == ["GREETING=hello students", "HOME_DIR=/app"]
    assert (config["WorkingDir"], config["User"], config["StopSignal"]) == ("/app", "student", "SIGINT")
    assert config["ExposedPorts"] == {"8080/tcp": {}, "53/udp": {}} and config["Volumes"] == {"/data": {}}
    assert config["Labels"] == {"course": "containers", "two words": "a b"}
    assert config["Healthcheck"] == {"Test": ["CMD-SHELL", "true"], "Interval": 5_000_000_000, "Retries": 2}
    history = pb("history", "--no-trunc", "--format", "{{.CreatedBy}}", "course/app:1").stdout.splitlines()
    assert history[0] == '/bin/sh -c #(nop)  CMD ["cat" "/app/greet.txt"]'
    assert "/bin/sh -c #(nop)  ARG WHO=world" in history
    assert any(h.startswith('|1 WHO=students /bin/sh -c echo "$GREETING"') for h in history)
    assert any(h.startswith("/bin/sh -c #(nop) COPY file:") and h.endswith(" in /app/ ") for h in history)
    # the build steps are intermediate images: hidden from `images`, listed by `images -a`
    assert len(pb("images", "-q").stdout.split()) == 2
    assert len(pb("images", "-a", "-q").stdout.split()) > 10
    assert image_id == pb("images", "-q", "course/app:1").stdout.strip()
    # removing the image removes its untagged steps too (the base stays)
    pb("rmi", "course/app:1")
    assert pb("images", "-a", "-q").stdout.split() == pb("images", "-q").stdout.split()


def test_cache_hits_misses_and_no_cache(pb, busybox, tmp_path):
    ctx = tmp_path / "ctx"
    write(ctx, {"Dockerfile": f"FROM {busybox}\nCOPY a.txt /a.txt\nRUN cat /a.txt > /copy\nCOPY b.txt /b.txt\n"
                              "RUN wc -c /b.txt\n", "a.txt": "A\n", "b.txt": "B\n"})
    explained = pb("--explain", "build", "-t", "cached", "--network", "none", ctx)
    first = explained.stdout
    assert "Using cache" not in first
    assert "RUN: container " in explained.stderr and "one more layer, sha256:" in explained.stderr
    layers = sorted(os.listdir(pb.root / "layers"))
    explained = pb("--explain", "build", "-t", "cached", "--network", "none", ctx)
    again = explained.stdout
    assert again.count(" ---> Using cache") == 4 and "Running in" not in again
    assert explained.stderr.count("cache hit: image ") == 4
    assert again.split("Successfully built ")[1] == first.split("Successfully built ")[1]
    assert sorted(os.listdir(pb.root / "layers")) == layers  # no layer written
    os.utime(ctx / "a.txt", (1, 1))  # a touched file is the same file
    assert pb("build", "--network", "none", ctx).stdout.count("Using cache") == 4
    (ctx / "b.txt").write_text("B changed\n")
    changed = pb("build", "-t", "cached", "--network", "none", ctx).stdout
    assert changed.count(" ---> Using cache") == 2 and changed.count("Running in") == 1
    assert pb("run", "--rm", "--network", "none", "cached", "cat", "/b.txt").stdout == "B changed\n"
    assert "Using cache" not in pb("build", "--no-cache", "--network", "none", ctx).stdout


def test_multi_stage_target_onbuild_add_and_globs(pb, busybox, tmp_path):
    ctx = tmp_path / "ctx"
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w:gz") as t:
        data = b"inside the archive\n"
        info = tarfile.TarInfo("pkg/readme")
        info.size, info.uid, info.mode = len(data), 7, 0o640
        t.addfile(info, io.BytesIO(data))
    write(ctx, {"Dockerfile": f"""\
FROM {busybox} AS builder
RUN mkdir /out && echo built > /out/result && echo two > /out/other
ONBUILD RUN echo triggered > /trigger

FROM builder AS child
RUN cat /trigger

FROM {busybox}
COPY --from=builder /out/res* /final/
COPY --from=0 /out /final2
ADD pkg.tgz /unpacked/
COPY src/*.txt /globbed/
""", "pkg.tgz": archive.getvalue(), "src/a.txt": "a", "src/b.md": "b"})
    out = pb("build", "-t", "multi", "--network", "none", ctx).stdout
    assert "# Executing 1 build trigger" in out
    listing = pb("run", "--rm", "--network", "none", "multi", "sh", "-c",
                 "ls /final /final2 /globbed; stat -c '%u %a' /unpacked/pkg/readme; ls /trigger 2>&1",
                 expect=1).stdout
    assert [w for w in listing.split("\n") if w and not w.endswith(":")][:5] == ["result", "other", "result",
                                                                                "a.txt", "7 640"]
    assert "No such file" in listing  # triggers run in the stage built FROM the image, not in the base's
    assert pb("images", "-q", "multi").stdout.strip()
    pb("build", "-t", "only-child", "--target", "child", "--network", "none", ctx)
    assert pb("run", "--rm", "--network", "none", "only-child", "cat", "/trigger").stdout == "triggered\n"
    r = pb("build", "--target", "nosuch", ctx, expect=1)
    assert "failed to reach build target nosuch in Dockerfile" in r.stderr


def test_errors_leave_nothing_behind(pb, busybox, tmp_path):
    ctx = tmp_path / "ctx"
    write(ctx, {"Dockerfile": f"FROM {busybox}\nCMD [\"true\"]\n"})
    pb("build", "-t", "keep", ctx)
    kept = pb("images", "-q", "keep").stdout
    (ctx / "Dockerfile").write_text(f"FROM {busybox}\nRUN echo before; exit 3\n")
    r = pb("build", "-t", "keep", "--network", "none", ctx, expect=3)
    assert "before" in r.stdout
    assert "The command '/bin/sh -c echo before; exit 3' returned a non-zero code: 3" in r.stderr
    assert pb("ps", "-a", "-q").stdout == ""  # the RUN container was removed
    assert pb("images", "-q", "keep").stdout == kept  # the tag did not move
    for dockerfile, message in (
            ("COPY missing.txt /x", "COPY failed: file not found in build context or excluded by .dockerignore: "
                                    "stat missing.txt: file does not exist"),
            ("COPY ../outside /x", "COPY failed: forbidden path outside the build context: ../outside ()"),
            ("COPY *.nothing /x/", "COPY failed: no source files were specified"),
            ("FOO bar", "Dockerfile parse error line 2: unknown instruction: FOO"),
            ("COPY Dockerfile Dockerfile /x", "When using COPY with more than one source file, the destination "
                                              "must be a directory and end with a /"),
            ("ADD http://127.0.0.1:9/file /x", "ADD failed: failed to download http://127.0.0.1:9/file")):
        (ctx / "Dockerfile").write_text(f"FROM {busybox}\n{dockerfile}\n")
        r = pb("build", "-t", "keep", "--network", "none", ctx, expect=1)
        assert message in r.stderr, (dockerfile, r.stderr)
        assert "Traceback" not in r.stderr
    assert os.listdir(pb.root / "tmp") == []
    assert pb("build", "/no/such/dir", expect=1).stderr.strip() == \
        'pocketbox: unable to prepare context: path "/no/such/dir" not found'


def test_contexts_from_stdin_and_tar(pb, busybox, tmp_path):
    r = pb("build", "-q", "--network", "none", "-", input=f"FROM {busybox}\nRUN echo alone > /alone\n")
    image = r.stdout.strip()
    assert image.startswith("sha256:") and len(image) == 71
    assert pb("run", "--rm", "--network", "none", image, "cat", "/alone").stdout == "alone\n"
    tar = tmp_path / "ctx.tar"
    with tarfile.open(tar, "w") as t:
        for name, data in (("build/Dockerfile.dev", f"FROM {busybox}\nCOPY data.txt /\n".encode()),
                           ("data.txt", b"from the tar\n")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
    with open(tar, "rb") as f:
        r = subprocess.run(["pocketbox", "build", "-t", "fromtar", "-f", "build/Dockerfile.dev", "-"], stdin=f,
                           capture_output=True, text=True, env={**os.environ, "POCKETBOX_ROOT": str(pb.root)})
    assert r.returncode == 0, r.stderr
    assert pb("run", "--rm", "--network", "none", "fromtar", "cat", "/data.txt").stdout == "from the tar\n"
    pb("build", "-t", "fromtarfile", "-f", "build/Dockerfile.dev", tar)
    assert pb("run", "--rm", "--network", "none", "fromtarfile", "cat", "/data.txt").stdout == "from the tar\n"


def test_run_steps_join_the_bridge_network_by_default(pb, busybox, tmp_path):
    """(In the suite's own network namespace.) A RUN has an eth0 on pocketbox's bridge, as `run`;
    --network none gives it only a loopback."""
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text(f"FROM {busybox}\nRUN ip -o -4 addr show | grep -v ' lo ' | wc -l > /links\n")
    pb("build", "-t", "bridged", ctx)
    assert pb("run", "--rm", "--network", "none", "bridged", "cat", "/links").stdout == "1\n"
    pb("build", "--no-cache", "--network", "none", "-t", "isolated", ctx)
    assert pb("run", "--rm", "--network", "none", "isolated", "cat", "/links").stdout == "0\n"


def test_large_context(pb, busybox, tmp_path):
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    with open(ctx / "big.bin", "wb") as f:
        for i in range(100):
            f.write(os.urandom(1 << 20))
    (ctx / "Dockerfile").write_text(f"FROM {busybox}\nCOPY big.bin /big.bin\n")
    pb("build", "-t", "big", ctx, timeout=300)
    assert pb("run", "--rm", "--network", "none", "big", "stat", "-c", "%s", "/big.bin").stdout == f"{100 << 20}\n"


# --- the same Dockerfile built by buildah -------------------------------------------------------
COMPARED = """\
ARG BASE
FROM $BASE
ENV APP=/srv/app LANG=C.UTF-8
WORKDIR $APP
COPY tree/ ./tree/
COPY single.txt /etc/single.txt
RUN mkdir -p /var/made && echo made > /var/made/file && ln -s /var/made/file /var/made/link && chmod 700 /var/made \\
 && rm -rf /tmp/x && rm /etc/single.txt
USER 1000:1000
EXPOSE 80/tcp 9000/udp
VOLUME ["/data"]
LABEL org.example.course=containers
STOPSIGNAL SIGTERM
ENTRYPOINT ["/bin/sh", "-c"]
CMD ["echo $APP"]
"""


def _tree(root: str) -> dict:
    """path -> (type, mode, uid, gid, size, content or link target), times left out."""
    out = {}
    for dirpath, dirs, files in os.walk(root):
        for name in dirs + files:
            full = os.path.join(dirpath, name)
            rel = os.path.relpath(full, root)
            if rel.split("/")[0] in ("proc", "sys", "dev", "run") or rel in ("etc/hosts", "etc/hostname",
                                                                              "etc/resolv.conf"):
                continue
            st = os.lstat(full)
            kind = stat.S_IFMT(st.st_mode)
            data = os.readlink(full) if stat.S_ISLNK(st.st_mode) else \
                open(full, "rb").read() if stat.S_ISREG(st.st_mode) else None
            out[rel] = (kind, stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid,
                        st.st_size if stat.S_ISREG(st.st_mode) else 0, data)
    return out


@pytest.mark.skipif(not shutil.which("buildah"), reason="buildah is missing")
def test_same_image_as_buildah(pb, busybox, tmp_path):
    ctx = tmp_path / "ctx"
    write(ctx, {"Dockerfile": COMPARED, "single.txt": "one\n", "tree/a/b.txt": "b\n", "tree/c.txt": "c\n"})
    os.chmod(ctx / "tree/c.txt", 0o755)
    pb("build", "-t", "compared", "--network", "none", "--build-arg", f"BASE={busybox}", ctx)
    store = [f"--root={tmp_path / 'buildah'}", f"--runroot={tmp_path / 'buildah-run'}", "--storage-driver=vfs"]
    env = {**os.environ, "BUILDAH_ISOLATION": "chroot", "REGISTRY_AUTH_FILE": str(tmp_path / "auth.json"),
           "CONTAINERS_REGISTRIES_CONF": str(tmp_path / "registries.conf")}
    host = busybox.split("/")[0]
    (tmp_path / "registries.conf").write_text(f'[[registry]]\nlocation = "{host}"\ninsecure = true\n')
    (tmp_path / "auth.json").write_text("{}")

    def buildah(*args, **kw):
        r = subprocess.run(["buildah", *store, *args], capture_output=True, text=True, env=env, timeout=300, **kw)
        assert r.returncode == 0, (args, r.stderr)
        return r.stdout
    mount = None
    try:
        buildah("bud", "--network", "none", "--layers", "--format", "docker", "--build-arg", f"BASE={busybox}",
                "-t", "compared", str(ctx))
        theirs = json.loads(buildah("inspect", "--type", "image", "compared"))["Docker"]["config"]
        ours = json.loads(pb("image", "inspect", "-f", "{{json .Config}}", "compared").stdout)
        for key in ("Env", "Cmd", "Entrypoint", "WorkingDir", "User", "ExposedPorts", "Volumes", "Labels",
                    "StopSignal"):
            mine, other = ours.get(key), theirs.get(key)
            if key == "Env":  # (buildah's inspect leaves out the base image's PATH: compare what the file set)
                mine, other = [[e for e in v or [] if not e.startswith("PATH=")] for v in (mine, other)]
            if key == "Labels":  # (buildah signs its images with its version)
                other = {k: v for k, v in other.items() if k != "io.buildah.version"}
            assert mine == other, (key, mine, other)
        container = buildah("from", "compared").strip()
        mount = buildah("mount", container).strip()
        theirs_tree = _tree(mount)
        export = subprocess.run(["pocketbox", "create", "--network", "none", "compared"], capture_output=True,
                                text=True, env={**os.environ, "POCKETBOX_ROOT": str(pb.root)})
        cid = export.stdout.strip()
        rootfs = tmp_path / "ours"
        rootfs.mkdir()
        tar = pb.popen("export", cid, stdout=subprocess.PIPE)
        subprocess.run(["tar", "-x", "-C", str(rootfs), "--numeric-owner", "-p"], stdin=tar.stdout, check=True)
        tar.wait()
        ours_tree = _tree(str(rootfs))
        differing = sorted(k for k in set(ours_tree) | set(theirs_tree) if ours_tree.get(k) != theirs_tree.get(k))
        assert differing == [], [(k, ours_tree.get(k), theirs_tree.get(k)) for k in differing[:5]]
    finally:
        if mount:
            subprocess.run(["buildah", *store, "umount", "--all"], env=env, capture_output=True)
        subprocess.run(["buildah", *store, "rm", "--all"], env=env, capture_output=True)
        subprocess.run(["buildah", *store, "rmi", "--all", "--force"], env=env, capture_output=True)
        subprocess.run(["umount", "-R", str(tmp_path / "buildah")], capture_output=True)
        shutil.rmtree(tmp_path / "buildah", ignore_errors=True)


def test_a_build_killed_with_9_is_recovered(pb, busybox, tmp_path):
    """kill -9 of `build` in the middle of a RUN: its container is an ordinary one the next
    commands see and remove, and the next build removes what the killed one staged."""
    import signal
    import time as clock

    ctx = tmp_path / "ctx"
    write(ctx, {"Dockerfile": f"FROM {busybox}\nCOPY f /f\nRUN touch /started; sleep 30\n", "f": "x" * 100000})
    build = pb.popen("build", "--network", "none", ctx, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    for line in build.stdout:
        if "Running in" in line:
            break
    clock.sleep(0.5)
    os.kill(build.pid, signal.SIGKILL)
    build.wait()
    for leftover in pb("ps", "-a", "-q").stdout.split():
        pb("rm", "-f", leftover)
    (pb.root / "tmp" / f"build-step.{2 ** 22 + 1}.dead").mkdir()  # as a killed build leaves its staging dir
    (ctx / "Dockerfile").write_text(f"FROM {busybox}\nCOPY f /f\nRUN echo done > /done\n")
    assert "Using cache" in pb("build", "-t", "after", "--network", "none", ctx).stdout  # its COPY step stayed
    assert os.listdir(pb.root / "tmp") == []
    assert pb("run", "--rm", "--network", "none", "after", "cat", "/done").stdout == "done\n"
