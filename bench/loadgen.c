/*
 * loadgen: a WebSocket load generator for switchboard and its peers.
 *
 * Many client connections per process on one epoll loop; optional fork into
 * several processes (to pass one process's fd limit and use both cores) that
 * share their counters through one MAP_SHARED region, so the parent can
 * compute loss per subscriber and merge latency histograms at the end.
 *
 * Connection i joins channel i % channels; connections 0..pubs-1 publish.
 * Every published message is JSON
 * {"t":<ns>,"s":<seq>,"i":<publisher>,"p":"x.."} padded to --payload bytes; t
 * is CLOCK_MONOTONIC (one clock for all processes), so a receiver gets latency
 * by subtraction.  Only messages stamped inside the measured window count, so
 * warm-up and drain do not skew rates, loss or latency.
 *
 * Only loopback targets are accepted: this is a bench for one machine.
 *
 * --deflate offers permessage-deflate (RFC 7692, no context takeover both
 * ways, as switchboard answers); compressed server frames (RSV1) are
 * inflated with zlib, one stream per process reset per message, and
 * counted (deflated=).  Publishers send plain.  Build with -lz.
 */
#define _DEFAULT_SOURCE
#define _POSIX_C_SOURCE 200809L

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <zlib.h>

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

#define MAX_PROCS 16
#define SCRATCH (1u << 20)
#define MAX_MSG (1u << 20)
#define OUT_LIMIT (4u << 20)
/* Latency histogram: exact microseconds below 1024, then 64 sub-buckets per
 * power of two (under 1.6% error), enough for ~2^40 us. */
#define HIST_LIN 1024
#define HIST_SUB 64
#define HIST_N (HIST_LIN + 31 * HIST_SUB)

enum proto { P_NATIVE, P_MQTT, P_MIRROR };
enum state {
    S_CONNECTING,
    S_HS_SENT,
    S_MQTT_CONNACK,
    S_MQTT_SUBACK,
    S_READY,
    S_CLOSED
};

struct opts {
    enum proto proto;
    const char *host;
    int port;
    int port2;      /* a second node of a cluster (0: none), see conn_port */
    int conns, pubs, channels, procs, src_ips, window, max_pending, pub_reads;
    double rate, warmup, duration, drain, connect_timeout, slow_pct;
    int payload;
    int deflate;    /* offer permessage-deflate */
    int server_pid;
    int also_pids[8];   /* counted with the server (the Redis of a workers
                           run, the other nodes and Redis of a cluster) */
    int nalso;
    const char *label, *prefix;
};

struct pstat {
    uint64_t connected, conn_fail, closed, recv_total, recv_meas, self_echo,
        dup, ooo, sent_total, backlog_drop, other_frames, bad_msgs, slow_closed,
        deflated;
    uint64_t hist[HIST_N];
};

struct shm {
    volatile int ready;
    volatile int go;
    volatile int64_t t_start, t_meas, t_meas_end, t_drain_end;
    struct pstat ps[MAX_PROCS];
    /* followed by: uint32_t win_count[conns]; uint32_t got[conns];
     * uint8_t flags[conns] */
};

#define F_CONNECTED 1
#define F_SLOW 2
#define F_READER 4

struct conn {
    int fd;
    int idx;
    int ch;
    uint8_t state, is_pub, reads, slow, stopped, frag_op, want_out;
    char *out;
    uint32_t out_len, out_off, out_cap;
    char *part;
    uint32_t part_len;
    char *msg;
    uint32_t msg_len, msg_cap;
    char *frag;
    uint32_t frag_len, frag_cap;
    /* publisher */
    uint32_t seq, acked;
    int probe; /* local index of the reader whose receipt acks our messages */
    int64_t last_ack;
    /* subscriber: last seq seen per publisher rank in this channel */
    uint32_t *last_seq;
};

static struct opts O;

/* The port of connection c: with --port2, every other block of
 * `channels` connections goes to the second node, so each channel has
 * members on both nodes (connection i joins channel i % channels). */
static int conn_port(const struct conn *c)
{
    return O.port2 && (c->idx / O.channels) % 2 ? O.port2 : O.port;
}
static struct shm *SH;
static uint32_t *WIN_COUNT, *GOT;
static uint8_t *FLAGS;
static struct conn *C;
static int NLOC, LO, EP, PROC;
static struct pstat *PS;
static char *SCR;
static z_stream ZI;     /* --deflate: the inflater, reset per message */
static char *ZOUT;      /* ... and its output, MAX_MSG bytes */
static uint64_t RNG = 88172645463325252ull;

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static uint32_t rnd(void)
{
    RNG ^= RNG << 13;
    RNG ^= RNG >> 7;
    RNG ^= RNG << 17;
    return (uint32_t)(RNG >> 11);
}

static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "loadgen: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    exit(2);
}

static void hist_add(uint64_t *h, uint64_t us)
{
    if (us < HIST_LIN) {
        h[us]++;
        return;
    }
    int msb = 63 - __builtin_clzll(us);
    int idx = HIST_LIN + (msb - 10) * HIST_SUB +
              (int)((us >> (msb - 6)) & (HIST_SUB - 1));
    if (idx >= HIST_N)
        idx = HIST_N - 1;
    h[idx]++;
}

/* Upper edge (us) of a histogram bucket, so percentiles never flatter. */
static uint64_t hist_value(int idx)
{
    if (idx < HIST_LIN)
        return (uint64_t)idx;
    int k = idx - HIST_LIN, msb = k / HIST_SUB + 10, sub = k % HIST_SUB;
    return ((uint64_t)(HIST_SUB + sub + 1) << (msb - 6)) - 1;
}

static uint64_t hist_pct(const uint64_t *h, uint64_t total, double p)
{
    if (!total)
        return 0;
    uint64_t want = (uint64_t)(p * (double)total);
    if (want >= total)
        want = total - 1;
    uint64_t acc = 0;
    for (int i = 0; i < HIST_N; i++) {
        acc += h[i];
        if (acc > want)
            return hist_value(i);
    }
    return hist_value(HIST_N - 1);
}

static void buf_append(char **buf, uint32_t *len, uint32_t *cap,
                       const void *src, size_t n)
{
    if (*len + n > *cap) {
        size_t nc = *cap ? *cap : 256;
        while (nc < *len + n)
            nc *= 2;
        char *nb = realloc(*buf, nc);
        if (!nb)
            die("out of memory");
        *buf = nb;
        *cap = (uint32_t)nc;
    }
    memcpy(*buf + *len, src, n);
    *len += (uint32_t)n;
}

