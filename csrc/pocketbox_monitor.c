/* pocketbox-monitor: the part of a detached container's supervisor that stays while the container
 * runs, in C so that an idle container costs about as much memory as podman's conmon.
 *
 * pocketbox/shim.py starts the container (Python), then execs this program, handing it:
 *   --pid PID        the container's PID 1 (our child: we reap it)
 *   --out FD --err FD  the container's stdout/stderr pipes (or --out the pty master, --tty)
 *   --in FD          where attached clients' stdin goes (-1: nowhere)
 *   --listen FD      the attach socket (Docker's multiplexed frames, see streams_mux.py)
 *   --log PATH       the json-file log
 *   --client FD      an attach client already connected (repeatable)
 *   -- ARGV...       what to exec when the container has exited (the Python side, which records
 *                    the exit, removes the cgroup and applies the restart policy); the wait status
 *                    and the listen fd are appended.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#define MAX_CLIENTS 16
enum { F_STDIN = 0, F_STDOUT = 1, F_STDERR = 2, F_EXIT = 3, F_RESIZE = 4, F_STDIN_EOF = 5 };

static int log_fd = -1, in_fd = -1, is_tty = 0;
static int clients[MAX_CLIENTS];
static unsigned char *cbuf[MAX_CLIENTS];
static size_t clen[MAX_CLIENTS];
static char partial[2][65536];
static size_t plen[2];

static void write_all(int fd, const void *data, size_t len)
{
    const char *p = data;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return;
        p += n;
        len -= (size_t)n;
    }
}

/* One json-file log line: {"log":"...","stream":"stdout","time":"RFC3339Nano"} */
static void log_line(int stream, const char *s, size_t len)
{
    static char out[65536 * 6 + 256];
    struct timespec ts;
    struct tm tm;
    size_t o = 0;
    o += (size_t)sprintf(out, "{\"log\":\"");
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') { out[o++] = '\\'; out[o++] = (char)c; }
        else if (c == '\n') { out[o++] = '\\'; out[o++] = 'n'; }
        else if (c == '\r') { out[o++] = '\\'; out[o++] = 'r'; }
        else if (c == '\t') { out[o++] = '\\'; out[o++] = 't'; }
        else if (c < 0x20) o += (size_t)sprintf(out + o, "\\u%04x", c);
        else out[o++] = (char)c;
    }
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    o += (size_t)sprintf(out + o, "\",\"stream\":\"%s\",\"time\":\"", stream == 1 ? "stdout" : "stderr");
    o += strftime(out + o, 32, "%Y-%m-%dT%H:%M:%S", &tm);
    o += (size_t)sprintf(out + o, ".%09ldZ\"}\n", ts.tv_nsec);
    write_all(log_fd, out, o);
}

/* Complete lines go to the log; a partial line waits (or is flushed when too long / at the end). */
static void log_data(int stream, const char *data, size_t len)
{
    int k = stream - 1;
    for (size_t i = 0; i < len; i++) {
        partial[k][plen[k]++] = data[i];
        if (data[i] == '\n' || plen[k] == sizeof(partial[k])) {
            log_line(stream, partial[k], plen[k]);
            plen[k] = 0;
        }
    }
}

static void drop_client(int i)
{
    close(clients[i]);
    clients[i] = -1;
    free(cbuf[i]);
    cbuf[i] = NULL;
    clen[i] = 0;
}

static void send_frame(int stream, const void *data, size_t len)
{
    unsigned char h[8] = {(unsigned char)stream, 0, 0, 0,
                          (unsigned char)(len >> 24), (unsigned char)(len >> 16),
                          (unsigned char)(len >> 8), (unsigned char)len};
    for (int i = 0; i < MAX_CLIENTS; i++) {
        if (clients[i] < 0)
            continue;
        if (send(clients[i], h, 8, MSG_NOSIGNAL) != 8 ||
            (len && send(clients[i], data, len, MSG_NOSIGNAL) != (ssize_t)len))
            drop_client(i);
    }
}

static void from_client(int i)
{
    unsigned char buf[65536];
    ssize_t n = recv(clients[i], buf, sizeof(buf), 0);
    if (n <= 0) {
        drop_client(i);
        return;
    }
    cbuf[i] = realloc(cbuf[i], clen[i] + (size_t)n);
    memcpy(cbuf[i] + clen[i], buf, (size_t)n);
    clen[i] += (size_t)n;
    while (clen[i] >= 8) {
        uint32_t size = ((uint32_t)cbuf[i][4] << 24) | ((uint32_t)cbuf[i][5] << 16) |
                        ((uint32_t)cbuf[i][6] << 8) | cbuf[i][7];
        if (clen[i] < 8 + size)
            break;
        unsigned char *payload = cbuf[i] + 8;
        if (cbuf[i][0] == F_STDIN && in_fd >= 0) {
            write_all(in_fd, payload, size);
        } else if (cbuf[i][0] == F_STDIN_EOF && in_fd >= 0 && !is_tty) {
            close(in_fd);
            in_fd = -1;
        } else if (cbuf[i][0] == F_RESIZE && is_tty && size < 64) {
            char text[64];
            unsigned rows = 0, cols = 0;
            memcpy(text, payload, size);
            text[size] = 0;
            if (sscanf(text, "%u %u", &rows, &cols) == 2) {
                struct winsize ws = {(unsigned short)rows, (unsigned short)cols, 0, 0};
                ioctl(in_fd, TIOCSWINSZ, &ws);
            }
        }
        memmove(cbuf[i], cbuf[i] + 8 + size, clen[i] - 8 - size);
        clen[i] -= 8 + size;
    }
}

