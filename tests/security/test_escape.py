"""The escape suite: real containers try, from inside, what attackers try. Every attempt must
fail, and each test asserts the specific error (errno) so that a broken test cannot pass by
accident. Perl (in the Debian image) makes the raw system calls; its $! is the errno.

x86-64 system call numbers used below: mount 165, umount2 166, unshare 272, setns 308,
init_module 175, finit_module 313, kexec_load 246, keyctl 250, bpf 321, reboot 169,
sethostname 170, ptrace 101, clone 56, clone3 435, open_by_handle_at 304, userfaultfd 323."""
import os
import subprocess
import time

import pytest

from conftest import requires_root

pytestmark = [requires_root, pytest.mark.skipif(os.uname().machine != "x86_64", reason="x86-64 syscall numbers")]

EPERM, ENOENT, ESRCH, EACCES, EROFS, ENOSYS = 1, 2, 3, 13, 30, 38


def perl(pb, image, code: str, *run_args) -> str:
    r = pb("run", "--rm", "--network", "none", *run_args, image, "perl", "-e", code, expect=None)
    assert "Traceback" not in r.stderr and r.returncode == 0, r.stderr
    return r.stdout


def errno_of(pb, image, call: str, *run_args) -> int:
    """The errno a call fails with inside a container (`call` is a perl expression, true when it
    succeeds); -1 if it succeeded."""
    out = perl(pb, image, f'if ({call}) {{ print "-1" }} else {{ print($!+0) }}', *run_args)
    return int(out)


def test_seccomp_is_on_by_default_and_can_be_turned_off(pb, busybox):
    status = pb("run", "--rm", "--network", "none", busybox, "grep", "Seccomp:", "/proc/self/status").stdout
    assert status.split() == ["Seccomp:", "2"]
    off = pb("run", "--rm", "--network", "none", "--security-opt", "seccomp=unconfined", busybox,
             "grep", "Seccomp:", "/proc/self/status").stdout
    assert off.split() == ["Seccomp:", "0"]
    priv = pb("run", "--rm", "--network", "none", "--privileged", busybox, "grep", "Seccomp:", "/proc/self/status")
    assert priv.stdout.split() == ["Seccomp:", "0"]               # Docker's rule for --privileged
    exec_status = pb("run", "-d", "--name", "sc", "--network", "none", busybox, "sleep", "60")
    assert exec_status.returncode == 0
    assert pb("exec", "sc", "grep", "Seccomp:", "/proc/self/status").stdout.split() == ["Seccomp:", "2"]
    pb("rm", "-f", "sc")


def test_profiles_in_dockers_format(pb, busybox, tmp_path):
    import json

    deny = tmp_path / "deny-mkdir.json"
    deny.write_text(json.dumps({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": EACCES}]}))
    r = pb("run", "--rm", "--network", "none", "--security-opt", f"seccomp={deny}", busybox, "sh", "-c",
           "mkdir /x; unshare -U true && echo unshare-allowed", expect=None)
    assert "Permission denied" in r.stderr and "unshare-allowed" in r.stdout   # only what the profile says
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"defaultAction": "SCMP_ACT_NOPE", "syscalls": []}))
    for profile, message in ((bad, "unknown seccomp action"), (tmp_path / "none.json", "No such file")):
        r = pb("run", "--name", "refused", "--security-opt", f"seccomp={profile}", busybox, "true", expect=125)
        assert message in r.stderr and r.stderr.count("\n") == 1
    assert not (pb.root / "containers").exists() or not [p for p in (pb.root / "containers").iterdir()
                                                          if p.name != "locks"]
    assert not (pb.root / "names" / "refused").exists()


def test_mounting_proc_sysfs_tmpfs_fails(pb, debian_ref):
    for fstype in ("proc", "sysfs", "tmpfs"):
        call = f'do {{ my ($t, $d) = ("{fstype}", "/mnt"); syscall(165, $t, $d, $t, 0, 0) != -1 }}'
        assert errno_of(pb, debian_ref, call) == EPERM, fstype
    assert errno_of(pb, debian_ref, 'do { my $p = "/proc/keys"; syscall(166, $p, 2) != -1 }') == EPERM  # unmask


def test_regaining_capabilities_through_namespaces_fails(pb, debian_ref):
    assert errno_of(pb, debian_ref, "syscall(272, 0x10000000) != -1") == EPERM     # unshare(CLONE_NEWUSER)
    assert errno_of(pb, debian_ref, "syscall(272, 0x00020000) != -1") == EPERM     # unshare(CLONE_NEWNS)
    assert errno_of(pb, debian_ref, 'open(my $f, "<", "/proc/1/ns/mnt") && syscall(308, fileno($f), 0) != -1') == EPERM
    assert errno_of(pb, debian_ref, "syscall(56, 0x10000011, 0, 0, 0, 0) != -1") == EPERM  # clone(CLONE_NEWUSER|SIGCHLD)
    assert errno_of(pb, debian_ref, "syscall(435, 0, 0) != -1") == ENOSYS                  # clone3: libc falls back


