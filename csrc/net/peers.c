/* Per-address connection caps and connect rate: see peers.h.  One entry
 * per peer address that has connections or a bucket not yet full again,
 * so an address that connects and hangs up in a loop keeps its bucket;
 * entries with neither are dropped every SWEEP_EVERY admissions. */
#include "peers.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/defaults.h"
#include "server_internal.h"

#define SWEEP_EVERY 1024
/* An address may open this many seconds' worth of its rate at once. */
#define CONNECT_BURST_S 5

typedef struct sb_peer {
    int conns;
    double tokens;          /* connect-rate bucket ... */
    int64_t at;             /* ... last refilled, ms */
} sb_peer;

void sb_peers_init(sb_peers *p, unsigned long long seed)
{
    sb_map_init(&p->by_ip, (uint64_t)seed);
    p->since_sweep = 0;
}

void sb_peers_free(sb_peers *p)
{
    sb_map_iter it;
    void *val;

    sb_map_iter_init(&it);
    while (sb_map_next(&p->by_ip, &it, NULL, NULL, &val))
        free(val);
    sb_map_clear(&p->by_ip);
}

/* A limit as configured: 0 is its default, below 0 off. */
static double limit_of(double v, double dflt)
{
    return v == 0 ? dflt : v;
}

static int is_loopback(const char *ip)
{
    return strncmp(ip, "127.", 4) == 0 || strcmp(ip, "::1") == 0 ||
           strncmp(ip, "::ffff:127.", 11) == 0;
}

/* The bucket after refilling at rate/s up to burst. */
static void refill(sb_peer *e, double rate, double burst, int64_t now)
{
    e->tokens += (double)(now - e->at) * rate / 1000.0;
    if (e->tokens > burst)
        e->tokens = burst;
    e->at = now;
}

/* 1 when an entry says nothing any more: no connection, a full bucket. */
static int idle_peer(sb_peer *e, double rate, double burst, int64_t now)
{
    if (rate > 0)
        refill(e, rate, burst, now);
    return e->conns == 0 && (rate <= 0 || e->tokens >= burst);
}

/* Drops the idle entries: their addresses are copied first, since the
 * map must not change while it is walked. */
static void sweep(sb_peers *p, double rate, double burst, int64_t now)
{
    sb_map_iter it;
    const void *k;
    size_t klen, n = 0, i;
    void *val;
    char **gone = calloc(p->by_ip.count ? p->by_ip.count : 1, sizeof *gone);

    if (!gone)
        return;
    sb_map_iter_init(&it);
    while (sb_map_next(&p->by_ip, &it, &k, &klen, &val))
        if (idle_peer(val, rate, burst, now) && (gone[n] = malloc(klen + 1))) {
            memcpy(gone[n], k, klen);
            gone[n++][klen] = '\0';
        }
    for (i = 0; i < n; i++) {
        free(sb_map_del(&p->by_ip, gone[i], strlen(gone[i])));
        free(gone[i]);
    }
    free(gone);
}

static sb_peer *peer_get(sb_peers *p, const char *ip, double burst, int64_t now)
{
    sb_peer *e = sb_map_get(&p->by_ip, ip, strlen(ip));

    if (e)
        return e;
    if (!(e = calloc(1, sizeof *e)))
        return NULL;
    e->tokens = burst;
    e->at = now;
    if (sb_map_put(&p->by_ip, ip, strlen(ip), e)) {
        free(e);
        return NULL;
    }
    return e;
}

int sb_peers_admit(sb_server *s, const sb_reqsrc *r, sb_wsconn *c, char *reason,
                   size_t reason_len)
{
    const sb_server_config *cfg = &s->cfg;
    double total = limit_of(cfg->max_connections, SB_DEFAULT_max_connections);
    double per_ip = limit_of(cfg->max_per_ip, SB_DEFAULT_max_per_ip);
    double rate = limit_of(cfg->max_connect_rate, SB_DEFAULT_max_connect_rate);
    double burst = rate * CONNECT_BURST_S;
    int64_t now = sb_mono_ms();
    char ip[64];
    sb_peer *e;

    if (total > 0 && s->nconns >= total) {
        snprintf(reason, reason_len, "server full");
        return 503;
    }
    if (per_ip <= 0 && rate <= 0)
        return 0;
    sb_request_peer(r, ip, sizeof ip);
    if (!cfg->limit_loopback && is_loopback(ip))
        return 0;
    if (++s->peers.since_sweep >= SWEEP_EVERY) {
        s->peers.since_sweep = 0;
        sweep(&s->peers, rate, burst, now);
    }
    if (!(e = peer_get(&s->peers, ip, burst, now)))
        return 0;   /* out of memory: this one goes uncounted */
    if (per_ip > 0 && e->conns >= per_ip) {
        snprintf(reason, reason_len, "too many connections from %s", ip);
        return 503;
    }
    if (rate > 0) {
        refill(e, rate, burst, now);
        if (e->tokens < 1) {
            snprintf(reason, reason_len, "too many new connections from %s", ip);
            return 429;
        }
        e->tokens -= 1;
    }
    c->ip = sb_server_strdup(ip);
    return 0;
}

void sb_peers_take(sb_server *s, sb_wsconn *c)
{
    sb_peer *e = c->ip ? sb_map_get(&s->peers.by_ip, c->ip, strlen(c->ip)) : NULL;

    if (e) {
        e->conns++;
    } else {
        free(c->ip);   /* swept meanwhile, or out of memory: uncounted */
        c->ip = NULL;
    }
}

void sb_peers_release(sb_server *s, sb_wsconn *c)
{
    sb_peer *e = c->ip ? sb_map_get(&s->peers.by_ip, c->ip, strlen(c->ip)) : NULL;

    if (e && e->conns > 0)
        e->conns--;
}
