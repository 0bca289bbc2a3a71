"""pocketbox's default seccomp profile, and Docker's profile format for `--security-opt seccomp=FILE`.

The default allows what Docker's default allows (tests/security compares the two, syscall by
syscall): everything a normal program needs, and the dangerous calls only with the capability
that would make them meaningful (mount/unshare/setns need CAP_SYS_ADMIN, which containers do not
have). Anything else fails with EPERM; clone3 fails with ENOSYS so that libcs fall back to
clone, whose namespace flags the filter can see. The engine writes the result into config.json
as an OCI `linux.seccomp` section; the runtime compiles and loads it (runtime/seccomp.py)."""
import os

from pocketbox.errors import PocketboxError

EPERM, ENOSYS = 1, 38

# allowed for every container, on every architecture (names unknown to an architecture are skipped)
ALWAYS = """
    _llseek _newselect accept accept4 access adjtimex alarm bind brk cachestat capget capset
    chdir chmod chown chown32 clock_adjtime clock_adjtime64 clock_getres clock_getres_time64
    clock_gettime clock_gettime64 clock_nanosleep clock_nanosleep_time64 close close_range
    connect copy_file_range creat dup dup2 dup3 epoll_create epoll_create1 epoll_ctl
    epoll_ctl_old epoll_pwait epoll_pwait2 epoll_wait epoll_wait_old eventfd eventfd2 execve
    execveat exit exit_group faccessat faccessat2 fadvise64 fadvise64_64 fallocate fanotify_mark
    fchdir fchmod fchmodat fchmodat2 fchown fchown32 fchownat fcntl fcntl64 fdatasync fgetxattr
    flistxattr flock fork fremovexattr fsetxattr fstat fstat64 fstatat64 fstatfs fstatfs64 fsync
    ftruncate ftruncate64 futex futex_requeue futex_time64 futex_wait futex_waitv futex_wake
    futimesat get_robust_list get_thread_area getcpu getcwd getdents getdents64 getegid
    getegid32 geteuid geteuid32 getgid getgid32 getgroups getgroups32 getitimer getpeername
    getpgid getpgrp getpid getppid getpriority getrandom getresgid getresgid32 getresuid
    getresuid32 getrlimit getrusage getsid getsockname getsockopt gettid gettimeofday getuid
    getuid32 getxattr getxattrat inotify_add_watch inotify_init inotify_init1 inotify_rm_watch
    io_cancel io_destroy io_getevents io_pgetevents io_pgetevents_time64 io_setup io_submit
    ioctl ioprio_get ioprio_set ipc kill landlock_add_rule landlock_create_ruleset
    landlock_restrict_self lchown lchown32 lgetxattr link linkat listen listmount listxattr
    listxattrat llistxattr lremovexattr lseek lsetxattr lstat lstat64 madvise map_shadow_stack
    membarrier memfd_create memfd_secret mincore mkdir mkdirat mknod mknodat mlock mlock2
    mlockall mmap mmap2 mprotect mq_getsetattr mq_notify mq_open mq_timedreceive
    mq_timedreceive_time64 mq_timedsend mq_timedsend_time64 mq_unlink mremap mseal msgctl msgget
    msgrcv msgsnd msync munlock munlockall munmap name_to_handle_at nanosleep newfstatat open
    openat openat2 pause pidfd_open pidfd_send_signal pipe pipe2 pkey_alloc pkey_free
    pkey_mprotect poll ppoll ppoll_time64 prctl pread64 preadv preadv2 prlimit64
    process_mrelease pselect6 pselect6_time64 pwrite64 pwritev pwritev2 read readahead readlink
    readlinkat readv recv recvfrom recvmmsg recvmmsg_time64 recvmsg remap_file_pages removexattr
    removexattrat rename renameat renameat2 restart_syscall riscv_hwprobe rmdir rseq
    rt_sigaction rt_sigpending rt_sigprocmask rt_sigqueueinfo rt_sigreturn rt_sigsuspend
    rt_sigtimedwait rt_sigtimedwait_time64 rt_tgsigqueueinfo sched_get_priority_max
    sched_get_priority_min sched_getaffinity sched_getattr sched_getparam sched_getscheduler
    sched_rr_get_interval sched_rr_get_interval_time64 sched_setaffinity sched_setattr
    sched_setparam sched_setscheduler sched_yield seccomp select semctl semget semop semtimedop
    semtimedop_time64 send sendfile sendfile64 sendmmsg sendmsg sendto set_robust_list
    set_thread_area set_tid_address setfsgid setfsgid32 setfsuid setfsuid32 setgid setgid32
    setgroups setgroups32 setitimer setpgid setpriority setregid setregid32 setresgid
    setresgid32 setresuid setresuid32 setreuid setreuid32 setrlimit setsid setsockopt setuid
    setuid32 setxattr setxattrat shmat shmctl shmdt shmget shutdown sigaltstack signalfd
    signalfd4 sigprocmask sigreturn socketcall socketpair splice stat stat64 statfs statfs64
    statmount statx symlink symlinkat sync sync_file_range syncfs sysinfo tee tgkill time
    timer_create timer_delete timer_getoverrun timer_gettime timer_gettime64 timer_settime
    timer_settime64 timerfd_create timerfd_gettime timerfd_gettime64 timerfd_settime
    timerfd_settime64 times tkill truncate truncate64 ugetrlimit umask uname unlink unlinkat
    uretprobe utime utimensat utimensat_time64 utimes vfork vmsplice wait4 waitid waitpid write
    writev
""".split()