def test_kernel_modules_kexec_keys_bpf_reboot_fail(pb, debian_ref):
    for call in ("syscall(175, 0, 0, 0)", "syscall(313, 0, 0, 0)", "syscall(246, 0, 0, 0, 0)",
                 "syscall(250, 0, 0, 0, 0, 0)", "syscall(321, 0, 0, 0)", "syscall(169, 0, 0, 0, 0)",
                 "syscall(304, 0, 0, 0)", "syscall(323, 0)"):
        assert errno_of(pb, debian_ref, f"{call} != -1") == EPERM, call


def test_block_device_from_mknod_cannot_be_opened(pb, busybox):
    r = pb("run", "--rm", "--network", "none", busybox, "sh", "-c",
           "mknod /tmp/disk b 8 0 && echo made; head -c 1 /tmp/disk; echo rc=$?", expect=None)
    assert "made" in r.stdout and "rc=1" in r.stdout             # CAP_MKNOD is Docker's default: mknod works
    assert "Operation not permitted" in r.stderr                   # but the devices cgroup refuses the open


def test_only_default_devices_and_those_given_with_device(pb, debian_ref):
    host = "/dev/kvm" if os.path.exists("/dev/kvm") else "/dev/loop-control"
    st = os.stat(host)
    major, minor = os.major(st.st_rdev), os.minor(st.st_rdev)
    made = f'do {{ system("mknod /tmp/node c {major} {minor}") == 0 or die; open(my $f, "<", "/tmp/node") }}'
    assert errno_of(pb, debian_ref, made) == EPERM                                  # not allowed by default
    assert errno_of(pb, debian_ref, f'open(my $f, "<", "{host}")', "--device", host) == -1     # --device: usable
    ro = f"{host}:/dev/extra/node:r"
    assert errno_of(pb, debian_ref, 'open(my $f, "<", "/dev/extra/node")', "--device", ro) == -1
    assert errno_of(pb, debian_ref, 'open(my $f, ">", "/dev/extra/node")', "--device", ro) == EPERM   # r only
    for bad, message in (("/etc/passwd", "not a device node"), ("/dev/nope", "no such file"),
                         (f"{host}:/etc/x", "under /dev/")):
        r = pb("run", "--rm", "--device", bad, debian_ref, "true", expect=125)
        assert message in r.stderr and r.stderr.count("\n") == 1


def test_proc_and_sys_files_that_act_on_the_host_are_read_only(pb, debian_ref):
    for path in ("/proc/sysrq-trigger", "/proc/sys/kernel/core_pattern", "/proc/sys/kernel/hostname",
                 "/proc/sys/vm/drop_caches", "/sys/kernel/uevent_helper", "/sys/kernel/mm/ksm/run"):
        # read-only where the host kernel has the file; a kernel built without it has nothing to write
        expected = EROFS if os.path.exists(path) or path.startswith("/sys/") else ENOENT  # /sys: all of it ro
        assert errno_of(pb, debian_ref, f'open(my $f, ">", "{path}")') == expected, path


def test_cgroup_release_agent_cannot_be_written(pb, debian_ref):
    code = ('my @a = glob("/sys/fs/cgroup/*/release_agent /sys/fs/cgroup/release_agent"); '
            'my $e = 0; for my $p (@a, "/sys/fs/cgroup/memory/release_agent", "/sys/fs/cgroup/release_agent") '
            '{ if (open(my $f, ">", $p)) { print "OPENED $p\\n"; } else { print(($!+0) . "\\n"); } }; '
            'print(mkdir("/sys/fs/cgroup/escape") ? "MKDIR\\n" : ($!+0) . "\\n")')
    lines = perl(pb, debian_ref, code).split()
    assert lines and all(line == str(EROFS) for line in lines), lines   # read-only cgroupfs, own cgroup namespace


def test_kernel_memory_and_keys_are_masked(pb, busybox):
    masked = [p for p in ("/proc/kcore", "/proc/keys", "/proc/timer_list", "/proc/sched_debug") if os.path.exists(p)]
    assert masked, "the host kernel has none of Docker's masked /proc files"
    script = "; ".join(f"wc -c < {p}" for p in masked) + "; ls -A /sys/firmware | wc -l"
    out = pb("run", "--rm", "--network", "none", busybox, "sh", "-c", script).stdout
    assert out.split() == ["0"] * (len(masked) + 1)


def test_host_processes_cannot_be_traced_or_killed(pb, debian_ref):
    victim = subprocess.Popen(["sleep", "300"])
    try:
        assert errno_of(pb, debian_ref, f"kill(9, {victim.pid})") == ESRCH
        assert errno_of(pb, debian_ref, f"syscall(101, 16, {victim.pid}, 0, 0) != -1") == ESRCH   # PTRACE_ATTACH
        assert victim.poll() is None
    finally:
        victim.kill()
        victim.wait()


