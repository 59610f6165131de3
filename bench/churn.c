/*
 * churn: presence churn load for bench/run.sh scenario (d).
 *
 * Rooms of --room-size native WebSocket connections on /c/churn-<r>: most
 * are members that stay and read; --churners per room connect, wait for
 * the 101 (the server has joined them to the room), send a close frame,
 * hang up and connect again, as fast as the server lets them.  Each cycle
 * is one join and one leave, both announced to the room's members (the
 * server runs with presence events on).  Prints one RESULT line:
 * joins+leaves per second, the presence events the members received per
 * second, and the server's CPU per join+leave.
 *
 * --proto phoenix: every connection is a Phoenix V2 socket
 * (/socket/websocket).  Members join the topic churn-<r> once; churners
 * join and leave it over and over on their open socket, each after the
 * reply to the last (how a Phoenix app's users move between rooms).  The
 * server tracks every joiner with Phoenix Presence
 * (bench/churn_server.lua), so each join and leave reaches the members
 * as a presence_diff, which they count.
 *
 * Loopback only; one process, one epoll loop.
 */
#define _GNU_SOURCE   /* memmem */

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum { ST_CONNECTING, ST_HS, ST_OPEN };

struct conn {
    int fd, room, churner, state;
    int joined;           /* phoenix churner: in the topic now */
    unsigned ref;         /* phoenix churner: the last ref sent */
    size_t have;          /* bytes in buf */
    size_t skip;          /* bytes of an oversize frame still to drop */
    char buf[4096];
};

struct opts {
    int port, rooms, room_size, churners, server_pid, src_ips, phoenix;
    double warmup, duration;
    const char *label;
};

static struct opts O = { 0, 10, 10, 1, 0, 4, 0, 1, 5, "churn" };

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int64_t proc_cpu_us(int pid)
{
    char path[64], buf[2048];
    unsigned long long ut = 0, st = 0;
    FILE *f;
    size_t n;
    char *p;

    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    if (!(f = fopen(path, "r")))
        return -1;
    n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    if (!(p = strrchr(buf, ')')))
        return -1;
    if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu",
               &ut, &st) != 2)
        return -1;
    return (int64_t)((ut + st) * 1000000ull / (unsigned long long)sysconf(_SC_CLK_TCK));
}

static int EP;
static uint64_t CYCLES, EVENTS, FAILS;

/* Starts a non-blocking connect from 127.0.0.(2 + k % src_ips): churners
 * use up ephemeral ports fast, and TIME_WAIT is per address pair. */
static int conn_start(struct conn *c, int k)
{
    struct sockaddr_in src, dst;
    struct epoll_event ev;
    int one = 1;

    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (c->fd < 0)
        return -1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    memset(&src, 0, sizeof src);
    src.sin_family = AF_INET;
    src.sin_addr.s_addr = htonl(0x7f000002u + (uint32_t)(k % O.src_ips));
    bind(c->fd, (struct sockaddr *)&src, sizeof src);
    memset(&dst, 0, sizeof dst);
    dst.sin_family = AF_INET;
    dst.sin_port = htons((uint16_t)O.port);
    dst.sin_addr.s_addr = htonl(0x7f000001u);
    if (connect(c->fd, (struct sockaddr *)&dst, sizeof dst) < 0 && errno != EINPROGRESS) {
        close(c->fd);
        return -1;
    }
    c->state = ST_CONNECTING;
    c->have = c->skip = 0;
    ev.events = EPOLLIN | EPOLLOUT;
    ev.data.ptr = c;
    epoll_ctl(EP, EPOLL_CTL_ADD, c->fd, &ev);
    return 0;
}

static void send_handshake(struct conn *c)
{
    char req[512], path[64];
    int n;

    if (O.phoenix)
        snprintf(path, sizeof path, "/socket/websocket?vsn=2.0.0");
    else
        snprintf(path, sizeof path, "/c/churn-%d", c->room);
    n = snprintf(req, sizeof req,
                 "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
                 "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                 "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                 "Sec-WebSocket-Version: 13\r\n\r\n", path, O.port);
    struct epoll_event ev = { .events = EPOLLIN, .data.ptr = c };

    if (n < 0 || n >= (int)sizeof req)
        n = 0;
    if (write(c->fd, req, (size_t)n) != n)
        FAILS++;
    epoll_ctl(EP, EPOLL_CTL_MOD, c->fd, &ev);
    c->state = ST_HS;
}

/* A churner is in: say goodbye properly (masked close frame), hang up, and
 * start over. */
static void churn_again(struct conn *c, int k)
{
    static const unsigned char bye[] = { 0x88, 0x82, 1, 2, 3, 4, 0x03 ^ 1, 0xe8 ^ 2 };

    if (write(c->fd, bye, sizeof bye) != (ssize_t)sizeof bye)
        FAILS++;
    close(c->fd);
    CYCLES++;
    if (conn_start(c, k))
        FAILS++;
}

