"""Is a process we started still the one alive under its PID? (records keep PID and start time)
And what a forked child keeps of its parent's fds."""
import os


def _stat_fields(pid: int) -> list[str] | None:
    """/proc/PID/stat after the command name: [state, ppid, ...]; None if there is no such process."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def process_start_time(pid: int) -> str | None:
    """Field 22 of /proc/PID/stat: tells a live process from a later one that reused its PID."""
    fields = _stat_fields(pid)
    return fields[19] if fields and len(fields) > 19 else None


def process_alive(pid: int, start_time: str | None) -> bool:
    """The process runs, and is the one we started (not a later one with the same PID). A zombie
    is dead: its parent (the supervisor) may be gone too, and some hosts' PID 1 never reaps."""
    fields = _stat_fields(pid) if pid else None
    if not fields or len(fields) < 20 or fields[0] in ("Z", "X"):
        return False
    return start_time is None or fields[19] == start_time


def close_fds_except(keep) -> None:
    """In a forked child: close every fd above 2 but those in `keep`. A fork of a threaded process
    (the API server) inherits whatever other threads had open, such as the write end of another
    client's stdin pipe, which would then never see its end of file."""
    keep = sorted({fd for fd in keep if fd is not None and fd > 2})
    for low, high in zip([2] + keep, keep + [1 << 16]):
        os.closerange(low + 1, high)


def fork_call(work) -> tuple[int, int]:
    """Fork a child that runs work() and exits; returns its pid and a pipe on which, if work
    raised, the child wrote {"error": message, "missing": a FileNotFoundError?} (see fork_result)."""
    import json

    err_r, err_w = os.pipe2(os.O_CLOEXEC)
    pid = os.fork()
    if pid == 0:
        code = 0
        try:
            os.close(err_r)
            work()
        except BaseException as e:  # the message goes back; the parent raises it
            message = f"{e.strerror}: {e.filename}" if isinstance(e, OSError) and e.strerror and e.filename \
                else getattr(e, "strerror", None) or str(e) or type(e).__name__
            os.write(err_w, json.dumps({"error": message, "missing": isinstance(e, FileNotFoundError)}).encode())
            code = 1
        finally:
            os._exit(code)
    os.close(err_w)
    return pid, err_r


def fork_result(pid: int, err_r: int) -> dict | None:
    """Wait for a fork_call child: what it raised, or None."""
    import json

    data = b""
    while chunk := os.read(err_r, 65536):
        data += chunk
    os.close(err_r)
    os.waitpid(pid, 0)
    return json.loads(data) if data else None
