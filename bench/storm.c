/*
 * storm: a join/leave storm on one channel (issue 18, item 2).
 *
 * --conns N native WebSocket connections to /c/<channel> are opened as fast
 * as the server takes them (at most --max-pending handshakes in flight at
 * a time), every one reading everything it gets.  The join phase lasts
 * until every connection has its own join frame (the one with
 * "self":true), no client has received a byte for --quiet seconds and
 * the server has answered a GET /metrics sent after the last one: so the
 * leave starts on an idle server and its times are the leave's alone.
 * Then all N leave at once: each sends a close frame and reads on until
 * the server hangs up (--leave close, the default), or just closes its
 * socket (--leave drop, no reads: nothing is counted in that phase).
 *
 * Measured:
 *   join_s           start until the last connection has its own join frame
 *   join_settle_s    start until the last byte of the join phase
 *   join_idle_s      start until the leave began (the server idle again)
 *   join_frames/_bytes  what the clients received in the join phase
 *                    (text/binary frames; bytes on the wire after the 101)
 *   leave_s          close frames sent until GET /metrics shows 0
 *                    connections (switchboard_connections, all protocols)
 *   leave_clients_s  close frames sent until the last client saw its end
 *   leave_frames/_bytes  what the clients received after their close frame
 *   rss_*_kb         the server's VmRSS before the first connect, the
 *                    highest of one sample per 50 ms, and 2 s after the
 *                    server showed 0 connections (hwm_kb: its VmHWM then)
 *   metrics_*_ms     latency of GET /metrics started every 100 ms from the
 *                    first connect until 0 connections (each on a new TCP
 *                    connection, so a stall shows in every request it
 *                    overlaps); a request not answered in 10 s counts 10 s
 *                    (metrics_capped: how many)
 *   srv_cpu_*_s      the server's utime+stime: join phase, leave phase
 *                    (until 0 connections), whole run
 *   srv_queued_*     frames the server queued to connections
 *                    (switchboard_messages_delivered_total): _join from
 *                    the last /metrics answer before the leave, _total
 *                    from one 2 s after 0 connections, _leave the
 *                    difference (with --leave drop, frames nobody reads);
 *                    _join and _leave are -1 after a join or settle
 *                    timeout, when the last answer before the leave is
 *                    a stale one
 *
 * Processes: the parent only samples (/metrics, /proc) and moves the
 * phases, so its timing does not wait behind the clients' reading;
 * --procs K children hold the connections (K = 2 for 20,000: one process
 * may have 20,000 fds here) and share counters through one MAP_SHARED
 * region.  Each child has one epoll loop.
 *
 * A time that was not reached is -1.  Connections answer the server's
 * pings (pongs=), so a long run is not cut by its idle timeout; a 503 at
 * the handshake counts as refused= (a connection cap), anything else that
 * is not a 101 as failed=.
 *
 * Loopback only.  Every phase is bounded (--join-timeout, --leave-timeout);
 * one that runs out is reported as timeout=join (not every connection got
 * its join frame), settle (they did, but the traffic went on or /metrics
 * did not answer) or leave (the server still had connections), with what
 * was reached.
 */
#define _GNU_SOURCE   /* memmem, IP_BIND_ADDRESS_NO_PORT */

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

#define MAX_PROCS 8
#define CARRY 512             /* bytes of a partial frame kept per connection */
#define SCRATCH (256u << 10)  /* one read */
#define MREQS 160             /* /metrics requests in flight (10 s / 100 ms + serial) */
#define MCAP_NS 10000000000LL /* a /metrics request counts at most 10 s */

enum { ST_IDLE, ST_CONNECTING, ST_HS, ST_OPEN, ST_CLOSING, ST_DONE };

struct conn {
    int fd, state, joined;
    uint32_t skip;            /* payload bytes of a big frame still to drop */
    uint16_t have;            /* bytes in carry */
    unsigned char carry[CARRY];
};

