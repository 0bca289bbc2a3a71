/* pocketbox's syscall shim: one C function per syscall, no policy here.
 * man 2 unshare, setns, mount, umount2, pivot_root, openat2, sethostname */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <stdint.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <sys/prctl.h>
#include <linux/capability.h>

#ifndef SYS_openat2
#define SYS_openat2 437
#endif
#ifndef SYS_pivot_root
#define SYS_pivot_root 155
#endif

struct pb_open_how {
    uint64_t flags;
    uint64_t mode;
    uint64_t resolve;
};

int pb_unshare(int flags) { return unshare(flags); }

int pb_setns(int fd, int nstype) { return setns(fd, nstype); }

int pb_mount(const char *source, const char *target, const char *fstype,
             unsigned long flags, const char *data)
{
    return mount(source, target, fstype, flags, data);
}

int pb_umount2(const char *target, int flags) { return umount2(target, flags); }

int pb_pivot_root(const char *new_root, const char *put_old)
{
    return (int)syscall(SYS_pivot_root, new_root, put_old);
}

int pb_openat2(int dirfd, const char *path, unsigned long long flags,
               unsigned long long mode, unsigned long long resolve)
{
    struct pb_open_how how;
    memset(&how, 0, sizeof(how));
    how.flags = flags;
    how.mode = mode;
    how.resolve = resolve;
    return (int)syscall(SYS_openat2, dirfd, path, &how, sizeof(how));
}

int pb_sethostname(const char *name, size_t len) { return sethostname(name, len); }

/* man 2 prctl: capability bounding set, ambient set, no_new_privs, keepcaps, dumpable. */
int pb_prctl(int option, unsigned long arg2, unsigned long arg3, unsigned long arg4, unsigned long arg5)
{
    return prctl(option, arg2, arg3, arg4, arg5);
}

/* man 2 capset: the three capability sets as two 32-bit words each (version 3 ABI). */
int pb_capset(uint32_t eff0, uint32_t eff1, uint32_t perm0, uint32_t perm1, uint32_t inh0, uint32_t inh1)
{
    struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct data[2] = {{eff0, perm0, inh0}, {eff1, perm1, inh1}};
    return (int)syscall(SYS_capset, &hdr, data);
}

/* man 2 capget: out6 receives effective, permitted, inheritable as two words each. */
int pb_capget(uint32_t *out6)
{
    struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct data[2];
    if (syscall(SYS_capget, &hdr, data) != 0)
        return -1;
    out6[0] = data[0].effective;   out6[1] = data[1].effective;
    out6[2] = data[0].permitted;   out6[3] = data[1].permitted;
    out6[4] = data[0].inheritable; out6[5] = data[1].inheritable;
    return 0;
}

/* man 2 seccomp: install a classic-BPF filter (compiled earlier, by libseccomp) on this thread.
 * `filter` holds `bytes` bytes of struct sock_filter, 8 bytes per instruction. */
#include <linux/filter.h>
#include <linux/seccomp.h>
int pb_seccomp_load(const void *filter, size_t bytes)
{
    struct sock_fprog prog = {(unsigned short)(bytes / sizeof(struct sock_filter)), (struct sock_filter *)filter};
    return syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog);
}

/* man 2 bpf: one command with its attribute block (built by the caller, runtime/devices_bpf.py). */
long pb_bpf(int cmd, void *attr, unsigned int size)
{
    return syscall(SYS_bpf, cmd, attr, size);
}

/* The new mount API, for idmapped mounts (man 2 open_tree, mount_setattr, move_mount). */
#ifndef SYS_open_tree
#define SYS_open_tree 428
#endif
#ifndef SYS_move_mount
#define SYS_move_mount 429
#endif
#ifndef SYS_mount_setattr
#define SYS_mount_setattr 442
#endif
int pb_open_tree(int dirfd, const char *path, unsigned int flags)
{
    return syscall(SYS_open_tree, dirfd, path, flags);
}

/* struct mount_attr: attr_set, attr_clr, propagation, userns_fd (all __u64) */
int pb_mount_setattr_idmap(int fd, int userns_fd)
{
    uint64_t attr[4] = {0x00100000 /* MOUNT_ATTR_IDMAP */, 0, 0, (uint64_t)userns_fd};
    return syscall(SYS_mount_setattr, fd, "", 0x1000 /* AT_EMPTY_PATH */, attr, sizeof(attr));
}

int pb_move_mount(int from_fd, int to_dirfd, const char *to_path)
{
    return syscall(SYS_move_mount, from_fd, "", to_dirfd, to_path, 0x4 /* MOVE_MOUNT_F_EMPTY_PATH */);
}

/* fork() that puts the child straight into a cgroup v2 directory (clone3 with CLONE_INTO_CGROUP,
 * Linux 5.7+). Writing a pid to cgroup.procs afterwards takes the kernel's threadgroup rwsem for
 * writing, which waits for an RCU grace period (7-15 ms per container here); a fork into the
 * cgroup only takes it for reading. Like os.fork(), the interpreter is told before and after
 * (PyOS_BeforeFork/AfterFork_*), with the GIL re-taken because cffi released it for this call.
 * The child carries on in Python until it execs. glibc's own fork handlers do not run (its
 * malloc and stdio locks are not reset, its cached thread ID stays the parent's): harmless when,
 * as runtime/cgroups.py checks first, the process has a single thread, and the child neither
 * raise()s nor makes threads before execve. Returns the pid, 0 in the child, -1 + errno. */
#include <linux/sched.h>
#include <signal.h>
#ifndef SYS_clone3
#define SYS_clone3 435
#endif
#ifndef CLONE_INTO_CGROUP
#define CLONE_INTO_CGROUP 0x200000000ULL
#endif

long pb_fork_into_cgroup(int cgroup_fd)
{
    struct clone_args args;
    memset(&args, 0, sizeof args);
    args.flags = CLONE_INTO_CGROUP;
    args.exit_signal = SIGCHLD;
    args.cgroup = (uint64_t)cgroup_fd;
    PyGILState_STATE gil = PyGILState_Ensure();
    PyOS_BeforeFork();
    long pid = syscall(SYS_clone3, &args, sizeof args);
    int saved = errno;
    if (pid == 0)
        PyOS_AfterFork_Child();
    else
        PyOS_AfterFork_Parent();
    PyGILState_Release(gil);
    errno = saved;
    return pid;
}