static const char *find(const char *h, size_t hn, const char *n, size_t nn)
{
    if (nn > hn)
        return NULL;
    for (size_t i = 0; i + nn <= hn; i++)
        if (h[i] == n[0] && memcmp(h + i, n, nn) == 0)
            return h + i;
    return NULL;
}

static void conn_close(struct conn *c, int counted)
{
    if (c->state == S_CLOSED)
        return;
    if (c->state != S_READY)
        PS->conn_fail++;
    else if (counted) {
        PS->closed++;
        if (c->stopped)
            PS->slow_closed++;
    }
    epoll_ctl(EP, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    c->state = S_CLOSED;
    FLAGS[c->idx] &= (uint8_t)~F_CONNECTED;
}

static void set_events(struct conn *c)
{
    struct epoll_event ev;
    ev.events = (c->stopped ? 0u : EPOLLIN) | (c->want_out ? EPOLLOUT : 0u);
    ev.data.u32 = (uint32_t)(c - C);
    epoll_ctl(EP, EPOLL_CTL_MOD, c->fd, &ev);
}

/* Writes what is queued; returns -1 if the connection died. */
static int conn_flush(struct conn *c)
{
    while (c->out_off < c->out_len) {
        ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off,
                         MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                break;
            if (errno == EINTR)
                continue;
            conn_close(c, 1);
            return -1;
        }
        c->out_off += (uint32_t)n;
    }
    if (c->out_off == c->out_len)
        c->out_off = c->out_len = 0;
    else if (c->out_off > (1u << 16)) {
        memmove(c->out, c->out + c->out_off, c->out_len - c->out_off);
        c->out_len -= c->out_off;
        c->out_off = 0;
    }
    int want = c->out_len > 0;
    if (want != c->want_out) {
        c->want_out = (uint8_t)want;
        set_events(c);
    }
    return 0;
}

/* Queues one masked client frame (RFC 6455 5.3: clients always mask). */
static void ws_queue(struct conn *c, int opcode, const void *data, size_t len)
{
    uint8_t hdr[14];
    size_t h = 0;
    hdr[h++] = (uint8_t)(0x80 | opcode);
    if (len < 126) {
        hdr[h++] = (uint8_t)(0x80 | len);
    } else if (len < 65536) {
        hdr[h++] = 0x80 | 126;
        hdr[h++] = (uint8_t)(len >> 8);
        hdr[h++] = (uint8_t)len;
    } else {
        hdr[h++] = 0x80 | 127;
        for (int i = 7; i >= 0; i--)
            hdr[h++] = (uint8_t)((uint64_t)len >> (8 * i));
    }
    uint32_t key = rnd();
    uint8_t m[4] = {(uint8_t)key, (uint8_t)(key >> 8), (uint8_t)(key >> 16),
                    (uint8_t)(key >> 24)};
    memcpy(hdr + h, m, 4);
    h += 4;
    buf_append(&c->out, &c->out_len, &c->out_cap, hdr, h);
    uint32_t at = c->out_len;
    buf_append(&c->out, &c->out_len, &c->out_cap, data, len);
    uint8_t *p = (uint8_t *)c->out + at;
    for (size_t i = 0; i < len; i++)
        p[i] ^= m[i & 3];
}

static size_t mqtt_varlen(uint8_t *p, size_t n)
{
    size_t k = 0;
    do {
        uint8_t b = n % 128;
        n /= 128;
        if (n)
            b |= 0x80;
        p[k++] = b;
    } while (n);
    return k;
}

static void mqtt_queue(struct conn *c, uint8_t type, const uint8_t *body,
                       size_t len)
{
    uint8_t tmp[2048 + 16];
    uint8_t *pkt = len + 8 <= sizeof tmp ? tmp : malloc(len + 8);
    if (!pkt)
        die("out of memory");
    pkt[0] = type;
    size_t h = 1 + mqtt_varlen(pkt + 1, len);
    memcpy(pkt + h, body, len);
    ws_queue(c, 2, pkt, h + len);
    if (pkt != tmp)
        free(pkt);
}

static size_t mqtt_str(uint8_t *p, const char *s)
{
    size_t n = strlen(s);
    p[0] = (uint8_t)(n >> 8);
    p[1] = (uint8_t)n;
    memcpy(p + 2, s, n);
    return n + 2;
}

static void topic_name(char *buf, size_t n, int ch)
{
    snprintf(buf, n, "%s%d", O.prefix, ch);
}

static void mqtt_connect(struct conn *c)
{
    uint8_t b[128];
    size_t k = 0;
    char id[64];
    k += mqtt_str(b + k, "MQTT");
    b[k++] = 4;    /* 3.1.1 */
    b[k++] = 0x02; /* clean session */
    b[k++] = 0;    /* keep-alive 0: the bench outlives no timer */
    b[k++] = 0;
    snprintf(id, sizeof id, "lg%d-%d", (int)getpid(), c->idx);
    k += mqtt_str(b + k, id);
    mqtt_queue(c, 0x10, b, k);
}

static void mqtt_subscribe(struct conn *c)
{
    uint8_t b[300];
    char t[128];
    size_t k = 0;
    b[k++] = 0;
    b[k++] = 1; /* packet id */
    topic_name(t, sizeof t, c->ch);
    k += mqtt_str(b + k, t);
    b[k++] = 0; /* QoS 0 */
    mqtt_queue(c, 0x82, b, k);
}

static void conn_ready(struct conn *c)
{
    c->state = S_READY;
    FLAGS[c->idx] |= F_CONNECTED;
    PS->connected++;
}

static int parse_u64(const char **p, const char *end, uint64_t *v)
{
    const char *s = *p;
    uint64_t x = 0;
    if (s >= end || *s < '0' || *s > '9')
        return -1;
    while (s < end && *s >= '0' && *s <= '9')
        x = x * 10 + (uint64_t)(*s++ - '0');
    *v = x;
    *p = s;
    return 0;
}

/* One application message (native envelope, bare echo, MQTT payload or
 * reassembled mirror message): find our {"t":..,"s":..,"i":..} inside. */
