"""Push an image to a registry with the Registry HTTP API v2 upload flow.

For each blob (layers, then the config): HEAD it (the registry may have it: skip); else try a
cross-repository mount from another repository of the same registry that has it (POST
?mount=&from=: 201 means done without a byte sent); else upload: POST starts a session, small
blobs go in one PUT ?digest=, large ones in PATCH chunks (Content-Range) and a final PUT. Then
the manifest is PUT under the tag with its media type, the exact bytes pocketbox stored."""
import json
from urllib.parse import urljoin

from pocketbox.errors import PocketboxError, RegistryError
from pocketbox.reference import DEFAULT_DOMAIN, Reference
from pocketbox.registry.auth import load_credentials
from pocketbox.registry.client import Registry

CHUNK = 5 << 20


def _error(r, what: str) -> RegistryError:
    try:
        body = json.loads(r.read() or b"{}")
        detail = "; ".join(f"{e.get('code', '')}: {e.get('message', '')}" for e in body.get("errors", []))
    except ValueError:
        detail = ""
    finally:
        r.close()
    if r.status == 401:
        return RegistryError(f"{what}: unauthorized: authentication required (pocketbox login)")
    if r.status == 403:
        return RegistryError(f"{what}: denied: requested access to the resource is denied")
    if r.status == 404:
        return RegistryError(f"{what}: name unknown: the repository does not exist on this registry")
    return RegistryError(f"{what}: the registry answered {r.status}{': ' + detail if detail else ''}")


class Pusher:
    def __init__(self, store, ref: Reference, progress=None, on_event=None,
                 credentials: tuple[str, str] | None = None):
        self.store, self.ref = store, ref
        self.progress = progress or (lambda *a: None)
        self.registry = Registry(ref.domain, on_event=on_event, credentials=credentials)
        self.credentials = credentials
        self.scope = f"repository:{ref.path}:pull,push"

    def push(self, image: dict) -> tuple[str, int]:
        if self.ref.domain == DEFAULT_DOMAIN and not (self.credentials or load_credentials(DEFAULT_DOMAIN)):
            raise PocketboxError("pushing to docker.io needs an account: log in first with `pocketbox login`")
        manifest_bytes = self.store.read_blob(image["ManifestDigest"])
        manifest = json.loads(manifest_bytes)
        for layer in manifest["layers"]:
            self.progress(layer["digest"][7:19], "Preparing")
        for desc in manifest["layers"] + [manifest["config"]]:
            self._blob(desc, image)
        return self._manifest(manifest_bytes, manifest.get("mediaType"))

    def _blob(self, desc: dict, image: dict) -> None:
        digest, short = desc["digest"], desc["digest"][7:19]
        path = f"/v2/{self.ref.path}/blobs/{digest}"
        r = self.registry.request("HEAD", path, scope=self.scope)
        r.read()
        r.close()
        if r.status == 200:
            self.progress(short, "Layer already exists")
            return
        location = None
        source = self._mount_source(digest)
        if source:
            r = self.registry.request("POST", f"/v2/{self.ref.path}/blobs/uploads/?mount={digest}&from={source}",
                                      scope=self.scope, headers={"Content-Length": "0"}, body=b"")
            r.read()
            r.close()
            if r.status == 201:
                self.progress(short, f"Mounted from {source}")
                return
            if r.status == 202:
                location = r.headers.get("location")
        if location is None:
            r = self.registry.request("POST", f"/v2/{self.ref.path}/blobs/uploads/", scope=self.scope,
                                      headers={"Content-Length": "0"}, body=b"")
            if r.status != 202:
                raise _error(r, f"upload of {short}")
            r.read()
            r.close()
            location = r.headers["location"]
        self._upload(location, desc)
        self.progress(short, "Pushed")

    def _abs(self, location: str) -> str:
        return urljoin(f"{self.registry.scheme or 'https'}://{self.registry.host}/", location)

    def _upload(self, location: str, desc: dict) -> None:
        digest, short, size = desc["digest"], desc["digest"][7:19], desc["size"]
        with open(self.store.blob_path(digest), "rb") as f:
            sent = 0
            if size > CHUNK:  # chunked: PATCH with Content-Range, following each new Location
                while sent < size:
                    chunk = f.read(CHUNK)
                    r = self.registry.request("PATCH", self._abs(location), scope=self.scope, body=chunk, headers={
                        "Content-Type": "application/octet-stream", "Content-Length": str(len(chunk)),
                        "Content-Range": f"{sent}-{sent + len(chunk) - 1}"})
                    if r.status != 202:
                        raise _error(r, f"upload of {short}")
                    r.read()
                    r.close()
                    location = r.headers["location"]
                    sent += len(chunk)
                    self.progress(short, "Pushing", sent, size)
                final = b""
            else:
                final = f.read()
            sep = "&" if "?" in location else "?"
            r = self.registry.request("PUT", self._abs(location) + f"{sep}digest={digest}", scope=self.scope,
                                      body=final, headers={"Content-Type": "application/octet-stream",
                                                           "Content-Length": str(len(final))})
            if r.status != 201:
                raise _error(r, f"upload of {short}")
            r.read()
            r.close()

    def _mount_source(self, digest: str) -> str | None:
        """Another repository on this registry that pocketbox knows holds `digest`."""
        from pocketbox.reference import parse

        for image in self.store.all_images():
            if not any(layer["Digest"] == digest for layer in image.get("Layers", [])) and image["Id"] != digest:
                continue
            for name in image.get("RepoTags", []) + image.get("RepoDigests", []):
                ref = parse(name)
                if ref.domain == self.ref.domain and ref.path != self.ref.path:
                    return ref.path
        return None

    def _manifest(self, body: bytes, media_type: str) -> tuple[str, int]:
        tag = self.ref.tag or "latest"
        r = self.registry.request("PUT", f"/v2/{self.ref.path}/manifests/{tag}", scope=self.scope, body=body,
                                  headers={"Content-Type": media_type, "Content-Length": str(len(body))})
        if r.status not in (200, 201):
            err = _error(r, f"manifest ({media_type})")
            raise RegistryError(f"the registry refused the manifest: {err}")
        r.read()
        r.close()
        import hashlib

        return r.headers.get("docker-content-digest") or "sha256:" + hashlib.sha256(body).hexdigest(), len(body)