/* One child's counters: written by that child only, read by the parent. */
struct stats {
    uint64_t frames[2], bytes[2];   /* [0] join phase, [1] leave phase */
    int64_t last_rx[2];             /* last read with data, per phase */
    int64_t last_join, last_end;    /* last own join frame; last hang-up */
    /* each connection ends as exactly one of ended (left as asked),
     * refused (503), failed (no 101) or dropped (closed under it);
     * lost: dropped before its own join frame */
    int64_t joined, refused, failed, dropped, lost, server_closed, ended, pongs;
    int last_close_code;
};

struct shm {
    int64_t t0;
    int phase;                      /* 0 join, 1 leave, 2 quit */
    struct stats p[MAX_PROCS];
};

struct opts {
    int port, conns, procs, server_pid, src_ips, max_pending, drop;
    double quiet, join_timeout, leave_timeout, after;
    const char *channel, *label;
};

static struct opts O = { 0, 2000, 1, 0, 4, 1000, 0, 1.0, 120, 120, 2.0, "storm", "storm" };
static volatile struct shm *SH;
static int EP;

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void die(const char *msg)
{
    fprintf(stderr, "storm: %s\n", msg);
    exit(1);
}

/* ---- the server's process: /proc ------------------------------------- */

static long proc_kb(int pid, const char *key)
{
    char path[64], line[256];
    size_t kl = strlen(key);
    long v = -1;
    FILE *f;

    snprintf(path, sizeof path, "/proc/%d/status", pid);
    if (!(f = fopen(path, "r")))
        return -1;
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, key, kl) && line[kl] == ':') {
            v = atol(line + kl + 1);
            break;
        }
    fclose(f);
    return v;
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

/* ---- sockets ---------------------------------------------------------- */

/* A non-blocking connect to 127.0.0.1:port from 127.0.0.(1 + k % src_ips),
 * the source port picked at connect time, added to EP with ptr. */
static int tcp_start(int k, void *ptr)
{
    struct sockaddr_in sa;
    struct epoll_event ev;
    int one = 1, fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

    if (fd < 0)
        return -1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (O.src_ips > 1) {
        memset(&sa, 0, sizeof sa);
        sa.sin_family = AF_INET;
        sa.sin_addr.s_addr = htonl(0x7f000001u + (uint32_t)(k % O.src_ips));
        setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
        if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
            close(fd);
            return -1;
        }
    }
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)O.port);
    sa.sin_addr.s_addr = htonl(0x7f000001u);
    ev.events = EPOLLIN | EPOLLOUT;
    ev.data.ptr = ptr;
    if (epoll_ctl(EP, EPOLL_CTL_ADD, fd, &ev) < 0 ||
        (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0 && errno != EINPROGRESS)) {
        close(fd);
        return -1;
    }
    return fd;
}

static void want_in(int fd, void *ptr)
{
    struct epoll_event ev = { .events = EPOLLIN, .data.ptr = ptr };
    epoll_ctl(EP, EPOLL_CTL_MOD, fd, &ev);
}

/* ---- the clients (children) ------------------------------------------- */

static struct conn *C;
static int CN;                 /* connections of this child */
static int KID;                /* this child's slot */
static int PHASE;              /* this child's view: 0 join, 1 leave */
static int PENDING;            /* connecting or in the handshake */
static unsigned char SCR[CARRY + SCRATCH];

#define ST (SH->p[KID])

static void conn_end(struct conn *c)
{
    if (c->state == ST_CONNECTING || c->state == ST_HS)
        PENDING--;
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    c->state = ST_DONE;
}

static void send_handshake(struct conn *c)
{
    char req[512];
    int n = snprintf(req, sizeof req,
                     "GET /c/%s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
                     "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                     "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                     "Sec-WebSocket-Version: 13\r\n\r\n", O.channel, O.port);

    if (n < 0 || n >= (int)sizeof req || write(c->fd, req, (size_t)n) != n) {
        ST.failed++;
        conn_end(c);
        return;
    }
    want_in(c->fd, c);
    c->state = ST_HS;
}