static void on_message(struct conn *c, const char *m, size_t n, int64_t now)
{
    const char *p = find(m, n, "{\"t\":", 5), *end = m + n;
    uint64_t t, s, i;
    if (!p) {
        PS->other_frames++; /* join/leave events and the like */
        return;
    }
    p += 5;
    if (parse_u64(&p, end, &t) || end - p < 5 || memcmp(p, ",\"s\":", 5))
        goto bad;
    p += 5;
    if (parse_u64(&p, end, &s) || end - p < 5 || memcmp(p, ",\"i\":", 5))
        goto bad;
    p += 5;
    if (parse_u64(&p, end, &i) || i >= (uint64_t)O.pubs)
        goto bad;
    if ((int)i == c->idx) {
        PS->self_echo++;
        return;
    }
    PS->recv_total++;
    int li = (int)i - LO;
    if (li >= 0 && li < NLOC && C[li].probe == (int)(c - C) &&
        (uint32_t)s > C[li].acked) {
        C[li].acked = (uint32_t)s;
        C[li].last_ack = now;
    }
    if (!c->reads || c->slow)
        return;
    uint32_t rank = (uint32_t)(i / (uint64_t)O.channels);
    uint32_t last = c->last_seq[rank];
    if (s <= last) {
        PS->dup++;
        return;
    }
    if (s != (uint64_t)last + 1 && last != 0)
        PS->ooo++; /* a gap: loss shows in the totals, this counts events */
    c->last_seq[rank] = (uint32_t)s;
    if ((int64_t)t >= SH->t_meas && (int64_t)t < SH->t_meas_end) {
        PS->recv_meas++;
        GOT[c->idx]++;
        int64_t lat = now - (int64_t)t;
        hist_add(PS->hist, lat > 0 ? (uint64_t)lat / 1000 : 0);
    }
    return;
bad:
    PS->bad_msgs++;
}

static void mqtt_stream(struct conn *c, int64_t now)
{
    uint32_t off = 0;
    while (c->msg_len - off >= 2) {
        uint8_t *p = (uint8_t *)c->msg + off;
        uint32_t avail = c->msg_len - off, len = 0, mul = 1, k = 1;
        for (;;) {
            if (k >= avail)
                goto partial;
            len += (p[k] & 127u) * mul;
            mul *= 128;
            if (!(p[k++] & 128))
                break;
            if (k > 4) {
                conn_close(c, 1);
                return;
            }
        }
        if (avail < k + len)
            goto partial;
        uint8_t type = p[0] >> 4;
        uint8_t *body = p + k;
        if (type == 2) { /* CONNACK */
            if (len < 2 || body[1] != 0) {
                conn_close(c, 1);
                return;
            }
            if (c->reads || !c->is_pub) {
                mqtt_subscribe(c);
                c->state = S_MQTT_SUBACK;
                if (conn_flush(c))
                    return;
            } else {
                conn_ready(c);
            }
        } else if (type == 9) { /* SUBACK */
            if (c->state == S_MQTT_SUBACK)
                conn_ready(c);
        } else if (type == 3 && len >= 2) { /* PUBLISH */
            uint32_t tl = ((uint32_t)body[0] << 8) | body[1], h = 2 + tl;
            if ((p[0] >> 1) & 3)
                h += 2;
            if (h <= len)
                on_message(c, (char *)body + h, len - h, now);
        }
        off += k + len;
    }
partial:
    if (off) {
        memmove(c->msg, c->msg + off, c->msg_len - off);
        c->msg_len -= off;
    }
}

/* A complete WebSocket data message (fragments already joined). */
static void on_ws_data(struct conn *c, int opcode, const char *d, size_t n,
                       int64_t now)
{
    if (O.proto == P_MQTT) {
        if (opcode != 2)
            return;
        buf_append(&c->msg, &c->msg_len, &c->msg_cap, d, n);
        mqtt_stream(c, now);
        return;
    }
    if (O.proto == P_MIRROR) {
        /* The lws mirror reads with a 128-byte rx buffer and echoes each
         * chunk as its own frame: join chunks until the JSON closes. */
        if (c->msg_len == 0 && n && d[n - 1] == '}' && d[0] == '{') {
            on_message(c, d, n, now);
            return;
        }
        buf_append(&c->msg, &c->msg_len, &c->msg_cap, d, n);
        if (c->msg_len > MAX_MSG)
            c->msg_len = 0;
        else if (c->msg_len && c->msg[c->msg_len - 1] == '}') {
            on_message(c, c->msg, c->msg_len, now);
            c->msg_len = 0;
        }
        return;
    }
    on_message(c, d, n, now);
}

/* Inflates a compressed message (RFC 7692: the stripped 00 00 ff ff put
 * back) into ZOUT; its length, or -1 when it is not deflate data or too
 * big. */
static long inflate_msg(const char *d, size_t n)
{
    static const unsigned char tail[4] = {0, 0, 0xff, 0xff};
    int rc;

    if (!ZOUT) {
        if (inflateInit2(&ZI, -15) != Z_OK || !(ZOUT = malloc(MAX_MSG)))
            die("cannot start zlib");
    }
    inflateReset(&ZI);
    ZI.next_out = (unsigned char *)ZOUT;
    ZI.avail_out = MAX_MSG;
    ZI.next_in = (unsigned char *)(uintptr_t)d;
    ZI.avail_in = (uInt)n;
    rc = inflate(&ZI, Z_SYNC_FLUSH);
    if (rc == Z_OK || rc == Z_BUF_ERROR) {
        ZI.next_in = (unsigned char *)(uintptr_t)tail;
        ZI.avail_in = 4;
        rc = inflate(&ZI, Z_SYNC_FLUSH);
    }
    if ((rc != Z_OK && rc != Z_BUF_ERROR && rc != Z_STREAM_END) || !ZI.avail_out)
        return -1;
    return (long)(MAX_MSG - ZI.avail_out);
}

/* A whole data message; op carries RSV1 (0x40) of its first frame. */
static void on_ws_frame(struct conn *c, int op, const char *d, size_t n,
                        int64_t now)
{
    long z;

    if (!(op & 0x40)) {
        on_ws_data(c, op, d, n, now);
        return;
    }
    if ((z = inflate_msg(d, n)) < 0) {
        PS->bad_msgs++;
        conn_close(c, 1);
        return;
    }
    PS->deflated++;
    on_ws_data(c, op & 0x0f, ZOUT, (size_t)z, now);
}

