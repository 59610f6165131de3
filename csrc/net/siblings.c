/* The same-machine path between workers: see siblings.h. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE     /* SOCK_NONBLOCK, SOCK_CLOEXEC, MSG_TRUNC under -std=c99 */
#endif
#include "siblings.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "base/buf.h"

/* A record: channel length (2 bytes), payload length (4), channel, payload. */
#define REC_HEAD 6
/* Datagrams one readable wake-up reads at most (the rest next turn). */
#define READS_PER_TURN 64

typedef struct sib_peer {
    struct sb_siblings *s;
    int fd;                 /* connected to the sibling's socket; -1: gone */
    int waiting;            /* its queue was full: writable wait armed */
    int polled;             /* poll set up (closed at teardown) */
    int gone;               /* its worker went: records are dropped */
    uv_poll_t poll;
    sb_buf out;             /* records not sent yet, whole */
} sib_peer;

struct sb_siblings {
    int n, self;            /* workers; this one, 1..n (0: not started) */
    int words;              /* table words per slot: ceil(n / 64) */
    uint64_t *table;        /* shared: SB_SIB_SLOTS * words */
    size_t table_len;
    uint32_t *counts;       /* this worker's followed channels per slot */
    int *rfds;              /* every worker's socket, until started */
    int rfd;                /* own socket */
    size_t max_record;      /* bytes a datagram can carry */
    char name[64];          /* abstract address prefix (after the NUL) */
    size_t name_len;
    sib_peer *peers;        /* [n]; peers[self - 1] unused */
    uv_poll_t rpoll;
    unsigned char *rbuf;
    size_t rcap;
    sb_loop *loop;
    sb_turn_hook flush, teardown, at_exit;
    sb_siblings_fn fn;
    void *ud;
    sb_siblings_stats st;
};

/* FNV-1a: the same in every worker (the table is shared, so no seed).  A
 * client choosing names that share a slot only makes siblings drop
 * records they do not follow. */
static size_t slot_of(const char *ch, size_t n)
{
    uint64_t h = 1469598103934665603ULL;
    size_t i;

    for (i = 0; i < n; i++) {
        h ^= (unsigned char)ch[i];
        h *= 1099511628211ULL;
    }
    return (size_t)(h % SB_SIB_SLOTS);
}

/* Worker k's abstract address (k from 1). */
static socklen_t address_of(const sb_siblings *s, int k, struct sockaddr_un *a)
{
    int len;

    memset(a, 0, sizeof *a);
    a->sun_family = AF_UNIX;
    len = snprintf(a->sun_path + 1, sizeof a->sun_path - 1, "%.*s/%d",
                   (int)s->name_len, s->name, k);
    return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)len);
}

/* The bound sockets; 0, or -1 with err filled. */
static int bind_all(sb_siblings *s, char *err, size_t errlen)
{
    struct sockaddr_un a;
    int k, fd;

    for (k = 1; k <= s->n; k++) {
        socklen_t alen = address_of(s, k, &a);
        fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0 || bind(fd, (struct sockaddr *)&a, alen) != 0) {
            snprintf(err, errlen, "workers' local socket: %s", strerror(errno));
            if (fd >= 0)
                close(fd);
            return -1;
        }
        s->rfds[k - 1] = fd;
    }
    return 0;
}

