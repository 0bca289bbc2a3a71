"""POST /build: `docker build` (the classic builder's API) on pocketbox's builder.

The context arrives as a tar in the body; the build runs in a child process (a RUN step is a
foreground container, whose wait needs the signal handlers only a main thread may set) that
writes its output to a pipe, which goes to the client as Docker's JSON stream ({"stream": ...},
then {"aux": {"ID": ...}}, or {"errorDetail": ...})."""
import codecs
import json
import os

from pocketbox.api.server import BadRequest, route


def _options(h):
    from pocketbox import reference
    from pocketbox.build.builder import BuildOptions

    def json_arg(name):
        text = h.arg(name)
        try:
            value = json.loads(text) if text else {}
        except ValueError:
            raise BadRequest(f"invalid {name}: {text}") from None
        if not isinstance(value, dict):
            raise BadRequest(f"invalid {name}: {text}")
        return value
    if h.arg("remote"):
        raise BadRequest("pocketbox builds from an uploaded context only (remote contexts are not supported)")
    tags = h.query.get("t", [])
    for t in tags:
        try:
            reference.parse(t)
        except Exception as e:  # noqa: BLE001 (its own message)
            raise BadRequest(f"invalid reference format: {t}: {e}") from None
    network = h.arg("networkmode") or "bridge"
    if network not in ("bridge", "none", "host", "default"):
        raise BadRequest(f"network mode {network!r} not supported by the builder (bridge, none, host)")
    args = {k: v for k, v in json_arg("buildargs").items() if v is not None}
    return BuildOptions(tags=tags, dockerfile=h.arg("dockerfile") or "Dockerfile", build_args=args,
                        target=h.arg("target") or None, no_cache=h.flag("nocache"), pull=h.flag("pull"),
                        labels=json_arg("labels"), network="bridge" if network == "default" else network,
                        quiet=h.flag("q"), platform=h.arg("platform") or None)


@route("POST", "/build")
def build(h):
    from pocketbox.image.store import Store

    options = _options(h)
    store = Store.open()
    context = str(store.staging("build-upload"))
    try:
        with open(context, "wb") as f:
            for data in h.body_chunks():
                f.write(data)
        h.start_stream()
        out_r, out_w = os.pipe2(os.O_CLOEXEC)
        res_r, res_w = os.pipe2(os.O_CLOEXEC)
        pid = os.fork()
        if pid == 0:
            _child(context, options, out_w, res_w)
        os.close(out_w)
        os.close(res_w)
        decoder = codecs.getincrementaldecoder("utf-8")("replace")
        pending = ""
        while data := os.read(out_r, 65536):  # one message a line, as Docker (docker-py reads the ID off one)
            lines = (pending + decoder.decode(data)).split("\n")
            pending = lines.pop()
            for line in lines:
                h.chunk(json.dumps({"stream": line + "\n"}).encode() + b"\r\n")
        if pending:
            h.chunk(json.dumps({"stream": pending}).encode() + b"\r\n")
        os.close(out_r)
        result = b""
        while chunk := os.read(res_r, 65536):
            result += chunk
        os.close(res_r)
        os.waitpid(pid, 0)
        outcome = json.loads(result) if result else {"error": "the build stopped", "code": 1}
        if "error" in outcome:
            message = outcome["error"]
            h.chunk(json.dumps({"errorDetail": {"code": outcome["code"], "message": message},
                                "error": message}).encode() + b"\r\n")
        else:
            h.chunk(json.dumps({"aux": {"ID": outcome["id"]}}).encode() + b"\r\n")
            if options.quiet:
                h.chunk(json.dumps({"stream": outcome["id"] + "\n"}).encode() + b"\r\n")
        h.end_stream()
    finally:
        if os.path.exists(context):
            os.unlink(context)


def _child(context: str, options, out_w: int, res_w: int) -> None:
    """In the forked child: the build, its output on out_w, its outcome as JSON on res_w."""
    code = 0
    try:
        from pocketbox.build.builder import build_image
        from pocketbox.engine import containers
        from pocketbox.processes import close_fds_except

        close_fds_except([out_w, res_w])
        null = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(null, fd)
        containers._HELD.clear()  # (locks the server's other threads held are theirs, not ours)
        output = null if options.quiet else out_w
        try:
            image_id = build_image(containers.Containers(), context, options, output)
            outcome = {"id": image_id}
        except Exception as e:  # noqa: BLE001 (every failure is the client's answer)
            outcome = {"error": str(e), "code": getattr(e, "exit_code", 1) or 1}
        os.close(out_w)
        os.write(res_w, json.dumps(outcome).encode())
    except BaseException:  # noqa: BLE001
        code = 1
    finally:
        os._exit(code)