/* Sends the next phx_join or phx_leave of a Phoenix churner, as a masked
 * text frame (a zero mask: the payload goes as it is). */
static void phx_next(struct conn *c, int k)
{
    unsigned char fr[256];
    char msg[200];
    int n;
    unsigned jr;

    c->ref++;
    jr = c->joined ? c->ref - 1 : c->ref;
    if (c->joined)
        n = snprintf(msg, sizeof msg, "[\"%u\",\"%u\",\"churn-%d\",\"phx_leave\",{}]",
                     jr, c->ref, c->room);
    else
        n = snprintf(msg, sizeof msg,
                     "[\"%u\",\"%u\",\"churn-%d\",\"phx_join\",{\"user\":\"u%d\"}]",
                     jr, c->ref, c->room, k);
    if (n < 0 || n > 125) {
        FAILS++;
        return;
    }
    fr[0] = 0x81;
    fr[1] = (unsigned char)(0x80 | n);
    memset(fr + 2, 0, 4);
    memcpy(fr + 6, msg, (size_t)n);
    if (write(c->fd, fr, (size_t)n + 6) != n + 6)
        FAILS++;
}

/* What a frame's payload means to this connection.  A churner's
 * phx_reply answers the join or leave in flight (one at a time; a leave's
 * reply ends a cycle) and sends the next; a member's marks it joined.
 * Members count the room's join/leave events (native) or presence_diffs
 * (phoenix). */
static void on_frame(struct conn *c, int k, const unsigned char *p, size_t len)
{
    if (!O.phoenix) {
        if (memmem(p, len, "\"type\":\"join\"", 13) ||
            memmem(p, len, "\"type\":\"leave\"", 14))
            EVENTS++;
        return;
    }
    if (memmem(p, len, "\"phx_reply\"", 11)) {
        if (!memmem(p, len, "\"status\":\"ok\"", 13))
            FAILS++;
        if (!c->churner) {
            c->joined = 1;
        } else {
            if (c->joined)
                CYCLES++;
            c->joined = !c->joined;
            phx_next(c, k);
        }
    } else if (!c->churner && memmem(p, len, "\"presence_diff\"", 15)) {
        EVENTS++;
    }
}

/* Splits the buffered bytes into server frames (unmasked) and hands each
 * complete one to on_frame.  A frame too big for the buffer (a
 * presence_state of a room of 1000) is skipped unread: nothing this
 * generator counts is ever that big. */
static void frames(struct conn *c, int k)
{
    size_t off = 0;

    if (c->skip) {
        off = c->skip < c->have ? c->skip : c->have;
        c->skip -= off;
    }
    for (;;) {
        const unsigned char *p = (const unsigned char *)c->buf + off;
        size_t avail = c->have - off, hl = 2, len, i;
        if (avail < 2)
            break;
        len = p[1] & 0x7f;
        if (len == 126) {
            if (avail < 4)
                break;
            len = (size_t)p[2] << 8 | p[3];
            hl = 4;
        } else if (len == 127) {
            if (avail < 10)
                break;
            for (len = 0, i = 2; i < 10; i++)
                len = len << 8 | p[i];
            hl = 10;
        }
        if (hl + len > sizeof c->buf) {
            c->skip = hl + len - avail;
            off = c->have;
            break;
        }
        if (avail < hl + len)
            break;
        on_frame(c, k, p + hl, len);
        off += hl + len;
    }
    memmove(c->buf, c->buf + off, c->have - off);
    c->have -= off;
}

static void on_event(struct conn *c, int k, uint32_t events)
{
    ssize_t n;

    if (c->state == ST_CONNECTING && (events & EPOLLOUT)) {
        send_handshake(c);
        return;
    }
    n = read(c->fd, c->buf + c->have, sizeof c->buf - c->have);
    if (n <= 0) {
        if (n < 0 && errno == EAGAIN)
            return;
        close(c->fd);       /* refused or dropped: count it, reconnect */
        FAILS++;
        conn_start(c, k);
        return;
    }
    c->have += (size_t)n;
    if (c->state == ST_HS) {
        char *end = memmem(c->buf, c->have, "\r\n\r\n", 4);
        if (!end)
            return;
        if (strncmp(c->buf, "HTTP/1.1 101", 12) != 0) {
            FAILS++;
            close(c->fd);
            conn_start(c, k);
            return;
        }
        if (c->churner && !O.phoenix) {
            churn_again(c, k);
            return;
        }
        c->state = ST_OPEN;
        c->have -= (size_t)(end + 4 - c->buf);
        memmove(c->buf, end + 4, c->have);
        if (O.phoenix) {
            c->joined = 0;
            phx_next(c, k);
        }
    }
    frames(c, k);
}

