"""Health checks: Docker's HEALTHCHECK and --health-* flags, and the process that runs them.

    python -m pocketbox.engine.health CONTAINER_ID

The supervisor starts this watcher next to a container that has a health check. Every Interval
it runs the Test inside the container (as `exec` does), then records the result in the
container's State.Health, as Docker does: "starting" until the first success, "healthy" after
one, "unhealthy" after Retries failures in a row (failures within StartPeriod do not count); the
last five results are kept in Health.Log. It ends as soon as the container's process does (it
waits on a pidfd), so it never outlives what it watches."""
import os
import sys
import time

from pocketbox.engine.options import InvalidOption, parse_duration

NANO = 1_000_000_000
DEFAULTS = {"Interval": 30 * NANO, "Timeout": 30 * NANO, "StartPeriod": 0, "Retries": 3}
MAX_OUTPUT = 4096  # bytes of a probe's output kept in the log (Docker's)
KEPT_RESULTS = 5


def config(o, image_config: dict) -> dict | None:
    """Config.Healthcheck from the flags, completed by the image's (a zero field takes the
    image's value); None when there is none, or it is disabled (Test ["NONE"])."""
    image_check = dict(image_config.get("Healthcheck") or {})
    test = image_check.get("Test")
    if test is not None and (not isinstance(test, list) or not all(isinstance(t, str) for t in test)
                             or (test and test[0] not in ("NONE", "CMD", "CMD-SHELL"))
                             or (test and test[0] == "CMD-SHELL" and len(test) != 2)):
        raise InvalidOption(f"invalid HEALTHCHECK in the image's config: {str(test)[:60]!r}")
    for key in ("Interval", "Timeout", "StartPeriod", "Retries"):
        if not isinstance(image_check.get(key, 0), int) or image_check.get(key, 0) < 0:
            raise InvalidOption(f"invalid HEALTHCHECK {key} in the image's config")
    flags = {"Interval": o.health_interval, "Timeout": o.health_timeout, "StartPeriod": o.health_start_period}
    if o.no_healthcheck:
        if o.health_cmd or any(flags.values()) or o.health_retries:
            raise InvalidOption("--no-healthcheck conflicts with --health-* options")
        return {"Test": ["NONE"]}
    check: dict = {k: v for k, v in (o.healthcheck or {}).items()
                   if k in ("Test", "Interval", "Timeout", "StartPeriod", "Retries") and v}
    if check.get("Test") and check["Test"][0] == "NONE":
        return {"Test": ["NONE"]}
    if o.health_cmd:
        check["Test"] = ["CMD-SHELL", o.health_cmd]
    for key, text in flags.items():
        if text is not None:
            seconds = parse_duration(text, f"--health-{key.lower().replace('startperiod', 'start-period')}")
            if seconds < 0:
                raise InvalidOption(f"--health-{key.lower()} cannot be negative")
            if 0 < seconds < 0.001:
                raise InvalidOption(f"--health-{key.lower()} cannot be less than 1ms")
            check[key] = int(seconds * NANO)
    if o.health_retries is not None:
        if o.health_retries < 0:
            raise InvalidOption("--health-retries cannot be negative")
        check["Retries"] = o.health_retries
    if not check and not image_check:
        return None
    merged = {k: v for k, v in image_check.items() if v}
    merged.update({k: v for k, v in check.items() if v})
    if not merged.get("Test") or merged["Test"][0] == "NONE":
        return {"Test": ["NONE"]} if merged.get("Test") else None
    return merged


def active(check: dict | None) -> bool:
    return bool(check and check.get("Test") and check["Test"][0] in ("CMD", "CMD-SHELL"))


def command_of(test: list[str]) -> list[str]:
    return ["/bin/sh", "-c", test[1]] if test[0] == "CMD-SHELL" else list(test[1:])


