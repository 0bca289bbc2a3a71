"""A token service that signs ES256 JWTs the way Docker Hub's auth.docker.io does, for
a docker-registry configured with `auth: token:`. Anonymous users may pull public
repositories; `tester:secret` may pull and push everything; repositories under
`private/` need the credentials."""
import base64
import datetime
import json
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import NameOID

USER, PASSWORD = "tester", "secret"
ISSUER, SERVICE = "pocketbox-test-issuer", "pocketbox-test-registry"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class TokenServer:
    def __init__(self, cert_path, expires_in: int = 300):
        self.key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "pocketbox-test-token")])
        now = datetime.datetime.now(datetime.timezone.utc)
        self.cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
                     .public_key(self.key.public_key()).serial_number(x509.random_serial_number())
                     .not_valid_before(now - datetime.timedelta(days=1))
                     .not_valid_after(now + datetime.timedelta(days=30))
                     .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                     .sign(self.key, hashes.SHA256()))
        cert_path.write_bytes(self.cert.public_bytes(serialization.Encoding.PEM))
        self.cert_path = cert_path
        self.expires_in = expires_in
        self.requests: list[dict] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_GET(self):
                q = parse_qs(urlsplit(self.path).query)
                authed = self.headers.get("Authorization") == "Basic " + base64.b64encode(
                    f"{USER}:{PASSWORD}".encode()).decode()
                bad_creds = self.headers.get("Authorization") and not authed
                server.requests.append({"scope": q.get("scope", []), "authed": authed})
                if bad_creds:
                    self.send_response(401)
                    self.end_headers()
                    return
                body = json.dumps({"token": server.sign(q.get("scope", []), authed),
                                   "expires_in": server.expires_in,
                                   "issued_at": datetime.datetime.now(datetime.timezone.utc).isoformat()}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.realm = f"http://127.0.0.1:{self.port}/token"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def registry_auth_config(self) -> dict:
        return {"auth": {"token": {"realm": self.realm, "service": SERVICE, "issuer": ISSUER,
                                   "rootcertbundle": str(self.cert_path)}}}

    def sign(self, scopes: list[str], authed: bool) -> str:
        access = []
        for scope in scopes:
            kind, name, actions = scope.split(":")
            if name.startswith("private/") and not authed:
                continue
            allowed = [a for a in actions.split(",") if authed or a == "pull" or not name.startswith("private/")]
            access.append({"type": kind, "name": name, "actions": allowed})
        now = int(time.time())
        header = {"typ": "JWT", "alg": "ES256",
                  "x5c": [base64.b64encode(self.cert.public_bytes(serialization.Encoding.DER)).decode()]}
        claims = {"iss": ISSUER, "sub": USER if authed else "", "aud": SERVICE, "exp": now + self.expires_in,
                  "nbf": now - 10, "iat": now, "jti": uuid.uuid4().hex, "access": access}
        signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
        der = self.key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256()))
        r, s = decode_dss_signature(der)
        return f"{signing_input}.{_b64(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"

    def stop(self) -> None:
        self.httpd.shutdown()