# allowed on one architecture only
ARCH_ONLY = {"amd64": ["arch_prctl", "modify_ldt"],
             "arm64": ["arm_fadvise64_64", "arm_sync_file_range", "sync_file_range2", "breakpoint",
                       "cacheflush", "set_tls"]}

# allowed only when the container holds the capability (--cap-add, --privileged)
WITH_CAPABILITY = {
    "CAP_SYS_ADMIN": "bpf clone clone3 fanotify_init fsconfig fsmount fsopen fspick lookup_dcookie lsm_get_self_attr "
                     "lsm_list_modules lsm_set_self_attr mount mount_setattr move_mount open_tree perf_event_open "
                     "quotactl quotactl_fd setdomainname sethostname setns syslog umount umount2 unshare".split(),
    "CAP_DAC_READ_SEARCH": ["open_by_handle_at"],
    "CAP_SYS_BOOT": ["reboot"],
    "CAP_SYS_CHROOT": ["chroot"],
    "CAP_SYS_MODULE": ["delete_module", "init_module", "finit_module"],
    "CAP_SYS_PACCT": ["acct"],
    "CAP_SYS_PTRACE": ["kcmp", "pidfd_getfd", "process_madvise", "process_vm_readv", "process_vm_writev", "ptrace"],
    "CAP_SYS_RAWIO": ["iopl", "ioperm"],
    "CAP_SYS_TIME": ["settimeofday", "stime", "clock_settime", "clock_settime64"],
    "CAP_SYS_TTY_CONFIG": ["vhangup"],
    "CAP_SYS_NICE": ["get_mempolicy", "mbind", "set_mempolicy", "set_mempolicy_home_node"],
    "CAP_SYSLOG": ["syslog"],
    "CAP_BPF": ["bpf"],
    "CAP_PERFMON": ["perf_event_open"],
}

# ptrace and process_vm_* are safe for everyone from Linux 4.8 (before, ptrace could bypass seccomp)
SAFE_FROM_4_8 = ["process_vm_readv", "process_vm_writev", "ptrace"]

NAMESPACE_FLAGS = 0x7E020000  # CLONE_NEWNS|NEWCGROUP|NEWUTS|NEWIPC|NEWUSER|NEWPID|NEWNET
AF_ALG, AF_VSOCK = 38, 40
PERSONALITIES = [0x0, 0x8, 0x20000, 0x20008, 0xFFFFFFFF]  # PER_LINUX, UNAME26, ADDR_NO_RANDOMIZE, both, query

ARCHITECTURES = {"amd64": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
                 "arm64": ["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"]}
MACHINE_TO_ARCH = {"x86_64": "amd64", "aarch64": "arm64"}


def host_arch() -> str:
    return MACHINE_TO_ARCH.get(os.uname().machine, os.uname().machine)


