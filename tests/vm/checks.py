"""Run inside the test VM (a pure cgroup v2 guest, pocketbox installed by scripts/install.sh):
one check per cgroup v2 behaviour the issue names, each written to RESULTS/results.json as
{"name": {"ok": bool, "detail": "..."}} for the pytest side to assert one by one.
Standard library only: it runs with the guest's python3."""
import json
import os
import subprocess
import sys
import time

RESULTS = sys.argv[1]
IMAGE = "busybox:latest"
results = {}


def pb(*args, check=True, timeout=300):
    r = subprocess.run(["pocketbox", *args], capture_output=True, text=True, timeout=timeout)
    if check and r.returncode != 0:
        raise RuntimeError(f"pocketbox {' '.join(args)} exited {r.returncode}: {r.stderr.strip()}")
    return r


def inspect(ref):
    return json.loads(pb("inspect", ref).stdout)[0]


def read(path):
    with open(path) as f:
        return f.read().strip()


def check(name):
    def wrap(f):
        try:
            ok, detail = f()
        except Exception as e:  # a check that cannot run has failed
            ok, detail = False, f"{type(e).__name__}: {e}"
        results[name] = {"ok": bool(ok), "detail": str(detail)}
        print(f"CHECK {name}: {'PASS' if ok else 'FAIL'} {detail}", flush=True)
        return f
    return wrap


pb("load", "-i", os.path.join(RESULTS, "busybox.tar"))
RUN = ["run", "--network", "none"]


@check("install_and_info")
def _():
    info = json.loads(pb("info", "--format", "json").stdout)
    return info["CgroupVersion"] == "2" and info["CgroupMode"] == "v2", \
        f"CgroupVersion {info['CgroupVersion']}, mode {info['CgroupMode']}, controllers {info['CgroupControllers']}"


@check("memory_max")
def _():
    pb(*RUN, "-d", "--name", "mem", "--memory", "32m", IMAGE, "sleep", "300")
    d = inspect("mem")["Cgroup"]["Paths"]["unified"]
    value = read(f"{d}/memory.max")
    pb("rm", "-f", "mem")
    return value == str(32 << 20), f"{d}/memory.max = {value}"


@check("memory_swap_max")
def _():
    pb(*RUN, "-d", "--name", "swap", "--memory", "32m", "--memory-swap", "64m", IMAGE, "sleep", "300")
    d = inspect("swap")["Cgroup"]["Paths"]["unified"]
    value = read(f"{d}/memory.swap.max")
    pb("rm", "-f", "swap")
    return value == str(32 << 20), f"memory.swap.max = {value} (64m - 32m)"


@check("oom_killed")
def _():
    r = pb(*RUN, "--name", "hog", "--memory", "32m", "--memory-swap", "32m", IMAGE, "sh", "-c",
           "tail /dev/zero", check=False)
    state = inspect("hog")["State"]
    pb("rm", "hog")
    return r.returncode == 137 and state["OOMKilled"] is True, f"exit {r.returncode}, OOMKilled={state['OOMKilled']}"


@check("cpu_max")
def _():
    pb(*RUN, "-d", "--name", "cpu", "--cpus", "0.5", IMAGE, "sleep", "300")
    d = inspect("cpu")["Cgroup"]["Paths"]["unified"]
    value = read(f"{d}/cpu.max")
    pb("rm", "-f", "cpu")
    return value == "50000 100000", f"cpu.max = {value}"


@check("pids_limit_stops_fork_bomb")
def _():
    # the bomb runs in a subshell (a shell whose fork fails gives up); PID 1 then execs, no fork needed
    pb(*RUN, "-d", "--name", "bomb", "--pids-limit", "10", IMAGE, "sh", "-c",
       "(i=0; while [ $i -lt 40 ]; do sleep 300 & i=$((i+1)); done) 2>/dev/null; exec sleep 300")
    time.sleep(3)
    d = inspect("bomb")["Cgroup"]["Paths"]["unified"]
    current, limit = int(read(f"{d}/pids.current")), read(f"{d}/pids.max")
    events = read(f"{d}/pids.events")
    pb("rm", "-f", "bomb")
    return current <= 10 and limit == "10" and "max 0" not in events, f"pids.current={current} pids.max={limit} {events}"


