/* pocketbox-monitor: the part of a detached container's supervisor that stays while the container
 * runs, in C so that an idle container costs about as much memory as podman's conmon.
 *
 * pocketbox/shim.py starts the container (Python), then execs this program, handing it:
 *   --pid PID        the container's PID 1 (our child: we reap it)
 *   --out FD --err FD  the container's stdout/stderr pipes (or --out the pty master, --tty)
 *   --in FD          where attached clients' stdin goes (-1: nowhere)
 *   --listen FD      the attach socket (Docker's multiplexed frames, see streams_mux.py)
 *   --log PATH       the json-file log ("-": none, --log-driver none)
 *   --log-max-size N --log-max-file M   rotate it as Docker's json-file does: past N bytes,
 *                    PATH becomes PATH.1 (PATH.1 becomes PATH.2, ...), M files kept in all
 *   --client FD      an attach client already connected (repeatable)
 *   -- ARGV...       what to exec when the container has exited (the Python side, which records
 *                    the exit, removes the cgroup and applies the restart policy); the wait status
 *                    and the listen fd are appended.
 *
 * Nothing here may block or grow without bound, whatever the container or a client does: every
 * fd is non-blocking; stdin from clients waits in a bounded queue (while it is full, clients are
 * not read: back-pressure); output to a client waits in its own bounded queue and a client that
 * falls too far behind is dropped; a frame larger than MAX_FRAME drops its client. Log lines are
 * always valid JSON: bytes that are not UTF-8 become U+FFFD, long lines are cut between characters.
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
#define MAX_FRAME (1u << 20)          /* largest frame a client may send */
#define MAX_CLIENT_QUEUE (4u << 20)   /* output a client may lag behind before it is dropped */
#define MAX_STDIN_QUEUE (1u << 20)    /* stdin waiting for the container to read it */
#define LOG_LINE 16384                /* Docker's json-file cuts longer lines here */
enum { F_STDIN = 0, F_STDOUT = 1, F_STDERR = 2, F_EXIT = 3, F_RESIZE = 4, F_STDIN_EOF = 5 };

struct queue { unsigned char *data; size_t len, cap; };

static int log_fd = -1, in_fd = -1, is_tty = 0, stdin_eof = 0;
static const char *log_path = NULL;
static long long log_max_size = 0, log_size = 0;
static int log_max_file = 1;
static int clients[MAX_CLIENTS];
static unsigned char *cbuf[MAX_CLIENTS];
static size_t clen[MAX_CLIENTS];
static struct queue cout[MAX_CLIENTS];
static struct queue stdin_q;
static char partial[2][LOG_LINE];
static size_t plen[2];