/* Parses as many server frames as `buf` holds; returns bytes consumed. */
static size_t ws_parse(struct conn *c, char *buf, size_t n, int64_t now)
{
    size_t off = 0;
    while (n - off >= 2 && c->state != S_CLOSED) {
        uint8_t *p = (uint8_t *)buf + off;
        int fin = p[0] & 0x80, op = p[0] & 0x0f, masked = p[1] & 0x80,
            rsv1 = p[0] & 0x40;
        uint64_t len = p[1] & 0x7f;
        size_t h = 2;
        if (len == 126) {
            if (n - off < 4)
                break;
            len = ((uint64_t)p[2] << 8) | p[3];
            h = 4;
        } else if (len == 127) {
            if (n - off < 10)
                break;
            len = 0;
            for (int i = 0; i < 8; i++)
                len = (len << 8) | p[2 + i];
            h = 10;
        }
        if (masked)
            h += 4;
        if (len > MAX_MSG) {
            conn_close(c, 1);
            break;
        }
        if (n - off < h + len)
            break;
        char *d = (char *)p + h;
        if (masked)
            for (uint64_t i = 0; i < len; i++)
                d[i] ^= (char)p[h - 4 + (i & 3)];
        off += h + len;
        if (op == 8) {
            conn_close(c, 1);
            break;
        } else if (op == 9) {
            ws_queue(c, 0xA, d, len);
            if (conn_flush(c))
                break;
        } else if (op == 0xA) {
            continue;
        } else if (op == 0 || !fin) {
            /* fragmented message: joined in its own buffer, apart from
             * the mirror/MQTT stream buffer */
            if (op != 0)
                c->frag_op = (uint8_t)(op | (rsv1 ? 0x40 : 0));
            buf_append(&c->frag, &c->frag_len, &c->frag_cap, d, len);
            if (c->frag_len > MAX_MSG) {
                conn_close(c, 1);
                break;
            }
            if (fin) {
                on_ws_frame(c, c->frag_op, c->frag, c->frag_len, now);
                c->frag_len = 0;
            }
        } else {
            on_ws_frame(c, op | rsv1, d, len, now);
        }
    }
    return off;
}

static void on_handshake(struct conn *c, char *buf, size_t n, int64_t now)
{
    buf_append(&c->msg, &c->msg_len, &c->msg_cap, buf, n);
    const char *e = find(c->msg, c->msg_len, "\r\n\r\n", 4);
    if (!e) {
        if (c->msg_len > 8192)
            conn_close(c, 1);
        return;
    }
    if (c->msg_len < 12 || memcmp(c->msg + 9, "101", 3) != 0) {
        conn_close(c, 1);
        return;
    }
    size_t hl = (size_t)(e - c->msg) + 4, rest = c->msg_len - hl;
    /* frames may follow the 101 in the same read: parse them from a copy,
     * since the MQTT stream reuses c->msg */
    char *tail = rest ? malloc(rest) : NULL;
    if (rest && !tail)
        die("out of memory");
    if (rest)
        memcpy(tail, c->msg + hl, rest);
    c->msg_len = 0;
    if (O.proto == P_MQTT) {
        mqtt_connect(c);
        c->state = S_MQTT_CONNACK;
        if (conn_flush(c)) {
            free(tail);
            return;
        }
    } else {
        conn_ready(c);
    }
    if (rest) {
        size_t used = ws_parse(c, tail, rest, now);
        if (c->state != S_CLOSED && used < rest) {
            memmove(tail, tail + used, rest - used);
            c->part = tail;
            c->part_len = (uint32_t)(rest - used);
            tail = NULL;
        }
    }
    free(tail);
}

static void on_readable(struct conn *c, int64_t now)
{
    for (int rounds = 0; rounds < 4 && c->state != S_CLOSED && !c->stopped;
         rounds++) {
        uint32_t pl = c->part_len;
        if (pl)
            memcpy(SCR, c->part, pl);
        ssize_t r = recv(c->fd, SCR + pl, SCRATCH - pl, 0);
        if (r <= 0) {
            if (r < 0 &&
                (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
                return;
            conn_close(c, 1);
            return;
        }
        size_t n = pl + (size_t)r;
        if (c->state == S_HS_SENT) {
            on_handshake(c, SCR, n, now);
            return;
        }
        size_t used = ws_parse(c, SCR, n, now);
        if (c->state == S_CLOSED)
            return;
        size_t left = n - used;
        if (left > c->part_len) {
            char *np = realloc(c->part, left);
            if (!np)
                die("out of memory");
            c->part = np;
        }
        if (left)
            memcpy(c->part, SCR + used, left);
        c->part_len = (uint32_t)left;
        if ((size_t)r < SCRATCH - pl)
            return;
    }
}

static void send_handshake(struct conn *c)
{
    char req[1024], path[256], key[25];
    static const char b64[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    uint8_t raw[18];
    for (int i = 0; i < 16; i++)
        raw[i] = (uint8_t)rnd();
    raw[16] = raw[17] = 0;
    for (int i = 0, k = 0; i < 18; i += 3) {
        uint32_t v =
            ((uint32_t)raw[i] << 16) | ((uint32_t)raw[i + 1] << 8) | raw[i + 2];
        key[k++] = b64[(v >> 18) & 63];
        key[k++] = b64[(v >> 12) & 63];
        key[k++] = b64[(v >> 6) & 63];
        key[k++] = b64[v & 63];
    }
    key[22] = key[23] = '=';
    key[24] = 0;
    const char *sub = "";
    if (O.proto == P_NATIVE)
        snprintf(path, sizeof path, "/c/%s%d", O.prefix, c->ch);
    else if (O.proto == P_MIRROR)
        snprintf(path, sizeof path, "/?mirror=%s%d", O.prefix, c->ch),
            sub = "lws-mirror-protocol";
    else
        snprintf(path, sizeof path, "/mqtt"), sub = "mqtt";
    int n = snprintf(req, sizeof req,
                     "GET %s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\n"
                     "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
                     "Sec-WebSocket-Version: 13\r\n%s%s%s%s\r\n",
                     path, O.host, conn_port(c), key,
                     *sub ? "Sec-WebSocket-Protocol: " : "", sub,
                     *sub ? "\r\n" : "",
                     O.deflate ? "Sec-WebSocket-Extensions: permessage-deflate; "
                                 "client_max_window_bits\r\n"
                               : "");
    buf_append(&c->out, &c->out_len, &c->out_cap, req, (size_t)n);
    c->state = S_HS_SENT;
    conn_flush(c);
}

static int conn_start(struct conn *c)
{
    struct sockaddr_in sa;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (c->slow) {
        /* a small window makes the server feel a stopped reader in seconds,
         * not after megabytes of loopback buffering */
        int small = 8192;
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    }
    if (O.src_ips > 1) {
        memset(&sa, 0, sizeof sa);
        sa.sin_family = AF_INET;
        sa.sin_addr.s_addr =
            htonl(0x7f000001u + (uint32_t)(c->idx % O.src_ips));
        setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
        if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
            close(fd);
            return -1;
        }
    }
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)conn_port(c));
    inet_pton(AF_INET, O.host, &sa.sin_addr);
    c->fd = fd;
    c->state = S_CONNECTING;
    c->want_out = 1;
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT,
                             .data.u32 = (uint32_t)(c - C)};
    if (epoll_ctl(EP, EPOLL_CTL_ADD, fd, &ev) < 0) {
        close(fd);
        return -1;
    }
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0 &&
        errno != EINPROGRESS) {
        epoll_ctl(EP, EPOLL_CTL_DEL, fd, NULL);
        close(fd);
        return -1;
    }
    return 0;
}

