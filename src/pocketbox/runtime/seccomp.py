"""Seccomp for the runtime: an OCI `linux.seccomp` section -> a BPF program -> loaded just
before the container's command runs (man 2 seccomp).

libseccomp compiles the rules (pocketbox._seccomp, imported only on a cache miss); the BPF is
cached by the hash of the section, so the usual `run` only reads a file and makes one syscall
(pocketbox._sys.pb_seccomp_load). The kernel then checks every system call of the container
against it, and of every process it starts: filters are inherited and cannot be removed."""
import os

from pocketbox import jsonlite

try:  # the built-in SHA-256; hashlib would load OpenSSL first (~3 ms of every run)
    from _sha256 import sha256
except ImportError:  # Python 3.12+ calls it _sha2
    from hashlib import sha256

ACTIONS = {"SCMP_ACT_KILL": 0x00000000, "SCMP_ACT_KILL_THREAD": 0x00000000, "SCMP_ACT_KILL_PROCESS": 0x80000000,
           "SCMP_ACT_TRAP": 0x00030000, "SCMP_ACT_ALLOW": 0x7FFF0000, "SCMP_ACT_LOG": 0x7FFC0000}
ERRNO_ACTION, TRACE_ACTION = 0x00050000, 0x7FF00000
COMPARE = {"SCMP_CMP_NE": 1, "SCMP_CMP_LT": 2, "SCMP_CMP_LE": 3, "SCMP_CMP_EQ": 4, "SCMP_CMP_GE": 5,
           "SCMP_CMP_GT": 6, "SCMP_CMP_MASKED_EQ": 7}
ARCH_NAMES = {"SCMP_ARCH_X86_64": "x86_64", "SCMP_ARCH_X86": "x86", "SCMP_ARCH_X32": "x32",
              "SCMP_ARCH_AARCH64": "aarch64", "SCMP_ARCH_ARM": "arm"}
EPERM = 1


class SeccompError(Exception):
    pass


def action(name: str, errno: int | None) -> int:
    if name == "SCMP_ACT_ERRNO":
        return ERRNO_ACTION | ((EPERM if errno is None else errno) & 0xFFFF)
    if name == "SCMP_ACT_TRACE":
        return TRACE_ACTION | ((errno or 0) & 0xFFFF)
    try:
        return ACTIONS[name]
    except KeyError:
        raise SeccompError(f"unknown seccomp action {name!r}") from None


def compile_bpf(section: dict) -> bytes:
    """The OCI seccomp section as the BPF program libseccomp makes of it."""
    from pocketbox._seccomp import ffi, lib

    ctx = lib.seccomp_init(action(section["defaultAction"], section.get("defaultErrnoRet")))
    if ctx == ffi.NULL:
        raise SeccompError("seccomp_init failed")
    try:
        for arch in section.get("architectures") or []:
            token = lib.seccomp_arch_resolve_name(ARCH_NAMES.get(arch, arch.lower()).encode())
            if token and lib.seccomp_arch_exist(ctx, token) != 0:  # not in the filter yet
                lib.seccomp_arch_add(ctx, token)
        default = action(section["defaultAction"], section.get("defaultErrnoRet"))
        for rule in section.get("syscalls") or []:
            act = action(rule["action"], rule.get("errnoRet"))
            if act == default:
                continue  # libseccomp refuses rules that repeat the default
            args = rule.get("args") or []
            cmps = ffi.new("struct scmp_arg_cmp[]", max(len(args), 1))
            for i, a in enumerate(args):
                cmps[i].arg, cmps[i].op = a["index"], COMPARE[a["op"]]
                cmps[i].datum_a, cmps[i].datum_b = a["value"], a.get("valueTwo", 0)
            for name in rule["names"]:
                nr = lib.seccomp_syscall_resolve_name(name.encode())
                if nr < 0:
                    continue  # not a system call of this kernel/architecture (Docker skips them too)
                rc = lib.seccomp_rule_add_array(ctx, act, nr, len(args), cmps)
                if rc < 0 and rc != -17:  # EEXIST: the same rule twice
                    raise SeccompError(f"seccomp rule for {name} refused: {os.strerror(-rc)}")
        r, w = os.pipe()
        try:
            rc = lib.seccomp_export_bpf(ctx, w)
            os.close(w)
            w = -1
            if rc < 0:
                raise SeccompError(f"seccomp_export_bpf failed: {os.strerror(-rc)}")
            out = b""
            while chunk := os.read(r, 1 << 16):
                out += chunk
            return out
        finally:
            os.close(r)
            if w >= 0:
                os.close(w)
    finally:
        lib.seccomp_release(ctx)


def cached_bpf(section: dict, cache_dir) -> bytes:
    """compile_bpf, remembered under cache_dir by the section's hash (compiling costs ~15 ms).

    A cache file holds the program's own sha256 before it: an empty, cut or altered file is
    never loaded (it is compiled again), so a container never runs with less than its profile."""
    key = sha256(jsonlite.dumps(section, sort_keys=True).encode()).hexdigest()
    path = os.path.join(str(cache_dir), f"{key}.bpf")
    try:
        with open(path, "rb") as f:
            cached = f.read()
        digest, bpf = cached[:32], cached[32:]
        if bpf and len(bpf) % 8 == 0 and sha256(bpf).digest() == digest:
            return bpf
    except OSError:
        pass
    bpf = compile_bpf(section)
    if not bpf or len(bpf) % 8:
        raise SeccompError("libseccomp produced no program")
    os.makedirs(str(cache_dir), mode=0o700, exist_ok=True)
    tmp = f"{path}.{os.getpid()}.tmp"
    try:
        with open(tmp, "wb") as f:
            f.write(sha256(bpf).digest() + bpf)
        os.rename(tmp, path)
    except OSError:  # a full disk: use the program, cache it another time
        try:
            os.unlink(tmp)
        except OSError:
            pass
    return bpf


def load(bpf: bytes) -> None:
    """seccomp(SECCOMP_SET_MODE_FILTER): from now on this process and its children are filtered."""
    from pocketbox._sys import ffi, lib

    buf = ffi.from_buffer(bpf)
    if lib.pb_seccomp_load(buf, len(bpf)) < 0:
        err = ffi.errno
        raise OSError(err, f"loading the seccomp filter: {os.strerror(err)}")
