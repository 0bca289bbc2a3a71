/* pocketbox-proxy: a published port's IPv6 side, in user space (what docker-proxy does for Docker).
 *
 * Why: a container on a bridge has only an IPv4 address, and the kernel cannot NAT an IPv6
 * connection to an IPv4 address. So `-p 8080:80` is two things: nftables DNAT for 0.0.0.0:8080,
 * and this process for [::]:8080, which accepts each IPv6 connection and opens an IPv4 one to
 * the container, copying bytes both ways.
 *
 *   pocketbox-proxy FD:IP:PORT [FD:IP:PORT ...]
 *
 * FD is a listening TCP socket pocketbox bound (and passed open); IP:PORT the container's side.
 * It runs until killed (pocketbox kills it when the container leaves the network). Bounded: at
 * most MAX_PAIRS connections, BUF bytes queued per direction; nothing blocks (epoll, non-blocking
 * fds). A half-close is passed on (shutdown), so request/response protocols finish cleanly. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_LISTEN 64
#define MAX_PAIRS 1024
#define BUF 65536

struct side { int fd; char buf[BUF]; size_t len; int eof; int shut; };
struct pair { struct side a, b; int connected; int used; };  /* a: the client, b: the container */

static struct { int fd; struct sockaddr_in to; } listeners[MAX_LISTEN];
static int nlisten;
static struct pair pairs[MAX_PAIRS];
static int ep;

static void set_nonblock(int fd) { fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK); }

/* epoll data: listeners are tagged 0..MAX_LISTEN-1; a pair's sides are MAX_LISTEN + 2*i (+1 for b) */
static void watch(int fd, unsigned long tag, unsigned events, int op)
{
    struct epoll_event ev = { .events = events, .data.u64 = tag };
    epoll_ctl(ep, op, fd, &ev);
}

static void close_pair(int i)
{
    struct pair *p = &pairs[i];
    close(p->a.fd);
    close(p->b.fd);
    memset(p, 0, sizeof *p);
}

static unsigned interest(struct side *self, struct side *other, int connected)
{
    unsigned ev = 0;
    if (!self->eof && other->len < BUF && connected) ev |= EPOLLIN;
    if (self->len || !connected) ev |= EPOLLOUT;  /* (b before it connects: wait for writability) */
    return ev;
}

static void rearm(int i)
{
    struct pair *p = &pairs[i];
    watch(p->a.fd, MAX_LISTEN + 2 * (unsigned long)i, interest(&p->a, &p->b, 1), EPOLL_CTL_MOD);
    watch(p->b.fd, MAX_LISTEN + 2 * (unsigned long)i + 1, interest(&p->b, &p->a, p->connected), EPOLL_CTL_MOD);
}

/* read from `from` into `to`'s queue; write `to`'s queue out; pass a half-close on */
static int pump(struct side *from, struct side *to)
{
    if (!from->eof && to->len < BUF) {
        ssize_t n = read(from->fd, to->buf + to->len, BUF - to->len);
        if (n > 0) to->len += (size_t)n;
        else if (n == 0) from->eof = 1;
        else if (errno != EAGAIN && errno != EINTR) return -1;
    }
    if (to->len) {
        ssize_t n = write(to->fd, to->buf, to->len);
        if (n > 0) { memmove(to->buf, to->buf + n, to->len - (size_t)n); to->len -= (size_t)n; }
        else if (n < 0 && errno != EAGAIN && errno != EINTR) return -1;
    }
    if (from->eof && !to->len && !to->shut) { shutdown(to->fd, SHUT_WR); to->shut = 1; }
    return 0;
}

static void accept_one(int l)
{
    int c = accept4(listeners[l].fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (c < 0) return;
    int i;
    for (i = 0; i < MAX_PAIRS && pairs[i].used; i++) ;
    int s = i < MAX_PAIRS ? socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0) : -1;
    if (s < 0) { close(c); return; }
    if (connect(s, (struct sockaddr *)&listeners[l].to, sizeof listeners[l].to) < 0 && errno != EINPROGRESS) {
        close(c); close(s); return;
    }
    struct pair *p = &pairs[i];
    memset(p, 0, sizeof *p);
    p->used = 1;
    p->a.fd = c;
    p->b.fd = s;
    watch(c, MAX_LISTEN + 2 * (unsigned long)i, 0, EPOLL_CTL_ADD);
    watch(s, MAX_LISTEN + 2 * (unsigned long)i + 1, 0, EPOLL_CTL_ADD);
    rearm(i);
}

int main(int argc, char **argv)
{
    signal(SIGPIPE, SIG_IGN);
    if (argc < 2) {
        fprintf(stderr, "pocketbox-proxy: the IPv6 side of published ports; pocketbox starts it\n");
        return 2;
    }
    ep = epoll_create1(EPOLL_CLOEXEC);
    for (int k = 1; k < argc && nlisten < MAX_LISTEN; k++) {
        char ip[64];
        int fd, port;
        if (sscanf(argv[k], "%d:%63[0-9.]:%d", &fd, ip, &port) != 3) {
            fprintf(stderr, "pocketbox-proxy: bad argument %s (FD:IP:PORT)\n", argv[k]);
            return 2;
        }
        listeners[nlisten].fd = fd;
        listeners[nlisten].to.sin_family = AF_INET;
        listeners[nlisten].to.sin_port = htons((unsigned short)port);
        if (inet_pton(AF_INET, ip, &listeners[nlisten].to.sin_addr) != 1) return 2;
        set_nonblock(fd);
        watch(fd, (unsigned long)nlisten, EPOLLIN, EPOLL_CTL_ADD);
        nlisten++;
    }
    struct epoll_event events[64];
    for (;;) {
        int n = epoll_wait(ep, events, 64, -1);
        for (int e = 0; e < n; e++) {
            unsigned long tag = events[e].data.u64;
            if (tag < MAX_LISTEN) { accept_one((int)tag); continue; }
            int i = (int)((tag - MAX_LISTEN) / 2);
            struct pair *p = &pairs[i];
            if (!p->used) continue;
            if (!p->connected && (tag - MAX_LISTEN) % 2 == 1) {
                int err = 0;
                socklen_t len = sizeof err;
                getsockopt(p->b.fd, SOL_SOCKET, SO_ERROR, &err, &len);
                if (err) { close_pair(i); continue; }
                p->connected = 1;
            }
            if (p->connected && (pump(&p->a, &p->b) < 0 || pump(&p->b, &p->a) < 0)) { close_pair(i); continue; }
            if (p->a.eof && p->b.eof && !p->a.len && !p->b.len) { close_pair(i); continue; }
            if (events[e].events & (EPOLLERR | EPOLLHUP)) { close_pair(i); continue; }  /* (after a last pump) */
            rearm(i);
        }
    }
}
