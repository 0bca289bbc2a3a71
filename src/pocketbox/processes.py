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