@check("pause_freezes")
def _():
    pb(*RUN, "-d", "--name", "frz", IMAGE, "sleep", "300")
    d = inspect("frz")["Cgroup"]["Paths"]["unified"]
    pb("pause", "frz")
    frozen, status = read(f"{d}/cgroup.freeze"), inspect("frz")["State"]["Status"]
    events = read(f"{d}/cgroup.events")
    pb("unpause", "frz")
    thawed = read(f"{d}/cgroup.freeze")
    pb("rm", "-f", "frz")
    return frozen == "1" and status == "paused" and "frozen 1" in events and thawed == "0", \
        f"freeze={frozen} status={status} thawed={thawed}"


@check("stop_and_rm_leave_nothing")
def _():
    pb(*RUN, "-d", "--name", "gone", IMAGE, "sh", "-c", "trap '' TERM; sleep 300 & sleep 300")
    rec = inspect("gone")
    d, pid = rec["Cgroup"]["Paths"]["unified"], rec["State"]["Pid"]
    procs = read(f"{d}/cgroup.procs").split()
    pb("stop", "-t", "1", "gone")
    after_stop = os.path.exists(d)
    alive = [p for p in procs if os.path.exists(f"/proc/{p}")]
    pb(*RUN, "-d", "--name", "gone2", IMAGE, "sleep", "300")
    d2 = inspect("gone2")["Cgroup"]["Paths"]["unified"]
    pb("rm", "-f", "gone", "gone2")
    return len(procs) >= 2 and not alive and not after_stop and not os.path.exists(d2), \
        f"{len(procs)} processes, alive after stop: {alive}, cgroup left after stop: {after_stop}, pid 1 was {pid}"


@check("own_cgroup_namespace")
def _():
    out = pb(*RUN, "--rm", IMAGE, "sh", "-c", "cat /proc/self/cgroup; ls /sys/fs/cgroup | grep -c memory.max").stdout
    lines = out.split()
    return lines[0] == "0::/" and lines[1] == "1", out.strip()


@check("device_filter_v2")
def _():
    r = pb(*RUN, "--rm", IMAGE, "sh", "-c", "mknod /tmp/disk b 7 0 && head -c1 /tmp/disk; echo rc=$?", check=False)
    return "rc=1" in r.stdout and "Operation not permitted" in r.stderr, (r.stdout + r.stderr).strip()


@check("stats_update_cpuset_v2")
def _():
    pb(*RUN, "-d", "--name", "st", "--memory", "32m", "--cpuset-cpus", "0", "--memory-reservation", "16m", IMAGE,
       "sleep", "300")
    d = inspect("st")["Cgroup"]["Paths"]["unified"]
    stats = json.loads(pb("stats", "--no-stream", "--format", "{{json .}}", "st").stdout)
    cpus, low = read(f"{d}/cpuset.cpus"), read(f"{d}/memory.low")
    pb("update", "--memory", "48m", "--memory-swap", "96m", "--pids-limit", "7", "st")
    memory, pids = read(f"{d}/memory.max"), read(f"{d}/pids.max")
    pb("rm", "-f", "st")
    ok = (stats["MemUsage"].endswith("/ 32MiB") and stats["PIDs"] == "1" and cpus == "0" and low == str(16 << 20)
          and memory == str(48 << 20) and pids == "7")
    return ok, f"stats {stats}, cpuset.cpus={cpus} memory.low={low} after update: memory.max={memory} pids.max={pids}"


@check("engine_api_v2")
def _():
    import socket

    sock = "/run/pocketbox-check.sock"
    server = subprocess.Popen(["pocketbox", "serve", "--socket", sock], stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while not os.path.exists(sock) and time.monotonic() < deadline:
            time.sleep(0.1)
        pb(*RUN, "-d", "--name", "api", IMAGE, "sleep", "300")

        def get(path):
            s = socket.socket(socket.AF_UNIX)
            s.connect(sock)
            s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
            data = b""
            while chunk := s.recv(65536):
                data += chunk
            s.close()
            return data.decode(errors="replace")
        listing = get("/v1.41/containers/json")
        stats = get("/containers/api/stats?stream=0")
        pb("rm", "-f", "api")
        return '"Names": ["/api"]' in listing and '"memory_stats"' in stats, listing[:300]
    finally:
        server.terminate()
        server.wait(10)


with open(os.path.join(RESULTS, "results.json"), "w") as f:
    json.dump(results, f, indent=1)
print("checks:", sum(r["ok"] for r in results.values()), "of", len(results), "passed")
