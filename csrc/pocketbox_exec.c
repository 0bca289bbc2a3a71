/* pocketbox-exec: the last step before a container's command runs.
 *
 * Why it exists: the process that calls execve() for the container's command must not be a host
 * binary the container can reach (CVE-2019-5736). While pocketbox's Python prepares the container,
 * /proc/self/exe is the host's interpreter; a command such as `/proc/self/exe`, or a script whose
 * interpreter line is `#!/proc/self/exe`, would be resolved by the kernel to that host file and
 * hand the container a descriptor to it. So the runtime copies this small program into a sealed
 * memfd (no write, grow, shrink or new seals) and execs *that*; this program then execs the
 * container's command. /proc/self/exe during that last execve is the sealed copy, which the
 * container may read (it is this public program) but never change.
 *
 * It also undoes what a Python parent leaves behind: signals the interpreter ignores (SIGPIPE,
 * SIGXFSZ) stay ignored across execve, and a blocked mask is inherited; both are reset here.
 *
 * argv: MAGIC ERRFD PATH ARG0 ARG1 ...   (envp is the container's environment)
 * With ERRFD written "init:N" (run --init) it stays as the container's PID 1, a small init in the
 * manner of tini: the command runs as its child; every signal sent to PID 1 is passed on to it,
 * every orphan that ends up here is reaped, and when the command ends PID 1 exits with its status.
 * On success the command replaces us and ERRFD (close-on-exec) closes. On failure we write
 * {"errno": N} to ERRFD and exit 127 (ENOENT) or 126: the runtime turns it into Docker's message.
 *
 * Static and free of libc on purpose: it runs after pivot_root, where only the container's own
 * files (and maybe no libc at all) are left. Linux x86_64 and aarch64 system calls only. */

#if defined(__x86_64__)
#define NR_write 1
#define NR_rt_sigaction 13
#define NR_rt_sigprocmask 14
#define NR_fcntl 72
#define NR_execve 59
#define NR_exit_group 231
#define NR_clone 56
#define NR_close 3
#define NR_kill 62
#define NR_wait4 61
#define NR_rt_sigtimedwait 128
#elif defined(__aarch64__)
#define NR_write 64
#define NR_rt_sigaction 134
#define NR_rt_sigprocmask 135
#define NR_fcntl 25
#define NR_execve 221
#define NR_exit_group 94
#define NR_clone 220
#define NR_close 57
#define NR_kill 129
#define NR_wait4 260
#define NR_rt_sigtimedwait 137
#else
#error "pocketbox-exec supports x86_64 and aarch64"
#endif

#define MAGIC "pocketbox-exec"
#define F_SETFD 2
#define FD_CLOEXEC 1
#define SIG_SETMASK 2
#define SIGKILL 9
#define SIGSTOP 19
#define NSIG 64
#define ENOENT 2
#define SIGCHLD 17
#define WNOHANG 1

static long sys6(long n, long a, long b, long c, long d)
{
    long ret;
#if defined(__x86_64__)
    register long r10 __asm__("r10") = d;
    __asm__ volatile("syscall" : "=a"(ret) : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10) : "rcx", "r11", "memory");
#else
    register long x8 __asm__("x8") = n;
    register long x0 __asm__("x0") = a;
    register long x1 __asm__("x1") = b;
    register long x2 __asm__("x2") = c;
    register long x3 __asm__("x3") = d;
    __asm__ volatile("svc 0" : "+r"(x0) : "r"(x8), "r"(x1), "r"(x2), "r"(x3) : "memory");
    ret = x0;
#endif
    return ret;
}

static void out(int fd, const char *s)
{
    long n = 0;
    while (s[n])
        n++;
    sys6(NR_write, fd, (long)s, n, 0);
}

static int streq(const char *a, const char *b)
{
    while (*a && *a == *b)
        a++, b++;
    return *a == *b;
}

static long parse_fd(const char *s)
{
    long v = 0;
    if (!*s)
        return -1;
    for (; *s; s++) {
        if (*s < '0' || *s > '9' || v > 1000000)
            return -1;
        v = v * 10 + (*s - '0');
    }
    return v;
}

