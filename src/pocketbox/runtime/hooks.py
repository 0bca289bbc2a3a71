"""OCI hooks: programs a bundle names, run at fixed points of the container's life with the
container's state (JSON) on their stdin.

    prestart, createRuntime   by the runtime, after the namespaces exist, before pivot_root
    createContainer           in the container's namespaces, before pivot_root
    startContainer            in the container, after `start`, just before the command's execve
    poststart                 by the runtime, once the command runs
    poststop                  by the runtime, when the container is deleted

A hook that fails or outlives its `timeout` (seconds) fails the step it belongs to; a failing
poststop hook is only reported (the container is gone either way), as in runc."""
import json
import os
import subprocess


class HookError(Exception):
    pass


def run_hooks(kind: str, hooks: list[dict], state: dict) -> None:
    """Run each hook of `kind` in order; HookError on the first that fails."""
    data = json.dumps(state).encode()
    for hook in hooks:
        path = hook["path"]
        args = hook.get("args") or [path]
        try:
            proc = subprocess.Popen(args, executable=path, env=dict(e.split("=", 1) for e in hook.get("env") or []
                                                                   if "=" in e),
                                    stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                    close_fds=True)
        except OSError as e:
            raise HookError(f"{kind} hook {path}: {e.strerror}") from None
        try:
            out, err = proc.communicate(data, timeout=hook.get("timeout"))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise HookError(f"{kind} hook {path} ran longer than its timeout of {hook['timeout']} s") from None
        except BrokenPipeError:  # a hook that does not read its stdin is fine
            out, err = proc.stdout.read(), proc.stderr.read()
            proc.wait()
        if proc.returncode != 0:
            said = (err or out).decode(errors="replace").strip()
            raise HookError(f"{kind} hook {path} exited with status {proc.returncode}" + (f": {said}" if said else ""))


def hook_state(container_id: str, status: str, pid: int, bundle: str, annotations: dict | None) -> dict:
    """The runtime-spec's state object, as hooks receive it."""
    return {"ociVersion": "1.0.2", "id": container_id, "status": status, "pid": pid,
            "bundle": os.path.abspath(bundle), "annotations": annotations or {}}