sb_siblings *sb_siblings_new(int n, char *err, size_t errlen)
{
    sb_siblings *s;
    struct timespec ts;
    int k;

    if (n < 2 || n > SB_SIB_MAX) {
        snprintf(err, errlen, "workers must be 2..%d", SB_SIB_MAX);
        return NULL;
    }
    if (!(s = calloc(1, sizeof *s)) || !(s->rfds = malloc((size_t)n * sizeof *s->rfds))) {
        free(s);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    s->n = n;
    s->rfd = -1;
    s->self = 0;
    for (k = 0; k < n; k++)
        s->rfds[k] = -1;
    s->words = (n + 63) / 64;
    s->table_len = (size_t)SB_SIB_SLOTS * (size_t)s->words * sizeof *s->table;
    s->table = mmap(NULL, s->table_len, PROT_READ | PROT_WRITE,
                    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (s->table == MAP_FAILED) {
        s->table = NULL;
        snprintf(err, errlen, "workers' shared table: %s", strerror(errno));
        sb_siblings_abandon(s);
        return NULL;
    }
    clock_gettime(CLOCK_MONOTONIC, &ts);
    s->name_len = (size_t)snprintf(s->name, sizeof s->name, "switchboard/%d/%lld%09ld",
                                   (int)getpid(), (long long)ts.tv_sec, ts.tv_nsec);
    if (bind_all(s, err, errlen)) {
        sb_siblings_abandon(s);
        return NULL;
    }
    return s;
}

void sb_siblings_abandon(sb_siblings *s)
{
    int k;

    if (!s)
        return;
    for (k = 0; s->rfds && k < s->n; k++)
        if (s->rfds[k] >= 0)
            close(s->rfds[k]);
    for (k = 0; s->peers && k < s->n; k++) {
        if (s->peers[k].fd >= 0)
            close(s->peers[k].fd);
        sb_buf_free(&s->peers[k].out);
    }
    if (s->rfd >= 0)
        close(s->rfd);
    if (s->table)
        munmap(s->table, s->table_len);
    free(s->peers);
    free(s->counts);
    free(s->rbuf);
    free(s->rfds);
    free(s);
}

int sb_siblings_self(const sb_siblings *s)
{
    return s->self;
}

int sb_siblings_count(const sb_siblings *s)
{
    return s->n;
}

int sb_siblings_listen(sb_siblings *s, sb_siblings_fn fn, void *ud)
{
    if (fn && s->fn && (s->fn != fn || s->ud != ud))
        return -1;
    s->fn = fn;
    s->ud = ud;
    return 0;
}

void sb_siblings_follow(sb_siblings *s, const char *ch, size_t chlen, int on)
{
    size_t slot = slot_of(ch, chlen);
    uint64_t *w = &s->table[slot * (size_t)s->words + (size_t)(s->self - 1) / 64];
    uint64_t bit = 1ULL << ((unsigned)(s->self - 1) % 64);

    if (on && s->counts[slot]++ == 0)
        __atomic_fetch_or(w, bit, __ATOMIC_SEQ_CST);
    else if (!on && s->counts[slot] && --s->counts[slot] == 0)
        __atomic_fetch_and(w, ~bit, __ATOMIC_SEQ_CST);
}

/* Appends one record to a sibling's backlog; 0, or -1 when it is full. */
static int queue_record(sib_peer *p, const char *ch, size_t chlen,
                        const void *data, size_t n)
{
    unsigned char head[REC_HEAD];

    if (p->fd < 0 || p->gone || p->out.len + REC_HEAD + chlen + n > SB_SIB_BACKLOG)
        return -1;
    head[0] = (unsigned char)(chlen >> 8);
    head[1] = (unsigned char)chlen;
    head[2] = (unsigned char)(n >> 24);
    head[3] = (unsigned char)(n >> 16);
    head[4] = (unsigned char)(n >> 8);
    head[5] = (unsigned char)n;
    sb_buf_add(&p->out, head, REC_HEAD);
    sb_buf_add(&p->out, ch, chlen);
    sb_buf_add(&p->out, data, n);
    if (p->out.oom) {
        sb_buf_free(&p->out);
        sb_buf_init(&p->out, 0);
        return -1;
    }
    return 0;
}

int sb_siblings_send(sb_siblings *s, const char *ch, size_t chlen,
                     const void *p, size_t n)
{
    size_t slot = slot_of(ch, chlen), i;
    int k, queued = 0;

    if (REC_HEAD + chlen + n > s->max_record || chlen > 0xffff)
        return -1;
    for (i = 0; i < (size_t)s->words; i++) {
        uint64_t bits = __atomic_load_n(&s->table[slot * (size_t)s->words + i],
                                        __ATOMIC_SEQ_CST);
        for (k = 0; bits && k < 64; k++, bits >>= 1) {
            int w = (int)i * 64 + k + 1;
            if (!(bits & 1) || w == s->self || w > s->n)
                continue;
            if (queue_record(&s->peers[w - 1], ch, chlen, p, n)) {
                s->st.dropped++;
                continue;
            }
            s->st.sent++;
            queued++;
        }
    }
    if (queued)
        sb_loop_at_turn_end(s->loop, &s->flush);
    return queued;
}

/* Bytes of the whole records from the front of buf that make one
 * datagram: as many as fit SB_SIB_DGRAM, at least one. */
static size_t datagram_len(const unsigned char *buf, size_t len)
{
    size_t pos = 0;

    while (pos + REC_HEAD <= len) {
        size_t rec = REC_HEAD + (((size_t)buf[pos] << 8) | buf[pos + 1]) +
                     (((size_t)buf[pos + 2] << 24) | ((size_t)buf[pos + 3] << 16) |
                      ((size_t)buf[pos + 4] << 8) | buf[pos + 5]);
        if (pos && pos + rec > SB_SIB_DGRAM)
            break;
        pos += rec;
    }
    return pos;
}

static void peer_writable(uv_poll_t *h, int status, int events);

/* Sends what a sibling's backlog holds until its socket is full (then a
 * writable wait) or the backlog is empty.  A sibling that went away
 * (its worker died) loses its backlog and every later record. */
static void peer_send(sib_peer *p)
{
    unsigned char *buf = sb_buf_data(&p->out);
    size_t pos = 0;

    while (pos < p->out.len) {
        size_t len = datagram_len(buf + pos, p->out.len - pos);
        ssize_t r = send(p->fd, buf + pos, len, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if (!p->waiting && uv_poll_start(&p->poll, UV_WRITABLE, peer_writable) == 0)
                p->waiting = 1;
            break;
        }
        if (r < 0) {
            p->s->st.dropped++;     /* one datagram's records, counted once */
            if (errno == ECONNREFUSED || errno == ENOTCONN) {
                p->gone = 1;        /* the fd stays until the loop's exit */
                pos = p->out.len;
                break;
            }
        }
        pos += len;
    }
    memmove(buf, buf + pos, p->out.len - pos);
    p->out.len -= pos;
}

static void peer_writable(uv_poll_t *h, int status, int events)
{
    sib_peer *p = h->data;

    (void)status;
    (void)events;
    uv_poll_stop(&p->poll);
    p->waiting = 0;
    peer_send(p);
}

/* End of turn: every sibling's records of this turn, in few datagrams.
 * (Holding them back a millisecond to pack more turns into a datagram
 * was tried: it cost a closed loop of publishers a third of its rate and
 * saved no CPU at 1 msg/s per publisher.) */
static void flush_all(sb_turn_hook *h)
{
    sb_siblings *s = (sb_siblings *)((char *)h - offsetof(sb_siblings, flush));
    int k;

    for (k = 0; k < s->n; k++)
        if (k + 1 != s->self && s->peers[k].fd >= 0 && !s->peers[k].gone &&
            !s->peers[k].waiting &&
            s->peers[k].out.len)
            peer_send(&s->peers[k]);
}


/* One datagram's records to the listener; 0, or -1 when it is not made
 * of whole records (the rest of it is dropped). */
static int deliver(sb_siblings *s, const unsigned char *p, size_t len)
{
    size_t pos = 0;

    while (pos < len) {
        size_t chlen, n;
        if (len - pos < REC_HEAD)
            return -1;
        chlen = ((size_t)p[pos] << 8) | p[pos + 1];
        n = ((size_t)p[pos + 2] << 24) | ((size_t)p[pos + 3] << 16) |
            ((size_t)p[pos + 4] << 8) | p[pos + 5];
        if (chlen + n > len - pos - REC_HEAD)
            return -1;
        s->st.received++;
        if (s->fn)
            s->fn((const char *)p + pos + REC_HEAD, chlen,
                  (const char *)p + pos + REC_HEAD + chlen, n, s->ud);
        pos += REC_HEAD + chlen + n;
    }
    return 0;
}

/* Reads up to READS_PER_TURN datagrams (the socket stays readable for
 * the rest, next turn), one call each, into a buffer as large as the
 * largest datagram a sibling can send (the same send buffer size as
 * ours: one machine).  Only touched pages take memory. */
static void on_readable(uv_poll_t *h, int status, int events)
{
    sb_siblings *s = h->data;
    int i;

    (void)status;
    (void)events;
    for (i = 0; i < READS_PER_TURN; i++) {
        ssize_t r = recv(s->rfd, s->rbuf, s->rcap, MSG_DONTWAIT | MSG_TRUNC);
        if (r < 0)
            break;
        if ((size_t)r > s->rcap)
            s->st.bad++;    /* larger than any sibling can send */
        else if (deliver(s, s->rbuf, (size_t)r))
            s->st.bad++;
    }
}

/* The socket to sibling k, connected; its fd or -1 (that worker is gone).
 * A large send buffer lets one datagram carry a whole large message. */
static int connect_peer(sb_siblings *s, int k)
{
    struct sockaddr_un a;
    socklen_t alen = address_of(s, k, &a);
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int sz = 4 << 20;

    if (fd < 0)
        return -1;
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz);
    if (connect(fd, (struct sockaddr *)&a, alen) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* The smallest send buffer of the peers bounds a record. */
static void measure_max_record(sb_siblings *s)
{
    int k, sz;
    socklen_t len;

    s->max_record = SB_SIB_BACKLOG;
    for (k = 0; k < s->n; k++) {
        len = sizeof sz;
        if (s->peers[k].fd >= 0 &&
            getsockopt(s->peers[k].fd, SOL_SOCKET, SO_SNDBUF, &sz, &len) == 0 &&
            sz > 512 && (size_t)sz - 512 < s->max_record)
            s->max_record = (size_t)sz - 512;
    }
}

/* Teardown: the loop is going; stop reading and writing. */
static void on_teardown(sb_turn_hook *h)
{
    sb_siblings *s = (sb_siblings *)((char *)h - offsetof(sb_siblings, teardown));
    int k;

    sb_loop_turn_hook_cancel(s->loop, &s->flush);
    for (k = 0; k < s->n; k++)
        if (s->peers[k].polled)
            uv_close((uv_handle_t *)&s->peers[k].poll, NULL);
    uv_close((uv_handle_t *)&s->rpoll, NULL);
}

/* Exit: every handle is closed; the sockets and memory go. */
static void on_exit_hook(sb_turn_hook *h)
{
    sb_siblings_abandon((sb_siblings *)((char *)h - offsetof(sb_siblings, at_exit)));
}

/* Polls for this worker's socket (0, or -1: nothing set up) and every
 * peer's; a peer whose poll cannot be set up is treated as gone. */
static int start_polls(sb_siblings *s)
{
    int k;

    if (uv_poll_init(&s->loop->uv, &s->rpoll, s->rfd))
        return -1;
    s->rpoll.data = s;
    uv_unref((uv_handle_t *)&s->rpoll);
    uv_poll_start(&s->rpoll, UV_READABLE, on_readable);
    for (k = 0; k < s->n; k++) {
        sib_peer *p = &s->peers[k];
        p->s = s;
        if (p->fd < 0)
            continue;
        if (uv_poll_init(&s->loop->uv, &p->poll, p->fd)) {
            close(p->fd);
            p->fd = -1;
            continue;
        }
        p->polled = 1;
        p->poll.data = p;
        uv_unref((uv_handle_t *)&p->poll);
    }
    return 0;
}

int sb_siblings_start(sb_siblings *s, sb_loop *l, int self, char *err,
                      size_t errlen)
{
    int k;

    s->self = self;
    s->loop = l;
    s->rfd = s->rfds[self - 1];
    s->rfds[self - 1] = -1;
    for (k = 0; k < s->n; k++)
        if (s->rfds[k] >= 0) {
            close(s->rfds[k]);
            s->rfds[k] = -1;
        }
    s->counts = calloc(SB_SIB_SLOTS, sizeof *s->counts);
    s->peers = calloc((size_t)s->n, sizeof *s->peers);
    if (!s->counts || !s->peers) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    for (k = 0; k < s->n; k++) {
        s->peers[k].fd = k + 1 == self ? -1 : connect_peer(s, k + 1);
        sb_buf_init(&s->peers[k].out, 0);
    }
    measure_max_record(s);
    s->rcap = s->max_record + 1024;
    if (!(s->rbuf = malloc(s->rcap))) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    s->flush.fn = flush_all;
    if (start_polls(s)) {
        snprintf(err, errlen, "workers' local socket: cannot poll it");
        return -1;
    }
    s->teardown.fn = on_teardown;
    sb_loop_at_teardown(l, &s->teardown);
    s->at_exit.fn = on_exit_hook;
    sb_loop_at_exit(l, &s->at_exit);
    return 0;
}

void sb_siblings_get_stats(const sb_siblings *s, sb_siblings_stats *st)
{
    *st = s->st;
}
