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