/* A masked control frame (close 1000, or a pong echoing a ping's payload). */
static void send_control(struct conn *c, int op, const unsigned char *p, size_t n)
{
    unsigned char fr[6 + 125];
    size_t i;

    if (n > 125)
        n = 125;
    fr[0] = (unsigned char)(0x80 | op);
    fr[1] = (unsigned char)(0x80 | n);
    fr[2] = 0x11; fr[3] = 0x22; fr[4] = 0x33; fr[5] = 0x44;
    for (i = 0; i < n; i++)
        fr[6 + i] = p[i] ^ fr[2 + (i & 3)];
    if (write(c->fd, fr, 6 + n) != (ssize_t)(6 + n) && op != 0x8)
        ST.failed++;
}

/* Looks for the connection's own join in (part of) a frame. */
static void find_self(struct conn *c, const unsigned char *p, size_t len)
{
    if (!c->joined && memmem(p, len, "\"self\":true", 11)) {
        c->joined = 1;
        ST.joined++;
        ST.last_join = now_ns();
    }
}

static void on_frame(struct conn *c, int op, const unsigned char *p, size_t len)
{
    switch (op) {
    case 0x0: case 0x1: case 0x2:
        ST.frames[PHASE]++;
        find_self(c, p, len);
        break;
    case 0x8:
        if (c->state == ST_OPEN) {
            ST.server_closed++;
            ST.last_close_code = len >= 2 ? p[0] << 8 | p[1] : 1005;
        }
        break;
    case 0x9:
        if (c->state == ST_OPEN) {
            send_control(c, 0xA, p, len);   /* the server's keepalive */
            ST.pongs++;
        }
        break;
    default:
        break;
    }
}

/* Splits p[0..n) (the carry and what was just read) into server frames;
 * an incomplete frame that fits goes back to the carry, a bigger one is
 * counted now and the rest of it skipped, each piece searched for the own
 * join (one split across two reads would be missed). */
static void parse(struct conn *c, unsigned char *p, size_t n)
{
    size_t off = 0;

    if (c->skip) {
        off = c->skip < n ? c->skip : n;
        c->skip -= (uint32_t)off;
        find_self(c, p, off);
    }
    while (n - off >= 2) {
        const unsigned char *f = p + off;
        size_t avail = n - off, hl = 2, len = f[1] & 0x7f, i;
        if (len == 126) {
            if (avail < 4)
                break;
            len = (size_t)f[2] << 8 | f[3];
            hl = 4;
        } else if (len == 127) {
            if (avail < 10)
                break;
            for (len = 0, i = 2; i < 10; i++)
                len = len << 8 | f[i];
            hl = 10;
        }
        if (avail < hl + len) {
            if (hl + len <= CARRY)
                break;
            on_frame(c, f[0] & 0x0f, f + hl, avail - hl);
            c->skip = (uint32_t)(hl + len - avail);
            off = n;
            break;
        }
        on_frame(c, f[0] & 0x0f, f + hl, len);
        off += hl + len;
    }
    c->have = (uint16_t)(n - off);
    memcpy(c->carry, p + off, c->have);
}

static void on_readable(struct conn *c)
{
    ssize_t r;
    size_t n, head = 0;

    memcpy(SCR, c->carry, c->have);
    r = read(c->fd, SCR + c->have, SCRATCH);
    if (r <= 0) {
        if (r < 0 && errno == EAGAIN)
            return;
        if (c->state == ST_CLOSING) {
            ST.ended++;
            ST.last_end = now_ns();
        } else if (c->state == ST_HS) {
            ST.failed++;
        } else {
            ST.dropped++;
            ST.lost += !c->joined;
        }
        conn_end(c);
        return;
    }
    n = c->have + (size_t)r;
    if (c->state == ST_HS) {
        unsigned char *end = memmem(SCR, n, "\r\n\r\n", 4);
        if (!end) {
            if (n >= CARRY) {
                ST.failed++;
                conn_end(c);
                return;
            }
            c->have = (uint16_t)n;
            memcpy(c->carry, SCR, n);
            return;
        }
        head = (size_t)(end + 4 - SCR);
        if (n < 12 || memcmp(SCR, "HTTP/1.1 101", 12) != 0) {
            if (n >= 12 && !memcmp(SCR + 9, "503", 3))
                ST.refused++;   /* a connection cap said no */
            else
                ST.failed++;
            conn_end(c);
            return;
        }
        PENDING--;
        c->state = ST_OPEN;
        if (PHASE) {            /* the leave began during the handshake */
            send_control(c, 0x8, (const unsigned char *)"\x03\xe8", 2);
            c->state = ST_CLOSING;
        }
    }
    ST.bytes[PHASE] += head ? n - head : (size_t)r;
    ST.last_rx[PHASE] = now_ns();
    c->have = 0;
    parse(c, SCR + head, n - head);
}