struct kernel_sigaction {
    void *handler;
    unsigned long flags;
    void *restorer;
    unsigned long mask;
};

__attribute__((noreturn)) static void finish(long err_fd, long err)
{
    char msg[32] = "{\"errno\": ";
    char digits[12];
    int n = 0, o = 10;
    unsigned long v = (unsigned long)err;
    do {
        digits[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v && n < 11);
    while (n)
        msg[o++] = digits[--n];
    msg[o++] = '}';
    msg[o] = 0;
    if (err_fd >= 0)
        out((int)err_fd, msg);
    sys6(NR_exit_group, err == ENOENT ? 127 : 126, 0, 0, 0);
    __builtin_unreachable();
}

/* PID 1 of a container run with --init: forward signals to `child`, reap every child, and exit
 * as the command did (128+N if a signal ended it). All signals stay blocked: taken one at a time. */
__attribute__((noreturn)) static void init_loop(long child)
{
    unsigned long all = ~0UL;
    long info[16];
    for (;;) {
        long sig = sys6(NR_rt_sigtimedwait, (long)&all, (long)info, 0, 8);
        if (sig <= 0)
            continue;
        if (sig != SIGCHLD) {
            sys6(NR_kill, child, sig, 0, 0);
            continue;
        }
        for (;;) {
            int status = 0;
            long pid = sys6(NR_wait4, -1, (long)&status, WNOHANG, 0);
            if (pid <= 0)
                break;
            if (pid == child)
                sys6(NR_exit_group, (status & 0x7f) ? 128 + (status & 0x7f) : (status >> 8) & 0xff, 0, 0, 0);
        }
    }
}

__attribute__((noreturn, used)) void pocketbox_exec_main(long *sp)
{
    long argc = sp[0];
    char **argv = (char **)(sp + 1);
    char **envp = argv + argc + 1;
    if (argc < 4 || !streq(argv[0], MAGIC)) {
        out(2, "pocketbox-exec: this is pocketbox's last step before a container's command; it runs nothing by itself\n");
        sys6(NR_exit_group, 126, 0, 0, 0);
    }
    const char *fd_text = argv[1];
    int as_init = fd_text[0] == 'i' && fd_text[1] == 'n' && fd_text[2] == 'i' && fd_text[3] == 't' && fd_text[4] == ':';
    long err_fd = parse_fd(as_init ? fd_text + 5 : fd_text);
    struct kernel_sigaction dfl = {0, 0, 0, 0};
    for (long sig = 1; sig <= NSIG; sig++)
        if (sig != SIGKILL && sig != SIGSTOP)
            sys6(NR_rt_sigaction, sig, (long)&dfl, 0, 8);
    unsigned long empty = 0, all = ~0UL;
    if (as_init) {
        sys6(NR_rt_sigprocmask, SIG_SETMASK, (long)&all, 0, 8);  /* nothing is lost before the loop */
        long child = sys6(NR_clone, SIGCHLD, 0, 0, 0);
        if (child < 0)
            finish(err_fd, -child);
        if (child > 0) {
            if (err_fd >= 0)
                sys6(NR_close, err_fd, 0, 0, 0);  /* the command's exec closes the runtime's last copy */
            init_loop(child);
        }
    }
    sys6(NR_rt_sigprocmask, SIG_SETMASK, (long)&empty, 0, 8);
    if (err_fd >= 0)
        sys6(NR_fcntl, err_fd, F_SETFD, FD_CLOEXEC, 0);
    long r = sys6(NR_execve, (long)argv[2], (long)(argv + 3), (long)envp, 0);
    finish(err_fd, -r);
}

#if defined(__x86_64__)
__asm__(".globl _start\n_start:\n xor %rbp,%rbp\n mov %rsp,%rdi\n and $-16,%rsp\n call pocketbox_exec_main\n");
#else
__asm__(".globl _start\n_start:\n mov x29, #0\n mov x0, sp\n bl pocketbox_exec_main\n");
#endif
