"""The device filter of cgroup v2: an eBPF program attached to the container's cgroup.

cgroup v1 has a `devices` controller that takes rules as text ("c 1:3 rwm"); cgroup v2 has none.
Instead the kernel runs a small BPF_PROG_TYPE_CGROUP_DEVICE program on every open or mknod of a
device node by a process of the cgroup, and the access is allowed only if it returns 1 (what
runc and crun attach too). pocketbox turns the same text rules into that program, one compare
block per rule:

    r2 = ctx->access_type & 0xffff   (1 block, 2 char)      r4 = ctx->major
    r3 = ctx->access_type >> 16      (1 mknod, 2 read, 4 write)   r5 = ctx->minor
    per rule: type matches? access within the rule's? major? minor? -> return 1
    nothing matched -> return 0 (EPERM for the caller)
man 2 bpf; linux/Documentation/admin-guide/cgroup-v2.rst "Device controller"."""
import os
import struct

BPF_PROG_LOAD, BPF_PROG_ATTACH = 5, 8
BPF_PROG_TYPE_CGROUP_DEVICE, BPF_CGROUP_DEVICE = 15, 6
BPF_F_ALLOW_MULTI = 2
TYPES = {"b": 1, "c": 2}
ACCESS = {"m": 1, "r": 2, "w": 4}

# instruction opcodes (linux/bpf.h)
LDX_W, AND64_K, RSH64_K, MOV64_X, MOV64_K, JNE_K, EXIT = 0x61, 0x57, 0x77, 0xBF, 0xB7, 0x55, 0x95


def insn(code: int, dst: int = 0, src: int = 0, off: int = 0, imm: int = 0) -> bytes:
    """struct bpf_insn: opcode, dst and src registers (4 bits each), offset, immediate."""
    return struct.pack("<BBhi", code, (src << 4) | dst, off, imm)


def _rule_block(rule: str) -> list[bytes]:
    """One text rule ("c 1:3 rwm", "a *:* rwm", "c 136:* rwm") as instructions that return 1 on a
    match and otherwise fall through (the jump offsets skip to the end of the block)."""
    kind, numbers, access = rule.split()
    major, minor = numbers.split(":")
    body: list[tuple[str, int, int]] = []  # (test, register, immediate)
    if kind != "a":
        body.append(("jne", 2, TYPES[kind]))
    allowed = sum(ACCESS[c] for c in access)
    if allowed != 7:  # the requested access bits must all be in the rule's: (r3 & ~allowed) == 0
        body.append(("mask", 3, ~allowed & 0x7))
    if major != "*":
        body.append(("jne", 4, int(major)))
    if minor != "*":
        body.append(("jne", 5, int(minor)))
    # lay out: each test jumps to the end of the block (past "r0 = 1; exit") when it fails
    sizes = [3 if b[0] == "mask" else 1 for b in body]
    out = []
    remaining = sum(sizes) + 2
    for (op, reg, imm), size in zip(body, sizes):
        remaining -= size
        if op == "mask":
            out += [insn(MOV64_X, 1, reg), insn(AND64_K, 1, imm=imm), insn(JNE_K, 1, off=remaining, imm=0)]
        else:
            out.append(insn(JNE_K, reg, off=remaining, imm=imm))
    return out + [insn(MOV64_K, 0, imm=1), insn(EXIT)]


def program(rules: list[str]) -> bytes:
    """The whole program for a list of v1-style rules (runtime/cgroups.py DEFAULT_DEVICE_RULES...)."""
    head = [insn(LDX_W, 2, 1, 0), insn(AND64_K, 2, imm=0xFFFF), insn(LDX_W, 3, 1, 0), insn(RSH64_K, 3, imm=16),
            insn(LDX_W, 4, 1, 4), insn(LDX_W, 5, 1, 8)]
    body = []
    for rule in rules:
        block = _rule_block(rule)
        body += block
        if len(block) == 2:  # "a *:* rwm" matches everything: what follows would be unreachable,
            return b"".join(head + body)  # and the verifier refuses unreachable instructions
    return b"".join(head + body + [insn(MOV64_K, 0, imm=0), insn(EXIT)])


def _bpf(cmd: int, attr: bytes) -> int:
    from pocketbox._sys import ffi, lib

    buf = ffi.new("char[]", attr)
    ret = lib.pb_bpf(cmd, buf, len(attr))
    if ret < 0:
        err = ffi.errno
        raise OSError(err, f"bpf({'BPF_PROG_LOAD' if cmd == BPF_PROG_LOAD else 'BPF_PROG_ATTACH'}): "
                           f"{os.strerror(err)}")
    return ret


def attach(cgroup_dir: str, rules: list[str]) -> None:
    """Load the program and attach it to the cgroup directory; the kernel keeps it there until the
    cgroup is removed, so no fd needs to stay open."""
    from pocketbox._sys import ffi

    code = program(rules)
    insns = ffi.from_buffer(code)
    license_ = ffi.new("char[]", b"Apache-2.0")
    # union bpf_attr for BPF_PROG_LOAD: prog_type, insn_cnt, insns, license, log_level, log_size, log_buf
    attr = struct.pack("<IIQQIIQ", BPF_PROG_TYPE_CGROUP_DEVICE, len(code) // 8, int(ffi.cast("uintptr_t", insns)),
                       int(ffi.cast("uintptr_t", license_)), 0, 0, 0).ljust(128, b"\0")
    prog = _bpf(BPF_PROG_LOAD, attr)
    try:
        cg = os.open(cgroup_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            _bpf(BPF_PROG_ATTACH, struct.pack("<IIII", cg, prog, BPF_CGROUP_DEVICE, BPF_F_ALLOW_MULTI).ljust(32, b"\0"))
        finally:
            os.close(cg)
    finally:
        os.close(prog)