static void on_event(struct conn *c, uint32_t ev)
{
    if (c->state == ST_CONNECTING) {
        if (ev & (EPOLLERR | EPOLLHUP)) {
            ST.failed++;
            conn_end(c);
        } else if (ev & EPOLLOUT) {
            send_handshake(c);
        }
        return;
    }
    if (c->state == ST_DONE)
        return;
    on_readable(c);
}

/* Everyone leaves at once. */
static void leave_all(void)
{
    int i;

    for (i = 0; i < CN; i++) {
        struct conn *c = &C[i];
        if (c->state == ST_DONE)
            continue;
        if (c->state != ST_OPEN || O.drop) {
            if (c->state == ST_OPEN) {
                ST.ended++;
                ST.last_end = now_ns();
            } else {
                ST.failed++;    /* not started or in its handshake: never joined */
            }
            if (c->state == ST_IDLE)
                c->state = ST_DONE;
            else
                conn_end(c);
            continue;
        }
        send_control(c, 0x8, (const unsigned char *)"\x03\xe8", 2);
        c->state = ST_CLOSING;
    }
}

static void child_main(int kid, int first, int count)
{
    static struct epoll_event evs[512];
    int i, next = 0, live;

    KID = kid;
    CN = count;
    C = calloc((size_t)count, sizeof *C);
    EP = epoll_create1(EPOLL_CLOEXEC);
    if (!C || EP < 0)
        _exit(1);
    for (i = 0; i < count; i++)
        C[i].fd = -1;
    for (;;) {
        int phase = __atomic_load_n(&SH->phase, __ATOMIC_ACQUIRE), n;
        if (phase >= 1 && !PHASE) {
            PHASE = 1;
            leave_all();
        }
        if (phase >= 2)
            break;
        while (!PHASE && next < count && PENDING < O.max_pending) {
            struct conn *c = &C[next];
            c->fd = tcp_start(first + next, c);
            next++;
            if (c->fd < 0) {
                ST.failed++;
                c->state = ST_DONE;
                continue;
            }
            c->state = ST_CONNECTING;
            PENDING++;
        }
        n = epoll_wait(EP, evs, 512, 10);
        for (i = 0; i < n; i++)
            on_event(evs[i].data.ptr, evs[i].events);
        if (PHASE) {
            for (live = 0, i = 0; i < count && !live; i++)
                live = C[i].state != ST_DONE;
            if (!live)
                break;
        }
    }
    for (i = 0; i < count; i++)
        if (C[i].fd >= 0)
            close(C[i].fd);
    _exit(0);
}

/* ---- the sampler (parent) --------------------------------------------- */

struct mreq {
    int fd, periodic, sent;
    int64_t t;
    size_t have;
    char buf[16384];
};

static struct mreq MR[MREQS];
static double *LAT;            /* periodic request latencies, ms */
static size_t NLAT, CAPLAT;
static int MCAPPED, MERRORS;
static int64_t GAUGE = -1;     /* the last connection count read */
static int64_t T_GAUGE;        /* when it was read */
static int64_t T_ASKED;        /* when the request read last was sent */
static int64_t QUEUED = -1;    /* the last switchboard_messages_delivered_total */
static int SERIAL_BUSY;

