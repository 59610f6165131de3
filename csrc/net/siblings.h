/* The same-machine path between workers (listen{ workers = N }): what one
 * worker publishes reaches its sibling workers without crossing Redis.
 *
 * Two parts, both made before the fork so every worker inherits them:
 *
 * - A follow table in shared memory: one bit per worker in each of
 *   SB_SIB_SLOTS slots, a slot per hash of a channel name.  A worker sets
 *   its bit when it starts following a channel and clears it when the
 *   last channel of that slot goes; a publisher reads the bits at publish
 *   time.  The reads and writes are sequentially consistent atomics, so a
 *   publish either sees a sibling's follow or happened before it: nothing
 *   published after a follow is missed.  Two channels sharing a slot only
 *   cost a record the receiver drops.
 * - One datagram socket per worker (abstract unix address, bound before
 *   the fork) that its siblings write to, each through a socket of their
 *   own connected to it, so that a full receiver pushes back on that one
 *   sender (EAGAIN, then a writable wait) and no other.
 *
 * Records a turn queues for one sibling go out together at the end of
 * the turn, packed into datagrams of up to SB_SIB_DGRAM bytes.  What does
 * not fit a slow sibling's backlog (SB_SIB_BACKLOG) is dropped and
 * counted.  The records are opaque here: the cluster puts its own wire
 * messages in them (cluster_receive.c). */
#ifndef SB_SIBLINGS_H
#define SB_SIBLINGS_H

#include <stddef.h>
#include <stdint.h>

#include "loop.h"

#define SB_SIB_SLOTS 65536
#define SB_SIB_DGRAM (60 * 1024)
#define SB_SIB_BACKLOG (16u << 20)

typedef struct sb_siblings sb_siblings;

typedef struct sb_siblings_stats {
    uint64_t sent;       /* records queued for a sibling */
    uint64_t received;   /* records read from siblings */
    uint64_t dropped;    /* records a sibling's backlog or socket refused */
    uint64_t bad;        /* datagrams that were not whole records */
} sb_siblings_stats;

/* One record from a sibling: the channel it is for and its bytes. */
typedef void (*sb_siblings_fn)(const char *ch, size_t chlen, const char *p,
                               size_t n, void *ud);

/* Before the fork: the shared table and every worker's socket, for n
 * workers (2..SB_SIB_MAX).  NULL with err filled on failure. */
#define SB_SIB_MAX 256
sb_siblings *sb_siblings_new(int n, char *err, size_t errlen);
/* After the fork, in worker self (1..n): keeps its own socket, connects
 * to the others' and starts reading on the loop, which owns it from then
 * on (closed at its teardown, freed at its exit).  -1 with err filled
 * (the caller then frees it with sb_siblings_abandon). */
int sb_siblings_start(sb_siblings *s, sb_loop *l, int self, char *err,
                      size_t errlen);
/* Frees what sb_siblings_new made, for a process that never started it. */
void sb_siblings_abandon(sb_siblings *s);

int sb_siblings_self(const sb_siblings *s);
int sb_siblings_count(const sb_siblings *s);
/* Who hears the records (one owner; fn NULL lets go).  Returns -1 when
 * another owner holds it. */
int sb_siblings_listen(sb_siblings *s, sb_siblings_fn fn, void *ud);
/* This worker starts (on) or stops following ch: calls must pair. */
void sb_siblings_follow(sb_siblings *s, const char *ch, size_t chlen, int on);
/* Queues one record for every sibling that follows ch's slot.  Returns
 * how many siblings it was queued for, or -1 when it is larger than a
 * datagram can carry (nothing queued). */
int sb_siblings_send(sb_siblings *s, const char *ch, size_t chlen,
                     const void *p, size_t n);
void sb_siblings_get_stats(const sb_siblings *s, sb_siblings_stats *st);

#endif