def judge(health: dict, result: dict, check: dict, started_at: float, now: float) -> dict:
    """Docker's rule for one probe result: the new State.Health."""
    health = {"Status": health.get("Status", "starting"), "FailingStreak": health.get("FailingStreak", 0),
              "Log": (list(health.get("Log") or []) + [result])[-KEPT_RESULTS:]}
    retries = check.get("Retries") or DEFAULTS["Retries"]
    start_period = (check.get("StartPeriod") or 0) / NANO
    if result["ExitCode"] == 0:
        health.update(Status="healthy", FailingStreak=0)
    elif now >= started_at + start_period:  # within the start period a failure is not counted
        health["FailingStreak"] += 1
        if health["FailingStreak"] >= retries:
            health["Status"] = "unhealthy"
    return health


def _probe(engine, cid: str, command: list[str], timeout: float) -> dict:
    """Run the test once inside the container: its exit code and (the start of) its output."""
    from pocketbox.engine.containers import now
    from pocketbox.engine.lifecycle import exec_process
    from pocketbox.errors import PocketboxError
    from pocketbox.runtime.exec import TIMED_OUT

    start = now()
    out = os.memfd_create("health-output")
    saved = [os.dup(1), os.dup(2)]
    os.dup2(out, 1)
    os.dup2(out, 2)
    try:
        code = exec_process(engine, cid, command, timeout=timeout)
        output = ""
    except PocketboxError as e:
        code, output = e.exit_code, str(e) + "\n"
    finally:
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in saved:
            os.close(fd)
    os.lseek(out, 0, os.SEEK_SET)
    output = os.read(out, MAX_OUTPUT).decode(errors="replace") + output
    os.close(out)
    if code == TIMED_OUT:
        output = f"Health check exceeded timeout ({timeout:g}s)"
    return {"Start": start, "End": now(), "ExitCode": code, "Output": output}


def watch(cid: str) -> int:
    """The loop: probe every Interval while the container's process (the one we were started for) lives."""
    from pocketbox.text.format import parse_time
    from pocketbox.engine.containers import Containers, process_alive

    engine = Containers()
    record = engine.load(cid)
    if record is None or not active(record["Config"].get("Healthcheck")):
        return 0
    check = record["Config"]["Healthcheck"]
    state = record["State"]
    pid, start_time = state.get("Pid", 0), state.get("PidStartTime")
    if not process_alive(pid, start_time):
        return 0
    started = parse_time(state.get("StartedAt", "")) or time.time()
    interval = (check.get("Interval") or DEFAULTS["Interval"]) / NANO
    timeout = (check.get("Timeout") or DEFAULTS["Timeout"]) / NANO
    import select

    pidfd = os.pidfd_open(pid)
    while not select.select([pidfd], [], [], interval)[0]:  # readable: the container's process ended
        current = engine.load(cid)
        if current is None or current["State"].get("Pid") != pid:
            break
        if current["State"]["Status"] == "paused":
            continue
        result = _probe(engine, cid, command_of(check["Test"]), timeout)

        changed = []

        def record_result(r):
            if r["State"].get("Pid") == pid:
                before = (r["State"].get("Health") or {}).get("Status")
                r["State"]["Health"] = judge(r["State"].get("Health") or {}, result, check, started, time.time())
                if r["State"]["Health"]["Status"] != before:
                    changed.append(r)
        engine.update(cid, record_result)
        for r in changed:  # Docker's event when the status changes: "health_status: healthy"
            from pocketbox import events

            events.container(f"health_status: {r['State']['Health']['Status']}", r)
    os.close(pidfd)
    return 0


def spawn(cid: str) -> None:
    """Start the watcher for a container that has just started, in a session of its own and
    orphaned at once (a double fork): nobody of ours has to reap it."""
    pid = os.fork()
    if pid == 0:
        try:
            os.setsid()
            if os.fork() == 0:
                null = os.open("/dev/null", os.O_RDWR)
                for fd in (0, 1, 2):
                    os.dup2(null, fd)
                os.closerange(3, 1 << 16)
                os.execv(sys.executable, [sys.executable, "-m", "pocketbox.engine.health", cid])
        finally:
            os._exit(0)
    os.waitpid(pid, 0)


if __name__ == "__main__":
    sys.exit(watch(sys.argv[1]))
