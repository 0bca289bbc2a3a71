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
int pb_prctl(int option, unsigned long arg2, unsigned long arg3, unsigned long arg4, unsigned long arg5);
int pb_capset(uint32_t eff0, uint32_t eff1, uint32_t perm0, uint32_t perm1, uint32_t inh0, uint32_t inh1);
int pb_capget(uint32_t *out6);
int pb_seccomp_load(const void *filter, size_t bytes);
long pb_bpf(int cmd, void *attr, unsigned int size);
int pb_open_tree(int dirfd, const char *path, unsigned int flags);
int pb_mount_setattr_idmap(int fd, int userns_fd);
int pb_move_mount(int from_fd, int to_dirfd, const char *to_path);
long pb_fork_into_cgroup(int cgroup_fd);
