"""pocketbox's own seccomp profile against Docker's (tests/data/docker-seccomp-default.json): for the
same capabilities and architecture, the same syscalls are allowed, with the same argument rules
and errors; everything else falls to the same default (EPERM)."""
import json
from pathlib import Path

import pytest

from pocketbox.engine import seccomp_profile as sp
from pocketbox.runtime.capabilities import DOCKER_DEFAULT as DEFAULT_CAPS

DOCKER_PROFILE = Path(__file__).resolve().parents[1] / "data" / "docker-seccomp-default.json"


@pytest.fixture(scope="module")
def docker_profile() -> dict:
    return json.loads(DOCKER_PROFILE.read_text())


def rules(section: dict) -> set:
    """Each (syscall, action, errno, argument rule) the section asks for."""
    out = set()
    for r in section["syscalls"]:
        args = tuple((a["index"], a["value"], a.get("valueTwo", 0), a["op"]) for a in r.get("args") or [])
        for name in r["names"]:
            out.add((name, r["action"], r.get("errnoRet"), args))
    return out


CAP_SETS = {
    "default": list(DEFAULT_CAPS),
    "+SYS_ADMIN": list(DEFAULT_CAPS) + ["CAP_SYS_ADMIN"],
    "+SYS_PTRACE,SYS_TIME": list(DEFAULT_CAPS) + ["CAP_SYS_PTRACE", "CAP_SYS_TIME"],
    "none": [],
}


@pytest.mark.parametrize("caps", CAP_SETS.values(), ids=CAP_SETS.keys())
@pytest.mark.parametrize("arch", ["amd64", "arm64"])
def test_same_rules_as_docker(docker_profile, caps, arch):
    ours = sp.default_profile(caps, arch)
    theirs = sp.from_docker_format(docker_profile, caps, arch)
    assert (ours["defaultAction"], ours["defaultErrnoRet"]) == (theirs["defaultAction"], theirs["defaultErrnoRet"])
    assert ours["architectures"] == theirs["architectures"]
    missing, extra = rules(theirs) - rules(ours), rules(ours) - rules(theirs)
    assert not missing and not extra, (sorted(missing)[:10], sorted(extra)[:10])


def test_dangerous_calls_need_their_capability():
    allowed = {name for name, action, _, args in rules(sp.default_profile(list(DEFAULT_CAPS)))
               if action == "SCMP_ACT_ALLOW" and not args}
    for name in ("mount", "umount2", "unshare", "setns", "sethostname", "bpf", "init_module", "kexec_load",
                 "keyctl", "open_by_handle_at", "pivot_root", "reboot", "userfaultfd", "io_uring_setup",
                 "clone3", "clone", "socket", "personality"):
        assert name not in allowed, name
    assert {"read", "write", "execve", "chdir", "setresuid", "capset", "prctl", "close_range", "ptrace"} <= allowed
    clone3 = [r for r in sp.default_profile(list(DEFAULT_CAPS))["syscalls"] if r["names"] == ["clone3"]]
    assert clone3 == [{"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38}]


def test_docker_format_details():
    profile = {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13},
        {"name": "chmod", "action": "SCMP_ACT_ERRNO"},
        {"names": ["reboot"], "action": "SCMP_ACT_ERRNO", "excludes": {"caps": ["CAP_SYS_BOOT"]}},
        {"names": ["swapon"], "action": "SCMP_ACT_ERRNO", "includes": {"arches": ["s390x"]}},
        {"names": ["acct"], "action": "SCMP_ACT_ERRNO", "includes": {"minKernel": "99.0"}},
    ]}
    resolved = sp.from_docker_format(profile, ["CAP_SYS_BOOT"], "amd64")
    assert [r["names"] for r in resolved["syscalls"]] == [["mkdir"], ["chmod"]]
    with pytest.raises(Exception, match="no defaultAction"):
        sp.from_docker_format({"syscalls": []}, [], "amd64")