static void run(struct conn *cs, int total)
{
    struct epoll_event evs[256];
    int64_t t_meas = 0, t_end = 0, cpu0 = -1, cpu1 = -1;
    uint64_t cyc0 = 0, ev0 = 0, cyc1 = 0, ev1 = 0;
    int i, started = 0, measuring = 0;

    for (i = 0; i < total; i++)
        if (!cs[i].churner && conn_start(&cs[i], i) == 0)
            started++;
    /* members first, so every churner's join has an audience */
    for (int64_t t = now_ns() + 10000000000LL; now_ns() < t;) {
        int n = epoll_wait(EP, evs, 256, 100), open = 0;
        for (i = 0; i < n; i++) {
            struct conn *c = evs[i].data.ptr;
            on_event(c, (int)(c - cs), evs[i].events);
        }
        for (i = 0; i < total; i++)
            open += !cs[i].churner && cs[i].state == ST_OPEN &&
                    (!O.phoenix || cs[i].joined);
        if (open == started)
            break;
    }
    for (i = 0; i < total; i++)
        if (cs[i].churner)
            conn_start(&cs[i], i);
    t_meas = now_ns() + (int64_t)(O.warmup * 1e9);
    t_end = t_meas + (int64_t)(O.duration * 1e9);
    for (;;) {
        int64_t now = now_ns();
        int n;
        if (!measuring && now >= t_meas) {
            measuring = 1;
            cpu0 = O.server_pid ? proc_cpu_us(O.server_pid) : -1;
            cyc0 = CYCLES;
            ev0 = EVENTS;
        }
        if (now >= t_end)
            break;
        n = epoll_wait(EP, evs, 256, 10);
        for (i = 0; i < n; i++) {
            struct conn *c = evs[i].data.ptr;
            on_event(c, (int)(c - cs), evs[i].events);
        }
    }
    cpu1 = O.server_pid ? proc_cpu_us(O.server_pid) : -1;
    cyc1 = CYCLES;
    ev1 = EVENTS;
    {
        double secs = O.duration, jl = 2.0 * (double)(cyc1 - cyc0) / secs;
        double cpu = cpu0 >= 0 && cpu1 >= 0 ? (double)(cpu1 - cpu0) : -1;
        printf("RESULT label=%s members=%d rooms=%d room_size=%d churners=%d "
               "joins_leaves_per_s=%.0f events_per_s=%.0f fails=%llu "
               "cpu_us_per_join_leave=%.3f\n",
               O.label, started, O.rooms, O.room_size, O.churners * O.rooms, jl,
               (double)(ev1 - ev0) / secs, (unsigned long long)FAILS,
               cpu >= 0 && jl > 0 ? cpu / (jl * secs) : -1.0);
    }
}

int main(int argc, char **argv)
{
    struct conn *cs;
    int i, total;

    for (i = 1; i + 1 < argc; i += 2) {
        const char *a = argv[i], *v = argv[i + 1];
        if (!strcmp(a, "--port")) O.port = atoi(v);
        else if (!strcmp(a, "--rooms")) O.rooms = atoi(v);
        else if (!strcmp(a, "--room-size")) O.room_size = atoi(v);
        else if (!strcmp(a, "--churners")) O.churners = atoi(v);
        else if (!strcmp(a, "--server-pid")) O.server_pid = atoi(v);
        else if (!strcmp(a, "--src-ips")) O.src_ips = atoi(v);
        else if (!strcmp(a, "--warmup")) O.warmup = atof(v);
        else if (!strcmp(a, "--duration")) O.duration = atof(v);
        else if (!strcmp(a, "--label")) O.label = v;
        else if (!strcmp(a, "--proto")) O.phoenix = !strcmp(v, "phoenix");
        else {
            fprintf(stderr, "churn: unknown option %s\n", a);
            return 2;
        }
    }
    if (!O.port || O.rooms < 1 || O.churners < 1 || O.room_size <= O.churners ||
        O.src_ips < 1 || O.duration <= 0) {
        fprintf(stderr, "usage: churn --port P [--rooms R] [--room-size S] [--churners K]"
                        " [--duration s] [--warmup s] [--server-pid PID] [--label L]"
                        " [--proto native|phoenix]\n");
        return 2;
    }
    total = O.rooms * O.room_size;
    cs = calloc((size_t)total, sizeof *cs);
    EP = epoll_create1(0);
    if (!cs || EP < 0)
        return 1;
    for (i = 0; i < total; i++) {
        cs[i].room = i % O.rooms;
        cs[i].churner = i / O.rooms < O.churners;
        cs[i].fd = -1;
    }
    run(cs, total);
    return 0;
}