static void lat_add(double ms)
{
    if (NLAT == CAPLAT) {
        CAPLAT = CAPLAT ? 2 * CAPLAT : 1024;
        LAT = realloc(LAT, CAPLAT * sizeof *LAT);
        if (!LAT)
            die("out of memory");
    }
    LAT[NLAT++] = ms;
}

static void mreq_start(int periodic)
{
    int i;

    for (i = 0; i < MREQS && MR[i].fd >= 0; i++)
        ;
    if (i == MREQS) {
        MERRORS++;
        return;
    }
    MR[i].fd = tcp_start(0, &MR[i]);
    if (MR[i].fd < 0) {
        MERRORS++;
        return;
    }
    MR[i].periodic = periodic;
    MR[i].t = now_ns();
    MR[i].have = 0;
    MR[i].sent = 0;
    SERIAL_BUSY |= !periodic;
}

static void mreq_done(struct mreq *m, int ok)
{
    int64_t t = now_ns();

    if (m->periodic)
        lat_add((double)(t - m->t) / 1e6);
    else
        SERIAL_BUSY = 0;
    if (ok && m->have >= 12 && !memcmp(m->buf, "HTTP/1.1 200", 12)) {
        int64_t sum = 0;
        int seen = 0;
        char *p = m->buf;
        m->buf[m->have < sizeof m->buf ? m->have : sizeof m->buf - 1] = 0;
        while ((p = strstr(p, "\nswitchboard_connections{"))) {
            char *sp = strchr(p, '}');
            if (!sp)
                break;
            sum += atoll(sp + 1);
            seen = 1;
            p = sp;
        }
        if (seen && t > T_GAUGE) {
            GAUGE = sum;
            T_GAUGE = t;
            T_ASKED = m->t;
            if ((p = strstr(m->buf, "\nswitchboard_messages_delivered_total ")))
                QUEUED = atoll(p + 38);
        }
    } else {
        MERRORS++;
    }
    close(m->fd);
    m->fd = -1;
}

static void mreq_event(struct mreq *m, uint32_t ev)
{
    static const char req[] = "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                              "Connection: close\r\n\r\n";
    ssize_t r;

    if (!m->sent && (ev & EPOLLOUT) && !(ev & (EPOLLERR | EPOLLHUP))) {
        if (write(m->fd, req, sizeof req - 1) != (ssize_t)(sizeof req - 1)) {
            mreq_done(m, 0);
            return;
        }
        m->sent = 1;
        want_in(m->fd, m);
        return;
    }
    r = read(m->fd, m->buf + m->have, sizeof m->buf - 1 - m->have);
    if (r < 0 && errno == EAGAIN)
        return;
    if (r > 0) {
        m->have += (size_t)r;
        if (m->have < sizeof m->buf - 1)
            return;
    }
    mreq_done(m, 1);   /* Connection: close: the end of the answer */
}

/* Requests past 10 s count as 10 s. */
static void mreq_expire(void)
{
    int64_t t = now_ns();
    int i;

    for (i = 0; i < MREQS; i++)
        if (MR[i].fd >= 0 && t - MR[i].t > MCAP_NS) {
            if (MR[i].periodic)
                lat_add(MCAP_NS / 1e6);
            else
                SERIAL_BUSY = 0;
            MCAPPED++;
            close(MR[i].fd);
            MR[i].fd = -1;
        }
}