def kernel_at_least(version: str) -> bool:
    def parts(v):
        return [int("".join(c for c in p if c.isdigit()) or 0) for p in v.split("-")[0].split(".")[:2]]
    return parts(os.uname().release) >= parts(version)


def _rule(names, action="SCMP_ACT_ALLOW", args=None, errno=None) -> dict:
    rule = {"names": list(names), "action": action}
    if args:
        rule["args"] = args
    if errno is not None:
        rule["errnoRet"] = errno
    return rule


def _arg(index: int, value: int, op: str, value_two: int = 0) -> dict:
    return {"index": index, "value": value, "valueTwo": value_two, "op": op}


def default_profile(caps: list[str], arch: str | None = None) -> dict:
    """The OCI linux.seccomp section for a container with these capabilities."""
    arch = arch or host_arch()
    caps = set(caps)
    allowed = list(ALWAYS) + ARCH_ONLY.get(arch, [])
    if kernel_at_least("4.8"):
        allowed += [n for n in SAFE_FROM_4_8 if n not in allowed]
    for cap, names in WITH_CAPABILITY.items():
        if cap in caps:
            allowed += [n for n in names if n not in allowed]
    rules = [_rule(allowed)]
    # socket(): every address family but AF_ALG and AF_VSOCK
    rules += [_rule(["socket"], args=[_arg(0, AF_ALG, "SCMP_CMP_LT")]),
              _rule(["socket"], args=[_arg(0, AF_ALG + 1, "SCMP_CMP_EQ")]),
              _rule(["socket"], args=[_arg(0, AF_VSOCK, "SCMP_CMP_GT")])]
    rules += [_rule(["personality"], args=[_arg(0, p, "SCMP_CMP_EQ")]) for p in PERSONALITIES]
    if "CAP_SYS_ADMIN" not in caps:
        # clone() only without namespace flags; clone3 hides its flags in memory: ENOSYS
        rules.append(_rule(["clone"], args=[_arg(0, NAMESPACE_FLAGS, "SCMP_CMP_MASKED_EQ")]))
        rules.append(_rule(["clone3"], "SCMP_ACT_ERRNO", errno=ENOSYS))
    return {"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": EPERM,
            "architectures": ARCHITECTURES.get(arch, []), "syscalls": rules}


def from_docker_format(profile: dict, caps: list[str], arch: str | None = None) -> dict:
    """A profile in Docker's JSON format (`--security-opt seccomp=FILE`) resolved for this
    container as Docker does: includes/excludes by capability, architecture and minimum kernel."""
    arch = arch or host_arch()
    caps = set(caps)
    if "defaultAction" not in profile:
        raise PocketboxError("invalid seccomp profile: no defaultAction")
    architectures = list(profile.get("architectures") or [])
    for entry in profile.get("archMap") or []:
        if entry["architecture"] == ARCHITECTURES.get(arch, [None])[0]:
            architectures = [entry["architecture"]] + list(entry.get("subArchitectures") or [])
    rules = []
    for call in profile.get("syscalls") or []:
        inc, exc = call.get("includes") or {}, call.get("excludes") or {}
        if inc.get("caps") and not all(c in caps for c in inc["caps"]):
            continue
        if inc.get("arches") and arch not in inc["arches"]:
            continue
        if inc.get("minKernel") and not kernel_at_least(inc["minKernel"]):
            continue
        if exc.get("caps") and any(c in caps for c in exc["caps"]):
            continue
        if exc.get("arches") and arch in exc["arches"]:
            continue
        names = call.get("names") or ([call["name"]] if call.get("name") else [])
        args = [_arg(a["index"], a["value"], a["op"], a.get("valueTwo", 0)) for a in call.get("args") or []]
        rules.append(_rule(names, call["action"], args or None, call.get("errnoRet")))
    out = {"defaultAction": profile["defaultAction"], "architectures": architectures, "syscalls": rules}
    if "defaultErrnoRet" in profile:
        out["defaultErrnoRet"] = profile["defaultErrnoRet"]
    return out


def load_profile_file(path: str, caps: list[str]) -> dict:
    import json

    try:
        with open(path) as f:
            data = json.load(f)
    except (OSError, ValueError) as e:
        raise PocketboxError(f"opening seccomp profile ({path}) failed: {e}") from None
    return from_docker_format(data, caps)
