"""Registry auth as Docker Hub does it: anonymous Bearer tokens, login/logout, Basic auth,
and blob redirects to a CDN that must not see our credentials."""
import json
import os
import stat

import pytest

import ociimage
from conftest import requires_root
from helpers.proxies import Cdn
from helpers.registry import RegistryProcess, skopeo_push
from helpers.tokenserver import PASSWORD, USER, TokenServer

pytestmark = requires_root


@pytest.fixture(scope="module")
def token_registry(tmp_path_factory, busybox_rootfs):
    """A registry behind a token service, with blob GETs redirected to a CDN."""
    work = tmp_path_factory.mktemp("token-registry")
    tokens = TokenServer(work / "token.crt")
    cdn = Cdn(work / "registry" / "data")
    extra = {**tokens.registry_auth_config(),
             "middleware": {"storage": [{"name": "redirect", "options": {"baseurl": f"http://{cdn.host}/"}}]}}
    reg = RegistryProcess(work / "registry", extra)
    layout = ociimage.Layout(work / "layout")
    desc = layout.image([ociimage.tar_dir(busybox_rootfs), ociimage.tar_entries([("second", "file", "2")])])
    layout.tag(desc, "latest")
    creds = f"{USER}:{PASSWORD}"
    skopeo_push(work / "layout", "latest", f"{reg.host}/library/busybox:latest", work / "home", creds=creds)
    skopeo_push(work / "layout", "latest", f"{reg.host}/private/secret:latest", work / "home", creds=creds)
    yield reg, tokens, cdn
    reg.stop()
    cdn.stop()
    tokens.stop()


def test_anonymous_token_flow_reuses_one_token(pb, token_registry):
    reg, tokens, cdn = token_registry
    tokens.requests.clear()
    cdn.requests.clear()
    pb("pull", f"{reg.host}/library/busybox")
    # manifest, config and two layers share one scope: one token serves them all
    assert len(tokens.requests) == 1
    assert tokens.requests[0]["scope"] == ["repository:library/busybox:pull"]
    assert not tokens.requests[0]["authed"]
    # blobs came from the CDN after a redirect, and it never saw the Authorization header
    assert len(cdn.requests) >= 2
    assert all(r["authorization"] is None for r in cdn.requests)


def test_private_repository_needs_login(pb, token_registry):
    reg, tokens, _ = token_registry
    ref = f"{reg.host}/private/secret"
    r = pb("pull", ref, expect=1)
    assert "pull access denied" in r.stderr or "unauthorized" in r.stderr
    r = pb("login", "-u", USER, "--password-stdin", reg.host, input="wrong\n", expect=1)
    assert "unauthorized" in r.stderr or "refused" in r.stderr
    assert not (pb.root / "auth.json").exists()
    r = pb("login", "-u", USER, "--password-stdin", reg.host, input=PASSWORD + "\n")
    assert r.stdout.strip() == "Login Succeeded"
    auth_file = pb.root / "auth.json"
    assert stat.S_IMODE(auth_file.stat().st_mode) == 0o600
    assert reg.host in json.loads(auth_file.read_text())["auths"]
    tokens.requests.clear()
    pb("pull", ref)
    assert tokens.requests and all(r["authed"] for r in tokens.requests)
    assert pb("logout", reg.host).stdout.strip() == f"Removing login credentials for {reg.host}"
    assert pb("logout", reg.host).stdout.strip() == f"Not logged in to {reg.host}"
    pb("rmi", ref)
    pb("pull", ref, expect=1)


@pytest.fixture(scope="module")
def basic_registry(tmp_path_factory, busybox_rootfs):
    import warnings

    work = tmp_path_factory.mktemp("basic-registry")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import crypt  # deprecated in 3.11 but present; the registry's htpasswd wants bcrypt

        line = f"{USER}:{crypt.crypt(PASSWORD, crypt.mksalt(crypt.METHOD_BLOWFISH))}\n"
    (work / "htpasswd").write_text(line)
    reg = RegistryProcess(work / "registry", {"auth": {"htpasswd": {"realm": "pocketbox-test",
                                                                    "path": str(work / "htpasswd")}}})
    layout = ociimage.Layout(work / "layout")
    layout.tag(layout.image([ociimage.tar_dir(busybox_rootfs)]), "latest")
    skopeo_push(work / "layout", "latest", f"{reg.host}/team/tool:latest", work / "home", creds=f"{USER}:{PASSWORD}")
    yield reg
    reg.stop()


def test_basic_auth_registry(pb, basic_registry):
    ref = f"{basic_registry.host}/team/tool"
    r = pb("pull", ref, expect=1)
    assert "pocketbox login" in r.stderr
    pb("login", "-u", USER, "-p", PASSWORD, basic_registry.host)
    pb("pull", ref)
    assert os.stat(pb.root).st_mode & 0o077 == 0


def test_tokens_are_reused_until_they_expire(tmp_path):
    """A token living 11 s is good for 1 s here (10 s of skew are kept back), then fetched anew."""
    import time

    from pocketbox.registry.auth import TokenCache

    server = TokenServer(tmp_path / "token.crt", expires_in=11)
    try:
        cache = TokenCache()
        params = {"realm": server.realm, "service": "pocketbox-test-registry"}
        first = cache.fetch(params, "repository:library/x:pull")
        assert cache.fetch(params, "repository:library/x:pull") == first
        assert len(server.requests) == 1
        time.sleep(1.2)
        assert cache.fetch(params, "repository:library/x:pull") != first
        assert len(server.requests) == 2
        cache.fetch(params, "repository:library/other:pull")  # another scope, another token
        assert len(server.requests) == 3
    finally:
        server.stop()


def test_docker_login_and_pull_through_the_engine_api(pb, token_registry, tmp_path):
    """`docker login` asks the daemon to check the credentials and keeps them itself; each pull
    then sends them (X-Registry-Auth). pocketbox stores none of them."""
    import shutil
    import subprocess
    import time

    from conftest import pocketbox_argv

    if not shutil.which("docker"):
        pytest.skip("the docker CLI is missing")
    reg, _, _ = token_registry
    sock = tmp_path / "pb.sock"
    service = subprocess.Popen(pocketbox_argv() + ["serve", "--socket", str(sock)], stderr=subprocess.DEVNULL,
                               env={**os.environ, "POCKETBOX_ROOT": str(pb.root)})
    try:
        while not sock.exists():
            assert service.poll() is None
            time.sleep(0.05)
        env = {**os.environ, "DOCKER_HOST": f"unix://{sock}", "DOCKER_CONFIG": str(tmp_path / "client")}

        def docker(*args, input=None):
            return subprocess.run(["docker", *args], env=env, input=input, capture_output=True, text=True,
                                  timeout=120)
        assert docker("pull", f"{reg.host}/private/secret").returncode == 1
        bad = docker("login", "-u", USER, "--password-stdin", reg.host, input="wrong\n")
        assert bad.returncode == 1 and "unauthorized" in bad.stderr.lower()
        good = docker("login", "-u", USER, "--password-stdin", reg.host, input=PASSWORD + "\n")
        assert good.returncode == 0 and "Login Succeeded" in good.stdout
        assert not (pb.root / "auth.json").exists()  # the client keeps them, not the daemon
        pulled = docker("pull", f"{reg.host}/private/secret")
        assert pulled.returncode == 0, pulled.stderr
        assert pb("images", "-q", f"{reg.host}/private/secret").stdout.strip()
    finally:
        service.terminate()
        service.wait(10)