static void set_nonblock(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    if (fl >= 0) fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

/* Append to a queue; 0 when that would pass `limit` (or memory ran out). */
static int push(struct queue *q, const void *data, size_t len, size_t limit)
{
    if (q->len + len > limit) return 0;
    if (q->len + len > q->cap) {
        size_t cap = q->cap ? q->cap : 65536;
        while (cap < q->len + len) cap *= 2;
        unsigned char *p = realloc(q->data, cap);
        if (!p) return 0;
        q->data = p;
        q->cap = cap;
    }
    memcpy(q->data + q->len, data, len);
    q->len += len;
    return 1;
}

/* Write as much of the queue as `fd` takes now; -1 on a real error. */
static int flush_queue(int fd, struct queue *q, int is_socket)
{
    while (q->len) {
        ssize_t n = is_socket ? send(fd, q->data, q->len, MSG_NOSIGNAL | MSG_DONTWAIT) : write(fd, q->data, q->len);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return 0;
        if (n <= 0) return -1;
        memmove(q->data, q->data + n, q->len - (size_t)n);
        q->len -= (size_t)n;
    }
    return 0;
}

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

/* The length of the valid UTF-8 character at s (1..4), or 0 if the bytes there are not one
 * (a stray continuation byte, an overlong form, a surrogate, beyond U+10FFFF, or cut short). */
static size_t utf8_length(const unsigned char *s, size_t avail)
{
    unsigned char c = s[0];
    size_t n;
    unsigned lo = 0x80, hi = 0xBF;
    if (c < 0x80) return 1;
    if (c >= 0xC2 && c <= 0xDF) n = 2;
    else if (c >= 0xE0 && c <= 0xEF) { n = 3; if (c == 0xE0) lo = 0xA0; if (c == 0xED) hi = 0x9F; }
    else if (c >= 0xF0 && c <= 0xF4) { n = 4; if (c == 0xF0) lo = 0x90; if (c == 0xF4) hi = 0x8F; }
    else return 0;
    if (avail < n) return 0;
    if (s[1] < lo || s[1] > hi) return 0;
    for (size_t k = 2; k < n; k++)
        if ((s[k] & 0xC0) != 0x80) return 0;
    return n;
}

/* How many bytes at the end of buf[0..len) are the start of a character not yet complete. */
static size_t incomplete_tail(const char *buf, size_t len)
{
    for (size_t back = 1; back <= 3 && back <= len; back++) {
        unsigned char c = (unsigned char)buf[len - back];
        if ((c & 0xC0) == 0x80) continue;          /* a continuation byte: look further back */
        size_t need = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
        return need > back ? back : 0;
    }
    return 0;
}

/* --log-opt max-size/max-file: PATH.(M-2) -> PATH.(M-1), ..., PATH -> PATH.1, a new PATH (with
 * max-file 1 the one file is emptied). A rename that fails leaves the older file in place. */
static void rotate_log(void)
{
    char from[4096], to[4096];
    close(log_fd);
    for (int i = log_max_file - 1; i >= 1; i--) {
        if (i == 1) snprintf(from, sizeof from, "%s", log_path);
        else snprintf(from, sizeof from, "%s.%d", log_path, i - 1);
        snprintf(to, sizeof to, "%s.%d", log_path, i);
        rename(from, to);
    }
    log_fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_TRUNC | O_CLOEXEC, 0640);
    log_size = 0;
}

/* One json-file log line: {"log":"...","stream":"stdout","time":"RFC3339Nano"} */
static void log_line(int stream, const char *s, size_t len)
{
    static char out[LOG_LINE * 6 + 256];
    struct timespec ts;
    struct tm tm;
    size_t o = 0;
    o += (size_t)sprintf(out, "{\"log\":\"");
    for (size_t i = 0; i < len;) {
        unsigned char c = (unsigned char)s[i];
        size_t n = utf8_length((const unsigned char *)s + i, len - i);
        if (n > 1) { memcpy(out + o, s + i, n); o += n; i += n; continue; }
        i++;
        if (n == 0) { memcpy(out + o, "\\ufffd", 6); o += 6; }  /* not UTF-8 */
        else if (c == '"' || c == '\\') { out[o++] = '\\'; out[o++] = (char)c; }
        else if (c == '\n') { out[o++] = '\\'; out[o++] = 'n'; }
        else if (c == '\r') { out[o++] = '\\'; out[o++] = 'r'; }
        else if (c == '\t') { out[o++] = '\\'; out[o++] = 't'; }
        else if (c < 0x20 || c == 0x7f) o += (size_t)sprintf(out + o, "\\u%04x", c);
        else out[o++] = (char)c;
    }
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    o += (size_t)sprintf(out + o, "\",\"stream\":\"%s\",\"time\":\"", stream == 1 ? "stdout" : "stderr");
    o += strftime(out + o, 32, "%Y-%m-%dT%H:%M:%S", &tm);
    o += (size_t)sprintf(out + o, ".%09ldZ\"}\n", ts.tv_nsec);
    if (log_fd < 0) return;
    if (log_max_size > 0 && log_size > 0 && log_size + (long long)o > log_max_size) rotate_log();
    write_all(log_fd, out, o);
    log_size += (long long)o;
}

/* Complete lines go to the log; a partial line waits (or is cut when too long, between two
 * characters, or flushed at the end). */
