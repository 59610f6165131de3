/* Private to cluster.c, cluster_wire.c and cluster_presence.c: the
 * cluster's state and the functions the three files share. */
#ifndef SB_CLUSTER_INTERNAL_H
#define SB_CLUSTER_INTERNAL_H

#include "cluster.h"
#include "buf.h"
#include "map.h"
#include "redis.h"

#include <hiredis/hiredis.h>

#define CH_PREFIX "sb:ch:"
#define PRES_PREFIX "sb:pres:"
#define NODE_PREFIX "sb:node:"
#define NODES_CHANNEL "sb:nodes"
#define KEY_MAX (SB_NODE_MAX + 1 + SB_MEMBER_MAX)
#define FIELDS_MAX 12

enum { TAG_PUBLISH = 1, TAG_SNAPSHOT, TAG_OTHER };

/* States of a remote key.  While a snapshot is pending, deltas leave
 * "touched" marks so the snapshot (possibly read before them) does not
 * undo them. */
#define REMOTE_PRESENT ((void *)1)
#define REMOTE_TOUCHED ((void *)2)
#define REMOTE_TOMB ((void *)3)

typedef struct cl_channel {
    sb_map remote;          /* "<node>|<member>" -> REMOTE_* */
    int active;             /* has local connections */
    int subscribed;         /* SUBSCRIBE sent on the current link */
    int unsubscribing;      /* UNSUBSCRIBE sent, confirmation pending */
    int snapshot;           /* snapshot requested, reply pending */
    size_t len;
    char name[];
} cl_channel;

/* A dead node is remembered for a while, so that a snapshot read before
 * its death (Redis still held its entries) cannot bring its members back;
 * only a heartbeat revives it. */
typedef struct cl_node {
    double last_seen;       /* loop clock, seconds */
    double ttl;
    int dead;
} cl_node;

struct sb_cluster {
    sb_hub *hub;
    uv_loop_t *loop;
    sb_redis *r;
    uv_timer_t tick;
    sb_map channels;        /* name -> cl_channel* */
    sb_map nodes;           /* other node name -> cl_node* */
    double ttl;
    double next_beat;
    double down_since;      /* < 0 while up */
    uint64_t lost_at_down;
    uint64_t seq;
    int closing;
    int ever_up;
    int twin_logged;        /* another process uses our node name */
    uint64_t instance;
    sb_cluster_stats st;
    void (*log)(const char *line, void *ud);
    void *log_ud;
    char url[300];
    size_t node_len;
    char node[SB_NODE_MAX + 1];
};

/* A list of owned byte strings, for changes computed before applying. */
typedef struct strlist {
    char **s;
    size_t *len;
    size_t n, cap;
    int oom;
} strlist;

/* One netstring of a payload (points into it). */
typedef struct field {
    const char *p;
    size_t n;
} field;

/* cluster.c */
/* Appends a copy of p[0..n) (sets oom on failure). */
void sb_cl_strlist_add(strlist *l, const char *p, size_t n);
/* Frees the strings and empties the list. */
void sb_cl_strlist_free(strlist *l);
/* The loop clock in seconds. */
double sb_cl_now_s(sb_cluster *cl);
/* "<prefix><name>" into buf; returns its length or 0 if it does not fit. */
size_t sb_cl_make_key(char *buf, size_t cap, const char *prefix,
                const char *name, size_t n);
/* Sends a Redis command on the cluster's link; the tag comes back in on_reply. */
int sb_cl_send_argv(sb_cluster *cl, int tag, int argc, const char **argv,
              const size_t *lens);
/* PUBLISH payload on sb:ch:<channel> (or on sb:nodes when ch is NULL). */
int sb_cl_publish_raw(sb_cluster *cl, int tag, const char *ch, size_t chlen,
                sb_buf *payload);

/* cluster_wire.c */
/* Appends p[0..n) as one netstring. */
void sb_cl_ns_add(sb_buf *b, const char *p, size_t n);
/* Appends a C string as one netstring. */
void sb_cl_ns_adds(sb_buf *b, const char *s);
/* Appends a decimal number as one netstring. */
void sb_cl_ns_add_u64(sb_buf *b, uint64_t v);
/* The common head: sb1, kind, node, sequence (increments cl->seq). */
void sb_cl_wire_head(sb_cluster *cl, sb_buf *b, const char *kind);
/* The next netstring of p[0..n) at *pos: 1 and *out, 0 at the end, -1
 * when malformed. */
int sb_cl_wire_next(const char *p, size_t n, size_t *pos, field *out);
/* Splits into at most max netstrings; returns the count or -1. */
int sb_cl_wire_split(const char *p, size_t n, field *f, int max);
/* The field's leading decimal digits as a number. */
uint64_t sb_cl_field_u64(const field *f);
/* 1 when the field equals the C string s. */
int sb_cl_field_is(const field *f, const char *s);

/* cluster_presence.c */
/* Marks a node alive now; returns NULL if it is dead (unless revive) or
 * memory ran out. */
cl_node *sb_cl_node_touch(sb_cluster *cl, const char *name, size_t n,
                    double ttl, int revive);
/* Applies one remote presence change for key "<node>|<member>". */
void sb_cl_remote_set(sb_cluster *cl, const char *ch, size_t chlen,
                const char *key, size_t klen, int present, int mark);
/* A node died (TTL) or said goodbye: its members leave every channel. */
void sb_cl_node_gone(sb_cluster *cl, const char *name, size_t n);
/* Ends a snapshot window: marks and tombstones go. */
void sb_cl_settle_marks(cl_channel *cc);
/* Asks Redis for the channel's remote member set (reply in sb_cl_on_snapshot). */
void sb_cl_request_snapshot(sb_cluster *cl, cl_channel *cc);
/* Replaces this node's members of the channel in Redis and tells followers. */
void sb_cl_announce_channel(sb_cluster *cl, cl_channel *cc, int leaving);
/* Refreshes sb:node:<node> and publishes a heartbeat on sb:nodes. */
void sb_cl_heartbeat(sb_cluster *cl);
/* Applies a snapshot reply: {channel, "<node>|<member>", ...}. */
void sb_cl_on_snapshot(sb_cluster *cl, redisReply *rep);
/* An "s" message: the node's full member list in the channel. */
void sb_cl_sync_remote(sb_cluster *cl, cl_channel *cc, const field *node,
                 const char *data, size_t len, size_t pos);
/* A heartbeat from another node (revives it if it was dead). */
void sb_cl_node_heard(sb_cluster *cl, const char *name, size_t n, double ttl);
/* The hub hook for a local member joining or leaving a channel. */
void sb_cl_on_local_presence(sb_hub *h, const char *ch, size_t chlen,
                       const char *member, size_t mlen, int present,
                       void *ud);
/* The cluster's timer: heartbeats and node expiry. */
void sb_cl_on_tick(uv_timer_t *t);

#endif
