/* The syscalls Python 3.11 does not expose, as thin wrappers.
 * Each returns what the kernel returns (-1 with errno set on failure);
 * pocketbox/syscalls.py turns -1 into OSError with the real errno. */
int pb_unshare(int flags);
int pb_setns(int fd, int nstype);
int pb_mount(const char *source, const char *target, const char *fstype,
             unsigned long flags, const char *data);
int pb_umount2(const char *target, int flags);
int pb_pivot_root(const char *new_root, const char *put_old);
int pb_openat2(int dirfd, const char *path, unsigned long long flags,
               unsigned long long mode, unsigned long long resolve);
int pb_sethostname(const char *name, size_t len);