static int mreq_busy(void)
{
    int i, n = 0;
    for (i = 0; i < MREQS; i++)
        n += MR[i].fd >= 0;
    return n;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double pct(double q)
{
    size_t i;
    if (!NLAT)
        return -1;
    i = (size_t)(q * (double)(NLAT - 1) + 0.5);
    return LAT[i];
}

/* Sums of the children's counters. */
struct total {
    uint64_t frames[2], bytes[2];
    int64_t last_rx[2], last_join, last_end;
    int64_t joined, refused, failed, dropped, lost, server_closed, ended, pongs;
    int close_code;
};

static struct total totals(void)
{
    struct total t;
    int k, i;

    memset(&t, 0, sizeof t);
    for (k = 0; k < O.procs; k++) {
        volatile struct stats *s = &SH->p[k];
        for (i = 0; i < 2; i++) {
            t.frames[i] += s->frames[i];
            t.bytes[i] += s->bytes[i];
            if (s->last_rx[i] > t.last_rx[i])
                t.last_rx[i] = s->last_rx[i];
        }
        if (s->last_join > t.last_join)
            t.last_join = s->last_join;
        if (s->last_end > t.last_end)
            t.last_end = s->last_end;
        t.joined += s->joined;
        t.refused += s->refused;
        t.failed += s->failed;
        t.dropped += s->dropped;
        t.lost += s->lost;
        t.server_closed += s->server_closed;
        t.ended += s->ended;
        t.pongs += s->pongs;
        if (s->last_close_code)
            t.close_code = s->last_close_code;
    }
    return t;
}

static double secs(int64_t a, int64_t b)
{
    return a && b >= a ? (double)(b - a) / 1e9 : -1;
}

static void usage(void)
{
    fprintf(stderr,
            "usage: storm --port P [--conns N] [--procs K] [--server-pid PID]\n"
            "             [--channel NAME] [--max-pending H] [--src-ips S] [--quiet s]\n"
            "             [--join-timeout s] [--leave-timeout s] [--leave close|drop]\n"
            "             [--label L]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    static struct epoll_event evs[64];
    pid_t kids[MAX_PROCS];
    struct rlimit rl;
    struct total t;
    int i, k, sp, phase = 0, timeout = 0;
    int64_t t0, t_joined = 0, t_leave = 0, t_zero = 0, t_after = 0;
    int64_t next_rss, next_lat, next_serial = 0, cpu0, cpu_leave = -1, cpu_zero = -1, cpu1;
    int64_t q0, q_join = -1, q_end = -1;
    long rss_before, rss_peak = -1, rss_after = -1, hwm = -1, v;
    double loadavg = -1;
    FILE *la;

    for (i = 1; i < argc; i += 2) {
        const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help") || !val) usage();
        else if (!strcmp(a, "--port")) O.port = atoi(val);
        else if (!strcmp(a, "--conns")) O.conns = atoi(val);
        else if (!strcmp(a, "--procs")) O.procs = atoi(val);
        else if (!strcmp(a, "--server-pid")) O.server_pid = atoi(val);
        else if (!strcmp(a, "--src-ips")) O.src_ips = atoi(val);
        else if (!strcmp(a, "--max-pending")) O.max_pending = atoi(val);
        else if (!strcmp(a, "--quiet")) O.quiet = atof(val);
        else if (!strcmp(a, "--join-timeout")) O.join_timeout = atof(val);
        else if (!strcmp(a, "--leave-timeout")) O.leave_timeout = atof(val);
        else if (!strcmp(a, "--leave")) O.drop = !strcmp(val, "drop");
        else if (!strcmp(a, "--channel")) O.channel = val;
        else if (!strcmp(a, "--label")) O.label = val;
        else {
            fprintf(stderr, "storm: unknown option %s\n", a);
            usage();
        }
    }
    if (!O.port || O.conns < 1 || O.procs < 1 || O.procs > MAX_PROCS || O.src_ips < 1 ||
        O.src_ips > 254 || O.max_pending < 1 || O.quiet <= 0 ||
        O.join_timeout <= 0 || O.leave_timeout <= 0 ||
        O.join_timeout + O.leave_timeout > 1800 || strlen(O.channel) > 200)
        usage();
    getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    if ((rlim_t)(O.conns / O.procs + 64) > rl.rlim_cur) {
        fprintf(stderr, "storm: %d connections per process exceed the fd limit %llu: use --procs\n",
                O.conns / O.procs + 1, (unsigned long long)rl.rlim_cur);
        return 2;
    }
    SH = mmap(NULL, sizeof(struct shm), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
              -1, 0);
    if (SH == MAP_FAILED)
        die("mmap failed");
    EP = epoll_create1(EPOLL_CLOEXEC);
    if (EP < 0)
        die("epoll_create1 failed");
    for (i = 0; i < MREQS; i++)
        MR[i].fd = -1;
    if ((la = fopen("/proc/loadavg", "r"))) {
        if (fscanf(la, "%lf", &loadavg) != 1)
            loadavg = -1;
        fclose(la);
    }
    sp = O.server_pid;
    /* the server answers, and holds nobody yet */
    mreq_start(0);
    for (int64_t end = now_ns() + 5000000000LL; SERIAL_BUSY && now_ns() < end;) {
        int n = epoll_wait(EP, evs, 64, 50);
        for (i = 0; i < n; i++)
            mreq_event(evs[i].data.ptr, evs[i].events);
    }
    if (GAUGE < 0)
        fprintf(stderr, "storm: warning: no answer from /metrics before the storm\n");
    else if (GAUGE > 0)
        fprintf(stderr, "storm: warning: /metrics before the storm: %lld connections\n",
                (long long)GAUGE);
    q0 = QUEUED;
    rss_before = sp ? proc_kb(sp, "VmRSS") : -1;
    cpu0 = sp ? proc_cpu_us(sp) : -1;
    fflush(stdout);
    fflush(stderr);
    t0 = now_ns();
    SH->t0 = t0;
    for (k = 0; k < O.procs; k++) {
        int first = (int)((int64_t)O.conns * k / O.procs);
        int last = (int)((int64_t)O.conns * (k + 1) / O.procs);
        kids[k] = fork();
        if (kids[k] < 0)
            die("fork failed");
        if (kids[k] == 0) {
            prctl(PR_SET_PDEATHSIG, SIGKILL);   /* a killed run leaves no load */
            if (getppid() == 1)
                _exit(1);
            close(EP);
            child_main(k, first, last - first);
        }
    }
    next_rss = t0;
    next_lat = t0;
    for (;;) {
        int64_t now = now_ns();
        int n;
        if (now >= next_rss && sp) {
            v = proc_kb(sp, "VmRSS");
            if (v > rss_peak)
                rss_peak = v;
            next_rss += 50000000;
        }
        if (phase < 2 && now >= next_lat) {
            mreq_start(1);
            next_lat += 100000000;
        }
        mreq_expire();
        t = totals();
        if (phase == 0) {
            int resolved = t.joined + t.refused + t.failed + t.lost >= O.conns;
            if (resolved && !t_joined)
                t_joined = t.last_join ? t.last_join : now;
            int idle = resolved && now - t.last_rx[0] >= (int64_t)(O.quiet * 1e9) &&
                       T_ASKED > t.last_rx[0];
            if (idle || now - t0 > (int64_t)(O.join_timeout * 1e9)) {
                if (!idle)
                    timeout = resolved ? 3 : 1;
                t_leave = now_ns();
                __atomic_store_n(&SH->phase, 1, __ATOMIC_RELEASE);
                cpu_leave = sp ? proc_cpu_us(sp) : -1;
                q_join = QUEUED;
                phase = 1;
            }
        } else if (phase == 1) {
            /* one gauge request at a time while the connections go */
            if (!SERIAL_BUSY && now >= next_serial) {
                mreq_start(0);
                next_serial = now + 10000000;
            }
            if (!t_zero && GAUGE == 0 && T_GAUGE > t_leave) {
                t_zero = T_GAUGE;
                cpu_zero = sp ? proc_cpu_us(sp) : -1;
            }
            if ((t_zero && t.ended + t.refused + t.failed + t.dropped >= O.conns) ||
                now - t_leave > (int64_t)(O.leave_timeout * 1e9)) {
                if (!t_zero)
                    timeout = 2;
                t_after = (t_zero ? t_zero : now) + (int64_t)(O.after * 1e9);
                phase = 2;
            }
        } else if (now >= t_after && rss_after < 0) {
            rss_after = sp ? proc_kb(sp, "VmRSS") : -1;
            hwm = sp ? proc_kb(sp, "VmHWM") : -1;
            mreq_start(0);   /* the frames queued in all */
        } else if (rss_after >= 0 && !mreq_busy()) {
            q_end = QUEUED;
            break;
        }
        n = epoll_wait(EP, evs, 64, 5);
        for (i = 0; i < n; i++)
            mreq_event(evs[i].data.ptr, evs[i].events);
    }
    cpu1 = sp ? proc_cpu_us(sp) : -1;
    __atomic_store_n(&SH->phase, 2, __ATOMIC_RELEASE);
    for (k = 0; k < O.procs; k++) {
        int st;
        for (i = 0; i < 500 && waitpid(kids[k], &st, WNOHANG) == 0; i++)
            usleep(10000);
        if (i == 500) {
            kill(kids[k], SIGKILL);
            waitpid(kids[k], &st, 0);
        }
    }
    t = totals();
    qsort(LAT, NLAT, sizeof *LAT, cmp_d);
    printf("RESULT label=%s conns=%d procs=%d joined=%lld refused=%lld failed=%lld "
           "dropped=%lld lost=%lld server_closed=%lld join_s=%.3f join_settle_s=%.3f "
           "join_idle_s=%.3f "
           "join_frames=%llu join_bytes=%llu leave_s=%.3f leave_clients_s=%.3f "
           "leave_frames=%llu leave_bytes=%llu rss_before_kb=%ld rss_peak_kb=%ld "
           "hwm_kb=%ld rss_after_kb=%ld metrics_samples=%zu metrics_p50_ms=%.1f "
           "metrics_p99_ms=%.1f metrics_max_ms=%.1f metrics_capped=%d metrics_errors=%d "
           "srv_cpu_join_s=%.2f srv_cpu_leave_s=%.2f srv_cpu_s=%.2f "
           "srv_queued_join=%lld srv_queued_leave=%lld srv_queued_total=%lld pongs=%lld leave=%s timeout=%s loadavg=%.2f\n",
           O.label, O.conns, O.procs, (long long)t.joined, (long long)t.refused,
           (long long)t.failed, (long long)t.dropped, (long long)t.lost,
           (long long)t.server_closed,
           secs(t0, t_joined), secs(t0, t.last_rx[0]), secs(t0, t_leave),
           (unsigned long long)t.frames[0], (unsigned long long)t.bytes[0],
           secs(t_leave, t_zero), secs(t_leave, t.last_end),
           (unsigned long long)t.frames[1], (unsigned long long)t.bytes[1],
           rss_before, rss_peak, hwm, rss_after, NLAT, pct(0.5), pct(0.99),
           NLAT ? LAT[NLAT - 1] : -1.0, MCAPPED, MERRORS,
           cpu0 >= 0 && cpu_leave >= 0 ? (double)(cpu_leave - cpu0) / 1e6 : -1.0,
           cpu_leave >= 0 && cpu_zero >= 0 ? (double)(cpu_zero - cpu_leave) / 1e6 : -1.0,
           cpu0 >= 0 && cpu1 >= 0 ? (double)(cpu1 - cpu0) / 1e6 : -1.0,
           q0 >= 0 && q_join >= 0 && (!timeout || timeout == 2) ? (long long)(q_join - q0) : -1LL,
           q_join >= 0 && q_end >= 0 && (!timeout || timeout == 2) ? (long long)(q_end - q_join) : -1LL,
           q0 >= 0 && q_end >= 0 ? (long long)(q_end - q0) : -1LL,
           (long long)t.pongs, O.drop ? "drop" : "close",
           timeout == 1 ? "join" : timeout == 2 ? "leave" : timeout == 3 ? "settle" : "none",
           loadavg);
    if (t.server_closed)
        fprintf(stderr, "storm: the server closed %lld connections itself (last code %d)\n",
                (long long)t.server_closed, t.close_code);
    return 0;
}