def test_no_runtime_fd_leaks_into_the_container(pb, busybox):
    # (the shell lists its own fds: with a second command it does not exec ls in its place)
    out = pb("run", "--rm", "--network", "none", busybox, "sh", "-c", "ls /proc/$$/fd; true").stdout.split()
    assert out == ["0", "1", "2"]
    pb("run", "-d", "--name", "fds", "--network", "none", busybox, "sleep", "60")
    assert pb("exec", "fds", "sh", "-c", "ls /proc/$$/fd; true").stdout.split() == ["0", "1", "2"]
    assert pb("exec", "fds", "ls", "/proc/1/fd").stdout.split() == ["0", "1", "2"]
    pb("rm", "-f", "fds")


def test_working_directory_through_a_leaked_fd_cannot_escape(pb, busybox, tmp_path):
    """CVE-2024-21626: -w /proc/self/fd/N must not leave the container's root."""
    for fd in range(3, 12):
        r = pb("run", "--rm", "--network", "none", "-w", f"/proc/self/fd/{fd}", busybox, "sh", "-c",
               "pwd; ls ..", expect=None)
        assert r.returncode in (0, 126), (fd, r.returncode, r.stderr)
        if r.returncode == 0:
            assert str(tmp_path) not in r.stdout and r.stdout.startswith("/")
        else:
            assert "working directory" in r.stderr


def test_host_filesystem_is_not_reachable_through_proc(pb, busybox, tmp_path):
    (tmp_path / "host-only").write_text("secret")
    script = (f"ls /proc/1/root{tmp_path}/host-only; ls /proc/self/cwd{tmp_path}/host-only; "
              "readlink /proc/1/exe; readlink /proc/self/root")
    r = pb("run", "--rm", "--network", "none", busybox, "sh", "-c", script, expect=None)
    assert r.stderr.count("No such file or directory") == 2
    assert r.stdout.split() == ["/bin/busybox", "/"] or r.stdout.split()[1] == "/"
    assert "python" not in r.stdout                      # CVE-2019-5736: no host binary to reopen


def test_symlinked_volume_target_stays_inside(pb, busybox, tmp_path):
    cid = pb("run", "-d", "--network", "none", busybox, "sh", "-c", "ln -s /etc /data && sleep 60").stdout.strip()
    time.sleep(0.3)
    pb("commit", cid, "evil:symlink")
    pb("rm", "-f", cid)
    shared = tmp_path / "shared"
    shared.mkdir()
    before = sorted(os.listdir("/etc"))
    r = pb("run", "--rm", "--network", "none", "-v", f"{shared}:/data", "evil:symlink", "sh", "-c",
           "touch /data/planted && ls /etc")
    assert (shared / "planted").exists()                   # the bind landed on the container's /etc
    listing = r.stdout.split()
    assert "planted" in listing and "passwd" not in listing    # (hosts, hostname, resolv.conf are bound on top)
    assert sorted(os.listdir("/etc")) == before and not os.path.exists("/etc/planted")


def test_limits_cannot_be_raised(pb, busybox):
    r = pb("run", "--rm", "--network", "none", busybox, "sh", "-c",
           "ulimit -n $(( $(ulimit -H -n) + 1 ))", expect=None)
    assert r.returncode != 0 and "Operation not permitted" in r.stderr


def test_hostname_of_the_host_cannot_be_changed(pb, busybox, debian_ref):
    before = os.uname().nodename
    assert errno_of(pb, debian_ref, 'do { my $n = "evil"; syscall(170, $n, 4) != -1 }') == EPERM
    r = pb("run", "--rm", "--network", "none", busybox, "hostname", "evil", expect=None)
    assert r.returncode != 0 and "Operation not permitted" in r.stderr
    assert os.uname().nodename == before


def test_cap_drop_all_means_no_capabilities(pb, busybox):
    r = pb("run", "--rm", "--network", "none", "--cap-drop", "ALL", busybox, "sh", "-c",
           "grep -E 'Cap(Eff|Prm|Bnd|Inh|Amb)' /proc/self/status; chown 1 /etc/hostname", expect=None)
    assert [line.split()[1] for line in r.stdout.splitlines()] == ["0000000000000000"] * 5
    assert "Operation not permitted" in r.stderr


# --- normal software still works under the profile -------------------------------------------

def test_normal_software_works(pb, busybox, debian_ref):
    r = pb("run", "--rm", "--network", "none", debian_ref, "sh", "-c",
           "apt-get check && apt-get -s -y --allow-remove-essential remove e2fsprogs | grep ^Remv && dpkg -s base-files | head -2 && "
           "su -s /bin/sh nobody -c id && bash -c 'sleep 0.1 & wait $!; echo job-done'")
    assert "Remv e2fsprogs" in r.stdout and "Package: base-files" in r.stdout
    assert "uid=65534(nobody)" in r.stdout and "job-done" in r.stdout
    r = pb("run", "--rm", "--network", "none", debian_ref, "perl", "-e",
           'my $pid = fork; if ($pid == 0) { exit 7 } waitpid($pid, 0); print $? >> 8')
    assert r.stdout == "7"                                   # clone() without namespace flags is allowed
