/* What one peer address may open (peers.c): its connections at once
 * (max_per_ip) and new connections per second (max_connect_rate, a token
 * bucket), checked at the handshake with the total (max_connections).
 * Loopback peers (127.0.0.0/8, ::1) are not counted per address unless
 * limit_loopback is set: behind a reverse proxy on the same host every
 * client is one, and local tests and benchmarks are too. */
#ifndef SB_PEERS_H
#define SB_PEERS_H

#include <stddef.h>

#include "base/map.h"
#include "types.h"

struct lws;

typedef struct sb_peers {
    sb_map by_ip;          /* peer address -> sb_peer* */
    unsigned since_sweep;  /* admissions since idle entries were dropped */
} sb_peers;

void sb_peers_init(sb_peers *p, unsigned long long seed);
void sb_peers_free(sb_peers *p);
/* 0 when the connection may open (c->ip set when its address is counted),
 * else the HTTP status to refuse it with (503 over a cap, 429 over the
 * connect rate) and the reason. */
struct sb_reqsrc;
int sb_peers_admit(sb_server *s, const struct sb_reqsrc *r, sb_wsconn *c, char *reason,
                   size_t reason_len);
/* The connection opened / closed: counts it against its address. */
void sb_peers_take(sb_server *s, sb_wsconn *c);
void sb_peers_release(sb_server *s, sb_wsconn *c);

#endif