static void log_data(int stream, const char *data, size_t len)
{
    int k = stream - 1;
    for (size_t i = 0; i < len; i++) {
        partial[k][plen[k]++] = data[i];
        if (data[i] == '\n') {
            log_line(stream, partial[k], plen[k]);
            plen[k] = 0;
        } else if (plen[k] == sizeof(partial[k])) {
            size_t keep = incomplete_tail(partial[k], plen[k]);
            log_line(stream, partial[k], plen[k] - keep);
            memmove(partial[k], partial[k] + plen[k] - keep, keep);
            plen[k] = keep;
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
    free(cout[i].data);
    cout[i] = (struct queue){0};
}

static void add_client(int fd)
{
    for (int i = 0; i < MAX_CLIENTS; i++)
        if (clients[i] < 0) {
            set_nonblock(fd);
            clients[i] = fd;
            return;
        }
    close(fd);
}

/* Queue a frame for every client and send what each takes now; a client too far behind goes. */
static void send_frame(int stream, const void *data, size_t len)
{
    unsigned char h[8] = {(unsigned char)stream, 0, 0, 0,
                          (unsigned char)(len >> 24), (unsigned char)(len >> 16),
                          (unsigned char)(len >> 8), (unsigned char)len};
    for (int i = 0; i < MAX_CLIENTS; i++) {
        if (clients[i] < 0)
            continue;
        if (!push(&cout[i], h, 8, MAX_CLIENT_QUEUE) || !push(&cout[i], data, len, MAX_CLIENT_QUEUE) ||
            flush_queue(clients[i], &cout[i], 1) < 0)
            drop_client(i);
    }
}

static void close_stdin(void)
{
    if (in_fd >= 0 && !is_tty) close(in_fd);
    if (!is_tty) in_fd = -1;
}

static void from_client(int i)
{
    unsigned char buf[65536];
    ssize_t n = recv(clients[i], buf, sizeof(buf), MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n <= 0) {
        drop_client(i);
        return;
    }
    if (!cbuf[i] && !(cbuf[i] = malloc(8 + MAX_FRAME + sizeof(buf)))) {
        drop_client(i);
        return;
    }
    memcpy(cbuf[i] + clen[i], buf, (size_t)n);
    clen[i] += (size_t)n;
    while (clen[i] >= 8) {
        uint32_t size = ((uint32_t)cbuf[i][4] << 24) | ((uint32_t)cbuf[i][5] << 16) |
                        ((uint32_t)cbuf[i][6] << 8) | cbuf[i][7];
        if (size > MAX_FRAME) {  /* no such frame is ever sent by pocketbox: a broken client */
            drop_client(i);
            return;
        }
        if (clen[i] < 8 + (size_t)size)
            break;
        unsigned char *payload = cbuf[i] + 8;
        if (cbuf[i][0] == F_STDIN && in_fd >= 0 && !stdin_eof) {
            push(&stdin_q, payload, size, MAX_STDIN_QUEUE + MAX_FRAME);  /* room checked before reading */
        } else if (cbuf[i][0] == F_STDIN_EOF && in_fd >= 0 && !is_tty) {
            stdin_eof = 1;  /* closed once what is queued has been written */
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
        clen[i] -= 8 + (size_t)size;
    }
}

static int arg_int(const char *v) { return (int)strtol(v, NULL, 10); }

int main(int argc, char **argv)
{
    pid_t pid = 0;
    int out_fd = -1, err_fd = -1, listen_fd = -1, then = 0;
    for (int i = 0; i < MAX_CLIENTS; i++) clients[i] = -1;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--")) { then = i + 1; break; }
        if (i + 1 >= argc) break;
        if (!strcmp(argv[i], "--pid")) pid = arg_int(argv[++i]);
        else if (!strcmp(argv[i], "--out")) out_fd = arg_int(argv[++i]);
        else if (!strcmp(argv[i], "--err")) err_fd = arg_int(argv[++i]);
        else if (!strcmp(argv[i], "--in")) in_fd = arg_int(argv[++i]);
        else if (!strcmp(argv[i], "--listen")) listen_fd = arg_int(argv[++i]);
        else if (!strcmp(argv[i], "--log")) log_path = argv[++i];
        else if (!strcmp(argv[i], "--log-max-size")) log_max_size = atoll(argv[++i]);
        else if (!strcmp(argv[i], "--log-max-file")) log_max_file = arg_int(argv[++i]);
        else if (!strcmp(argv[i], "--tty")) is_tty = arg_int(argv[++i]);
        else if (!strcmp(argv[i], "--client")) add_client(arg_int(argv[++i]));  /* accepted by the Python side */
    }
    if (!pid || out_fd < 0 || listen_fd < 0 || !log_path || !then || then >= argc) {
        fprintf(stderr, "pocketbox-monitor: bad arguments\n");
        return 125;
    }
    if (strcmp(log_path, "-")) {
        log_fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
        if (log_fd >= 0) log_size = lseek(log_fd, 0, SEEK_END);
    }
    if (log_max_file < 1) log_max_file = 1;
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGCHLD);
    sigprocmask(SIG_BLOCK, &mask, NULL);
    int sfd = signalfd(-1, &mask, SFD_CLOEXEC);

    int status = 0, exited = 0;
    /* the container may have exited before we were exec'd (its SIGCHLD went to the Python side) */
    if (waitpid(pid, &status, WNOHANG) == pid) exited = 1;
    int outs[2] = {out_fd, err_fd};
    if (in_fd >= 0) set_nonblock(in_fd);
    for (;;) {
        struct pollfd p[5 + MAX_CLIENTS];
        int n = 0, idx[MAX_CLIENTS];
        p[n++] = (struct pollfd){sfd, POLLIN, 0};
        p[n++] = (struct pollfd){listen_fd, POLLIN, 0};
        p[n++] = (struct pollfd){outs[0], POLLIN, 0};
        p[n++] = (struct pollfd){outs[1], POLLIN, 0};
        /* stdin: written when the container can take it; POLLOUT only while something waits */
        p[n++] = (struct pollfd){stdin_q.len && in_fd >= 0 ? in_fd : -1, POLLOUT, 0};
        int room = stdin_q.len < MAX_STDIN_QUEUE;  /* else clients are not read: back-pressure */
        for (int i = 0; i < MAX_CLIENTS; i++)
            if (clients[i] >= 0) {
                idx[n - 5] = i;
                p[n++] = (struct pollfd){clients[i], (short)((room ? POLLIN : 0) | (cout[i].len ? POLLOUT : 0)), 0};
            }
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
            int c = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
            if (c >= 0) add_client(c);
        }
        for (int k = 0; k < 2; k++) {
            if (outs[k] < 0 || !(p[2 + k].revents & (POLLIN | POLLHUP | POLLERR))) continue;
            char buf[65536];
            ssize_t got = read(outs[k], buf, sizeof(buf));
            if (got < 0 && (errno == EAGAIN || errno == EINTR)) continue;
            if (got <= 0) {  /* EOF, or EIO when the pty's last slave closed */
                if (outs[k] != in_fd) close(outs[k]);
                outs[k] = -1;
                continue;
            }
            log_data(k + 1, buf, (size_t)got);
            send_frame(k + 1, buf, (size_t)got);
        }
        if (p[4].revents & (POLLOUT | POLLERR | POLLHUP) && in_fd >= 0) {
            if (flush_queue(in_fd, &stdin_q, 0) < 0) {  /* the container closed its stdin */
                stdin_q.len = 0;
                close_stdin();
            }
        }
        if (stdin_eof && !stdin_q.len && in_fd >= 0) close_stdin();
        for (int j = 5; j < n; j++) {
            int i = idx[j - 5];
            if (clients[i] >= 0 && (p[j].revents & POLLOUT) && flush_queue(clients[i], &cout[i], 1) < 0)
                drop_client(i);
            if (clients[i] >= 0 && (p[j].revents & (POLLIN | POLLHUP | POLLERR))) from_client(i);
        }
    }
    for (int k = 0; k < 2; k++)
        if (plen[k]) { log_line(k + 1, partial[k], plen[k]); plen[k] = 0; }
    int code = WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status);
    char codetext[16];
    int clen_code = snprintf(codetext, sizeof(codetext), "%d", code);
    send_frame(F_EXIT, codetext, (size_t)clen_code);
    /* give clients that lag a moment (at most a second in all) to take the rest and the exit code */
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += 1;
    for (int i = 0; i < MAX_CLIENTS; i++) {
        while (clients[i] >= 0 && cout[i].len) {
            struct timespec now;
            clock_gettime(CLOCK_MONOTONIC, &now);
            long left = (until.tv_sec - now.tv_sec) * 1000 + (until.tv_nsec - now.tv_nsec) / 1000000;
            struct pollfd w = {clients[i], POLLOUT, 0};
            if (left <= 0 || poll(&w, 1, (int)left) <= 0 || flush_queue(clients[i], &cout[i], 1) < 0) break;
        }
    }
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