static int arg_int(const char *v) { return (int)strtol(v, NULL, 10); }

int main(int argc, char **argv)
{
    pid_t pid = 0;
    int out_fd = -1, err_fd = -1, listen_fd = -1, then = 0;
    for (int i = 0; i < MAX_CLIENTS; i++) clients[i] = -1;
    const char *log_path = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--")) { then = i + 1; break; }
        if (i + 1 >= argc) break;
        if (!strcmp(argv[i], "--pid")) pid = arg_int(argv[++i]);
        else if (!strcmp(argv[i], "--out")) out_fd = arg_int(argv[++i]);
        else if (!strcmp(argv[i], "--err")) err_fd = arg_int(argv[++i]);
        else if (!strcmp(argv[i], "--in")) in_fd = arg_int(argv[++i]);
        else if (!strcmp(argv[i], "--listen")) listen_fd = arg_int(argv[++i]);
        else if (!strcmp(argv[i], "--log")) log_path = argv[++i];
        else if (!strcmp(argv[i], "--tty")) is_tty = arg_int(argv[++i]);
        else if (!strcmp(argv[i], "--client")) {  /* an attach client the Python side accepted */
            int fd = arg_int(argv[++i]);
            for (int k = 0; k < MAX_CLIENTS; k++) if (clients[k] < 0) { clients[k] = fd; break; }
        }
    }
    if (!pid || out_fd < 0 || listen_fd < 0 || !log_path || !then || then >= argc) {
        fprintf(stderr, "pocketbox-monitor: bad arguments\n");
        return 125;
    }
    log_fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);

    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGCHLD);
    sigprocmask(SIG_BLOCK, &mask, NULL);
    int sfd = signalfd(-1, &mask, SFD_CLOEXEC);

    int status = 0, exited = 0;
    /* the container may have exited before we were exec'd (its SIGCHLD went to the Python side) */
    if (waitpid(pid, &status, WNOHANG) == pid) exited = 1;
    int outs[2] = {out_fd, err_fd};
    for (;;) {
        struct pollfd p[4 + MAX_CLIENTS];
        int n = 0, idx[MAX_CLIENTS];
        p[n++] = (struct pollfd){sfd, POLLIN, 0};
        p[n++] = (struct pollfd){listen_fd, POLLIN, 0};
        p[n++] = (struct pollfd){outs[0], POLLIN, 0};
        p[n++] = (struct pollfd){outs[1], POLLIN, 0};
        for (int i = 0; i < MAX_CLIENTS; i++)
            if (clients[i] >= 0) { idx[n - 4] = i; p[n++] = (struct pollfd){clients[i], POLLIN, 0}; }
        if (exited && outs[0] < 0 && outs[1] < 0)
            break;
        int r = poll(p, (nfds_t)n, exited ? 200 : 1000);
        if (r < 0 && errno == EINTR) continue;
        if (r == 0 && exited) break;  /* the container is gone and its output is drained */
        if (r == 0 && waitpid(pid, &status, WNOHANG) == pid) exited = 1;  /* belt and braces */
        if (p[0].revents & POLLIN) {
            struct signalfd_siginfo si;
            if (read(sfd, &si, sizeof(si)) < 0) { /* nothing */ }
            if (!exited && waitpid(pid, &status, WNOHANG) == pid) exited = 1;
        }
        if (p[1].revents & POLLIN) {
            int c = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
            int slot = -1;
            for (int i = 0; i < MAX_CLIENTS && c >= 0; i++) if (clients[i] < 0) { slot = i; break; }
            if (slot >= 0) clients[slot] = c; else if (c >= 0) close(c);
        }
        for (int k = 0; k < 2; k++) {
            if (outs[k] < 0 || !(p[2 + k].revents & (POLLIN | POLLHUP | POLLERR))) continue;
            char buf[65536];
            ssize_t got = read(outs[k], buf, sizeof(buf));
            if (got <= 0) {  /* EOF, or EIO when the pty's last slave closed */
                if (outs[k] != in_fd) close(outs[k]);
                outs[k] = -1;
                continue;
            }
            log_data(k + 1, buf, (size_t)got);
            send_frame(k + 1, buf, (size_t)got);
        }
        for (int j = 4; j < n; j++)
            if (p[j].revents & (POLLIN | POLLHUP | POLLERR)) from_client(idx[j - 4]);
    }
    for (int k = 0; k < 2; k++)
        if (plen[k]) { log_line(k + 1, partial[k], plen[k]); plen[k] = 0; }
    int code = WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status);
    char codetext[16];
    int clen_code = snprintf(codetext, sizeof(codetext), "%d", code);
    send_frame(F_EXIT, codetext, (size_t)clen_code);
    for (int i = 0; i < MAX_CLIENTS; i++) if (clients[i] >= 0) drop_client(i);
    if (log_fd >= 0) close(log_fd);
    sigprocmask(SIG_UNBLOCK, &mask, NULL);

    /* Hand over to the Python side: ARGV... STATUS LISTEN_FD */
    char st[16], lf[16];
    snprintf(st, sizeof(st), "%d", status);
    snprintf(lf, sizeof(lf), "%d", listen_fd);
    char **next = calloc((size_t)(argc - then + 3), sizeof(char *));
    int m = 0;
    for (int i = then; i < argc; i++) next[m++] = argv[i];
    next[m++] = st;
    next[m++] = lf;
    next[m] = NULL;
    execv(next[0], next);
    perror("pocketbox-monitor: exec");
    return 125;
}