static void make_payload(char *buf, int idx, uint32_t seq, int64_t t)
{
    int n = snprintf(buf, 128, "{\"t\":%lld,\"s\":%u,\"i\":%d,\"p\":\"",
                     (long long)t, seq, idx);
    int pad = O.payload - n - 2;
    if (pad < 0)
        pad = 0;
    memset(buf + n, 'x', (size_t)pad);
    memcpy(buf + n + pad, "\"}", 2);
    buf[n + pad + 2] = 0;
}

/* Sends the next message of publisher c now; returns 0 if it went out. */
static int publish(struct conn *c, int64_t now)
{
    static char msg[MAX_MSG + 1];
    if (c->state != S_READY)
        return -1;
    if (c->out_len - c->out_off > OUT_LIMIT) {
        PS->backlog_drop++;
        return -1;
    }
    make_payload(msg, c->idx, c->seq + 1, now);
    size_t n = strlen(msg);
    if (O.proto == P_MQTT) {
        static uint8_t body[MAX_MSG + 300];
        char t[128];
        topic_name(t, sizeof t, c->ch);
        size_t k = mqtt_str(body, t);
        memcpy(body + k, msg, n);
        mqtt_queue(c, 0x30, body, k + n);
    } else {
        ws_queue(c, 1, msg, n);
    }
    c->seq++;
    if (now >= SH->t_meas && now < SH->t_meas_end)
        WIN_COUNT[c->idx]++;
    PS->sent_total++;
    return conn_flush(c);
}

/* Drain ends early once every healthy local reader has every message
 * stamped in the window (publishers stopped at t_meas_end). */
static int all_delivered(void)
{
    static uint64_t *chsum;
    if (!chsum) {
        chsum = calloc((size_t)O.channels, sizeof *chsum);
        if (!chsum)
            return 0;
    }
    memset(chsum, 0, (size_t)O.channels * sizeof *chsum);
    for (int i = 0; i < O.pubs; i++)
        chsum[i % O.channels] += WIN_COUNT[i];
    for (int i = 0; i < NLOC; i++) {
        struct conn *c = &C[i];
        if (!c->reads || c->slow || c->state != S_READY)
            continue;
        if (GOT[c->idx] < chsum[c->ch] - (c->is_pub ? WIN_COUNT[c->idx] : 0))
            return 0;
    }
    return 1;
}

static void child_main(int proc)
{
    PROC = proc;
    PS = &SH->ps[proc];
    LO = (int)((long long)O.conns * proc / O.procs);
    int hi = (int)((long long)O.conns * (proc + 1) / O.procs);
    NLOC = hi - LO;
    RNG ^= (uint64_t)getpid() * 2654435761u;
    C = calloc((size_t)NLOC, sizeof *C);
    SCR = malloc(SCRATCH);
    EP = epoll_create1(EPOLL_CLOEXEC);
    if (!C || !SCR || EP < 0)
        die("setup failed");
    int ppc = (O.pubs + O.channels - 1) / O.channels;
    if (ppc < 1)
        ppc = 1;
    for (int i = 0; i < NLOC; i++) {
        struct conn *c = &C[i];
        c->fd = -1;
        c->idx = LO + i;
        c->ch = c->idx % O.channels;
        c->is_pub = c->idx < O.pubs;
        c->reads = !c->is_pub || O.pub_reads;
        c->probe = -1;
        c->state = S_CLOSED;
        /* slow consumers: spread evenly, never publishers */
        if (!c->is_pub && O.slow_pct > 0) {
            long k = c->idx - O.pubs;
            c->slow = (long)((double)(k + 1) * O.slow_pct / 100.0) !=
                      (long)((double)k * O.slow_pct / 100.0);
        }
        if (c->reads)
            c->last_seq = calloc((size_t)ppc, sizeof(uint32_t));
        FLAGS[c->idx] =
            (uint8_t)((c->slow ? F_SLOW : 0) | (c->reads ? F_READER : 0));
    }
    /* each publisher's probe: the last healthy reader of its channel here */
    for (int i = 0; i < NLOC; i++) {
        if (!C[i].is_pub)
            continue;
        for (int j = NLOC - 1; j >= 0; j--)
            if (j != i && C[j].ch == C[i].ch && C[j].reads && !C[j].slow) {
                C[i].probe = j;
                break;
            }
    }
    struct epoll_event evs[512];
    int next = 0, pending = 0, reported = 0;
    int64_t t_begin = now_ns(),
            conn_deadline = t_begin + (int64_t)(O.connect_timeout * 1e9);
    int64_t period = O.rate > 0 ? (int64_t)(1e9 / O.rate) : 0;
    int npub = 0;
    for (int i = 0; i < NLOC; i++)
        npub += C[i].is_pub;
    int *pubs = malloc(sizeof(int) * (size_t)(npub ? npub : 1));
    for (int i = 0, k = 0; i < NLOC; i++)
        if (C[i].is_pub)
            pubs[k++] = i;
    int64_t next_check = 0;
    uint64_t tick =
        0; /* rate mode: global send counter over all local publishers */
    int slowed = 0;
    for (;;) {
        int64_t now = now_ns();
        /* open new connections, at most max_pending handshakes in flight */
        if (!reported) {
            pending = 0;
            for (int i = 0; i < next; i++)
                pending += C[i].state != S_READY && C[i].state != S_CLOSED;
            while (next < NLOC && pending < O.max_pending) {
                if (conn_start(&C[next]) < 0)
                    PS->conn_fail++;
                else
                    pending++;
                next++;
            }
            if ((next == NLOC && pending == 0) || now > conn_deadline) {
                reported = 1;
                __sync_fetch_and_add(&SH->ready, 1);
            }
        }
        int timeout = 50;
        if (SH->go) {
            if (now >= SH->t_drain_end)
                break;
            if (now >= SH->t_meas_end + 100000000 && now >= next_check) {
                next_check = now + 100000000;
                if (all_delivered())
                    break;
            }
            if (!slowed && now >= SH->t_start) {
                slowed = 1;
                for (int i = 0; i < NLOC; i++)
                    if (C[i].slow && C[i].state == S_READY) {
                        C[i].stopped = 1;
                        set_events(&C[i]);
                    }
            }
            if (now >= SH->t_start && now < SH->t_meas_end && npub) {
                if (period) {
                    for (;;) {
                        int64_t due =
                            SH->t_start +
                            (int64_t)((double)tick * (double)period / npub);
                        if (due > now) {
                            int64_t ms = (due - now + 999999) / 1000000;
                            timeout = ms < timeout ? (int)ms : timeout;
                            break;
                        }
                        publish(&C[pubs[tick % (uint64_t)npub]], now);
                        tick++;
                    }
                } else {
                    timeout = 1;
                    for (int k = 0; k < npub; k++) {
                        struct conn *c = &C[pubs[k]];
                        if (c->state != S_READY || c->probe < 0)
                            continue;
                        if (c->seq - c->acked >= (uint32_t)O.window &&
                            now - c->last_ack > 5000000000LL) {
                            c->acked = c->seq; /* lost messages must not stall
                                                  the loop */
                            c->last_ack = now;
                        }
                        while (c->seq - c->acked < (uint32_t)O.window &&
                               c->state == S_READY && c->out_len == 0) {
                            if (c->seq == c->acked)
                                c->last_ack = now;
                            if (publish(c, now))
                                break;
                        }
                    }
                }
            }
        } else if (reported) {
            timeout = 5;
        }
        int n = epoll_wait(EP, evs, 512, timeout);
        now = now_ns();
        for (int k = 0; k < n; k++) {
            struct conn *c = &C[evs[k].data.u32];
            uint32_t e = evs[k].events;
            if (c->state == S_CLOSED)
                continue;
            if (c->state == S_CONNECTING) {
                int err = 0;
                socklen_t el = sizeof err;
                getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el);
                if (err || (e & (EPOLLERR | EPOLLHUP))) {
                    conn_close(c, 0);
                    continue;
                }
                if (e & EPOLLOUT) {
                    c->want_out = 0;
                    set_events(c);
                    send_handshake(c);
                }
                continue;
            }
            if (c->stopped) {
                /* a stopped reader only hears of errors (level-triggered) */
                if (e & (EPOLLERR | EPOLLHUP))
                    conn_close(c, 1);
                continue;
            }
            if (e & EPOLLOUT)
                if (conn_flush(c))
                    continue;
            if (e & (EPOLLIN | EPOLLERR | EPOLLHUP))
                on_readable(c, now);
        }
    }
    /* Did the server cut the stopped readers off?  Their EOF is behind
     * whatever is still buffered, so read up to it (bounded). */
    for (int i = 0; i < NLOC; i++) {
        struct conn *c = &C[i];
        if (!c->stopped || c->state == S_CLOSED)
            continue;
        for (size_t total = 0; total < (64u << 20);) {
            ssize_t r = recv(c->fd, SCR, SCRATCH, MSG_DONTWAIT);
            if (r > 0) {
                total += (size_t)r;
                continue;
            }
            if (r == 0 ||
                (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
                conn_close(c, 1);
            }
            break;
        }
    }
    for (int i = 0; i < NLOC; i++)
        if (C[i].state != S_CLOSED)
            close(C[i].fd);
    _exit(0);
}

static int64_t proc_cpu_us(int pid)
{
    char path[64], buf[2048];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    char *p = strrchr(buf, ')'); /* comm may hold spaces */
    if (!p)
        return -1;
    unsigned long long ut = 0, st = 0;
    /* fields after comm: state(3) ... utime(14) stime(15) */
    if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu",
               &ut, &st) != 2)
        return -1;
    return (int64_t)((ut + st) * 1000000ull /
                     (unsigned long long)sysconf(_SC_CLK_TCK));
}

static long proc_status_kb(int pid, const char *key)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", pid);
    FILE *f = fopen(path, "r");
    long v = -1;
    size_t kl = strlen(key);
    if (!f)
        return -1;
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, key, kl) && line[kl] == ':') {
            v = strtol(line + kl + 1, NULL, 10);
            break;
        }
    fclose(f);
    return v;
}

/* The server and its direct children (listen{ workers = N } forks them):
 * their CPU and memory count as the server's.  Returns how many pids. */
static int server_pids(int pid, int *out, int max)
{
    char path[96];
    int n = 0;
    if (max < 1)
        return 0;
    out[n++] = pid;
    snprintf(path, sizeof path, "/proc/%d/task/%d/children", pid, pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return n;
    while (n < max && fscanf(f, "%d", &out[n]) == 1)
        n++;
    fclose(f);
    for (int i = 0; i < O.nalso && n < max; i++)
        out[n++] = O.also_pids[i];
    return n;
}

static int64_t server_cpu_us(int pid)
{
    int pids[64], n = server_pids(pid, pids, 64);
    int64_t sum = 0;
    for (int i = 0; i < n; i++) {
        int64_t v = proc_cpu_us(pids[i]);
        if (v < 0)
            return i == 0 ? -1 : sum;
        sum += v;
    }
    return sum;
}

static long server_kb(int pid, const char *key)
{
    int pids[64], n = server_pids(pid, pids, 64);
    long sum = 0;
    for (int i = 0; i < n; i++) {
        long v = proc_status_kb(pids[i], key);
        if (v < 0)
            return i == 0 ? -1 : sum;
        sum += v;
    }
    return sum;
}

static void sleep_until(int64_t t)
{
    for (;;) {
        int64_t d = t - now_ns();
        if (d <= 0)
            return;
        struct timespec ts = {d / 1000000000, d % 1000000000};
        nanosleep(&ts, NULL);
    }
}

static void usage(void)
{
    fprintf(
        stderr,
        "usage: loadgen --proto native|mqtt|lws-mirror --port P [options]\n"
        "  --host 127.0.0.1    loopback address of the server (127.0.0.0/8 "
        "only)\n"
        "  --conns N           connections (connection i joins channel i %% "
        "channels)\n"
        "  --pubs N            connections 0..N-1 publish (default 1)\n"
        "  --channels N        channels (default 1)\n"
        "  --rate R            msgs/s per publisher; 0 = max rate, "
        "window-limited\n"
        "  --window W          max-rate messages in flight per publisher "
        "(default 8)\n"
        "  --payload B         message size in bytes (default 64)\n"
        "  --deflate           offer permessage-deflate; compressed frames are\n"
        "                      inflated and counted (deflated=)\n"
        "  --pub-reads         publishers also count as subscribers (rooms)\n"
        "  --slow PCT          percent of subscribers that stop reading\n"
        "  --warmup S --duration S --drain S   phases (defaults 2, 5, 2); "
        "drain is\n"
        "                      a maximum: it ends once every reader has all\n"
        "                      the messages stamped in the window\n"
        "  --procs K           fork K processes (default 1)\n"
        "  --src-ips K         spread source addresses over 127.0.0.1..K\n"
        "  --max-pending N     handshakes in flight per process (default 256)\n"
        "  --connect-timeout S (default 60)\n"
        "  --server-pid PID    measure the server's CPU and RSS from /proc\n"
        "                      (with its child processes: workers)\n"
        "  --also-pid PID      count this process too (the Redis of a workers run;\n"
        "                      repeat for several: other nodes, their Redis)\n"
        "  --port2 P           a second node: connection i goes there when\n"
        "                      i / channels is odd, so every channel spans both\n"
        "  --label NAME        copied into the output\n"
        "  --prefix STR        channel name prefix (default bench)\n");
    exit(2);
}

int main(int argc, char **argv)
{
    O = (struct opts){.proto = P_NATIVE,
                      .host = "127.0.0.1",
                      .port = 0,
                      .conns = 2,
                      .pubs = 1,
                      .channels = 1,
                      .procs = 1,
                      .src_ips = 1,
                      .window = 8,
                      .max_pending = 256,
                      .rate = 0,
                      .warmup = 2,
                      .duration = 5,
                      .drain = 2,
                      .connect_timeout = 60,
                      .payload = 64,
                      .label = "run",
                      .prefix = "bench"};
    const char *proto_name = "native";
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
#define ARG(name) (!strcmp(a, name) && v && ++i)
        if (ARG("--proto"))
            proto_name = v;
        else if (ARG("--host"))
            O.host = v;
        else if (ARG("--port"))
            O.port = atoi(v);
        else if (ARG("--conns"))
            O.conns = atoi(v);
        else if (ARG("--pubs"))
            O.pubs = atoi(v);
        else if (ARG("--channels"))
            O.channels = atoi(v);
        else if (ARG("--rate"))
            O.rate = atof(v);
        else if (ARG("--window"))
            O.window = atoi(v);
        else if (ARG("--payload"))
            O.payload = atoi(v);
        else if (ARG("--slow"))
            O.slow_pct = atof(v);
        else if (ARG("--warmup"))
            O.warmup = atof(v);
        else if (ARG("--duration"))
            O.duration = atof(v);
        else if (ARG("--drain"))
            O.drain = atof(v);
        else if (ARG("--procs"))
            O.procs = atoi(v);
        else if (ARG("--src-ips"))
            O.src_ips = atoi(v);
        else if (ARG("--max-pending"))
            O.max_pending = atoi(v);
        else if (ARG("--connect-timeout"))
            O.connect_timeout = atof(v);
        else if (ARG("--server-pid"))
            O.server_pid = atoi(v);
        else if (ARG("--also-pid")) {
            if (O.nalso == (int)(sizeof O.also_pids / sizeof O.also_pids[0]))
                die("too many --also-pid");
            O.also_pids[O.nalso++] = atoi(v);
        } else if (ARG("--port2"))
            O.port2 = atoi(v);
        else if (ARG("--label"))
            O.label = v;
        else if (ARG("--prefix"))
            O.prefix = v;
        else if (!strcmp(a, "--pub-reads"))
            O.pub_reads = 1;
        else if (!strcmp(a, "--deflate"))
            O.deflate = 1;
        else
            usage();
#undef ARG
    }
    if (!strcmp(proto_name, "native"))
        O.proto = P_NATIVE;
    else if (!strcmp(proto_name, "mqtt"))
        O.proto = P_MQTT;
    else if (!strcmp(proto_name, "lws-mirror"))
        O.proto = P_MIRROR;
    else
        usage();
    struct in_addr ia;
    if (inet_pton(AF_INET, O.host, &ia) != 1 || (ntohl(ia.s_addr) >> 24) != 127)
        die("--host must be an IPv4 loopback address (127.0.0.0/8)");
    if (O.port <= 0 || O.conns < 1 || O.pubs < 0 || O.pubs > O.conns ||
        O.channels < 1 || O.procs < 1 || O.procs > MAX_PROCS || O.src_ips < 1 ||
        O.src_ips > 254 || O.payload < 48 || O.payload > 65536 ||
        O.window < 1 || O.duration <= 0 || O.max_pending < 1)
        die("bad arguments (see --help)");
    /* bounded run: no phase may be unbounded */
    if (O.warmup + O.duration + O.drain > 3600 || O.connect_timeout > 600)
        die("run longer than an hour refused");

    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    if ((rlim_t)(O.conns / O.procs + 64) > rl.rlim_cur)
        die("%d connections per process exceed the fd limit %llu: use --procs",
            O.conns / O.procs, (unsigned long long)rl.rlim_cur);

    size_t shsz = sizeof(struct shm) + (size_t)O.conns * 9;
    SH = mmap(NULL, shsz, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
              -1, 0);
    if (SH == MAP_FAILED)
        die("mmap failed");
    WIN_COUNT = (uint32_t *)(SH + 1);
    GOT = WIN_COUNT + O.conns;
    FLAGS = (uint8_t *)(GOT + O.conns);

    /* other work on the machine skews every number: say how busy it was */
    double loadavg = -1;
    FILE *la = fopen("/proc/loadavg", "r");
    if (la) {
        if (fscanf(la, "%lf", &loadavg) != 1)
            loadavg = -1;
        fclose(la);
    }
    int sp = O.server_pid;
    long rss_base = sp ? server_kb(sp, "VmRSS") : -1;
    pid_t kids[MAX_PROCS];
    fflush(stdout);
    for (int k = 0; k < O.procs; k++) {
        kids[k] = fork();
        if (kids[k] < 0)
            die("fork failed");
        if (kids[k] == 0) {
            /* a killed run leaves no load behind */
            prctl(PR_SET_PDEATHSIG, SIGKILL);
            if (getppid() == 1)
                _exit(1);
            child_main(k);
        }
    }
    int64_t t0 = now_ns(),
            deadline = t0 + (int64_t)((O.connect_timeout + 10) * 1e9);
    while (SH->ready < O.procs && now_ns() < deadline)
        usleep(10000);
    int64_t t_conn = now_ns() - t0;
    usleep(300000); /* let join events settle before measuring */
    long rss_conn = sp ? server_kb(sp, "VmRSS") : -1;
    int64_t s = now_ns() + 50000000;
    SH->t_start = s;
    SH->t_meas = s + (int64_t)(O.warmup * 1e9);
    SH->t_meas_end = SH->t_meas + (int64_t)(O.duration * 1e9);
    SH->t_drain_end = SH->t_meas_end + (int64_t)(O.drain * 1e9);
    __sync_synchronize();
    SH->go = 1;
    sleep_until(SH->t_meas);
    int64_t cpu0 = sp ? server_cpu_us(sp) : -1;
    sleep_until(SH->t_meas_end);
    int64_t cpu1 = sp ? server_cpu_us(sp) : -1;
    long rss_meas = sp ? server_kb(sp, "VmRSS") : -1;
    long hwm = sp ? server_kb(sp, "VmHWM") : -1;
    int64_t kill_at = SH->t_drain_end + 15000000000LL;
    int alive = O.procs;
    while (alive > 0) {
        int st;
        pid_t w = waitpid(-1, &st, WNOHANG);
        if (w > 0) {
            alive--;
            continue;
        }
        if (w < 0)
            break;
        if (now_ns() > kill_at) {
            for (int k = 0; k < O.procs; k++)
                kill(kids[k], SIGKILL);
            kill_at = INT64_MAX;
        }
        usleep(20000);
    }
    struct rusage ru;
    getrusage(RUSAGE_CHILDREN, &ru);
    double lg_cpu = (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
                    (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;

    struct pstat T;
    memset(&T, 0, sizeof T);
    for (int k = 0; k < O.procs; k++) {
        struct pstat *p = &SH->ps[k];
        T.connected += p->connected;
        T.conn_fail += p->conn_fail;
        T.closed += p->closed;
        T.recv_total += p->recv_total;
        T.recv_meas += p->recv_meas;
        T.self_echo += p->self_echo;
        T.dup += p->dup;
        T.ooo += p->ooo;
        T.sent_total += p->sent_total;
        T.backlog_drop += p->backlog_drop;
        T.other_frames += p->other_frames;
        T.bad_msgs += p->bad_msgs;
        T.slow_closed += p->slow_closed;
        T.deflated += p->deflated;
        for (int i = 0; i < HIST_N; i++)
            T.hist[i] += p->hist[i];
    }
    /* loss per healthy subscriber: messages its channel's other publishers
     * stamped in the window, against what it received */
    uint64_t *chsum = calloc((size_t)O.channels, sizeof(uint64_t)),
             sent_win = 0;
    for (int i = 0; i < O.pubs; i++) {
        chsum[i % O.channels] += WIN_COUNT[i];
        sent_win += WIN_COUNT[i];
    }
    uint64_t expected = 0, got_ok = 0, got_slow = 0, subs_loss = 0, nslow = 0,
             nsubs = 0;
    for (int j = 0; j < O.conns; j++) {
        if (!(FLAGS[j] & F_READER))
            continue;
        if (FLAGS[j] & F_SLOW) {
            nslow++;
            got_slow += GOT[j];
            continue;
        }
        nsubs++;
        uint64_t e = chsum[j % O.channels] - (j < O.pubs ? WIN_COUNT[j] : 0);
        expected += e;
        got_ok += GOT[j];
        if (GOT[j] < e)
            subs_loss++;
    }
    double dur = O.duration;
    uint64_t lat_n = 0;
    for (int i = 0; i < HIST_N; i++)
        lat_n += T.hist[i];
    double loss_pct =
        expected
            ? 100.0 *
                  (double)(expected - (got_ok < expected ? got_ok : expected)) /
                  (double)expected
            : 0;
    double dps = (double)(got_ok + got_slow) / dur;
    double cpu_pct =
        cpu1 >= 0 && cpu0 >= 0 ? (double)(cpu1 - cpu0) / (dur * 1e4) : -1;
    double cpu_per = cpu1 >= 0 && got_ok + got_slow
                         ? (double)(cpu1 - cpu0) / (double)(got_ok + got_slow)
                         : -1;
    double rss_per_conn =
        rss_conn >= 0 && T.connected
            ? (double)(rss_conn - rss_base) * 1024.0 / (double)T.connected
            : -1;
    uint64_t p50 = hist_pct(T.hist, lat_n, 0.50),
             p99 = hist_pct(T.hist, lat_n, 0.99),
             p999 = hist_pct(T.hist, lat_n, 0.999),
             pmax = hist_pct(T.hist, lat_n, 1.0);
    printf("RESULT label=%s proto=%s conns=%d connected=%llu conn_fail=%llu "
           "connect_s=%.2f pubs=%d "
           "channels=%d payload=%d rate=%g window=%d procs=%d duration=%g "
           "sent=%llu msgs_per_s=%.1f "
           "expected=%llu received=%llu deliveries_per_s=%.1f loss_pct=%.4f "
           "subs_with_loss=%llu "
           "subs=%llu slow=%llu slow_received=%llu closed=%llu dup=%llu "
           "gaps=%llu self_echo=%llu "
           "backlog_drop=%llu lat_p50_us=%llu lat_p99_us=%llu lat_p999_us=%llu "
           "lat_max_us=%llu "
           "srv_cpu_pct=%.1f srv_cpu_us_per_delivery=%.3f srv_rss_base_kb=%ld "
           "srv_rss_conn_kb=%ld "
           "srv_rss_end_kb=%ld srv_hwm_kb=%ld srv_rss_per_conn_b=%.0f "
           "lg_cpu_pct=%.1f loadavg=%.2f slow_closed=%llu bad_msgs=%llu "
           "deflated=%llu\n",
           O.label, proto_name, O.conns, (unsigned long long)T.connected,
           (unsigned long long)T.conn_fail, (double)t_conn / 1e9, O.pubs,
           O.channels, O.payload, O.rate, O.window, O.procs, dur,
           (unsigned long long)sent_win, (double)sent_win / dur,
           (unsigned long long)expected, (unsigned long long)got_ok, dps,
           loss_pct, (unsigned long long)subs_loss, (unsigned long long)nsubs,
           (unsigned long long)nslow, (unsigned long long)got_slow,
           (unsigned long long)T.closed, (unsigned long long)T.dup,
           (unsigned long long)T.ooo, (unsigned long long)T.self_echo,
           (unsigned long long)T.backlog_drop, (unsigned long long)p50,
           (unsigned long long)p99, (unsigned long long)p999,
           (unsigned long long)pmax, cpu_pct, cpu_per, rss_base, rss_conn,
           rss_meas, hwm, rss_per_conn,
           100.0 * lg_cpu / ((double)(now_ns() - t0) / 1e9), loadavg,
           (unsigned long long)T.slow_closed, (unsigned long long)T.bad_msgs,
           (unsigned long long)T.deflated);
    printf("# %s [%s]: %llu/%d connected, %.0f msg/s -> %.0f deliveries/s, "
           "loss %.3f%% "
           "(%llu of %llu subs), latency p50 %.2f ms p99 %.2f ms p999 %.2f ms, "
           "server cpu %.1f%% "
           "(%.2f us/delivery), rss %ld kB (%.0f B/conn)\n",
           O.label, proto_name, (unsigned long long)T.connected, O.conns,
           (double)sent_win / dur, dps, loss_pct, (unsigned long long)subs_loss,
           (unsigned long long)nsubs, p50 / 1e3, p99 / 1e3, p999 / 1e3, cpu_pct,
           cpu_per, rss_meas, rss_per_conn);
    free(chsum);
    return 0;
}
