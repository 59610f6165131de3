/* Scale-out: one hub per node, nodes joined through Redis.
 *
 * Publish: every publish made on this node is also PUBLISHed on the Redis
 * channel sb:ch:<channel>; a node SUBSCRIBEs only to channels it has local
 * connections in, and injects what other nodes publish into its hub with
 * sb_hub_publish_remote (its own messages carry its node name and are
 * skipped, so nothing is delivered twice).
 *
 * Presence: each node announces its local members per channel (hash
 * sb:pres:<channel>, field "<node>|<member>", plus a delta on the channel),
 * reads a snapshot when it starts following a channel, and feeds the hub's
 * remote counts.  Nodes heartbeat on sb:nodes and keep sb:node:<node>
 * alive with a TTL; a node silent for its TTL is dead and its members
 * leave.  The wire format is documented in cluster_wire.c.
 *
 * History: a channel with history (the hub's rules) keeps one history in
 * Redis, numbered by Redis, so every node sends the same ids and a
 * client can resume on any node (cluster_history.c). */
#ifndef SB_CLUSTER_H
#define SB_CLUSTER_H

#include <stdint.h>
#include <uv.h>

#include "hub/hub.h"

#define SB_NODE_MAX 64

typedef struct sb_cluster sb_cluster;

typedef struct sb_cluster_config {
    const char *url;        /* redis://HOST[:PORT][/DB] */
    const char *node;       /* 1..SB_NODE_MAX of [A-Za-z0-9_.:-] */
    double ttl;             /* seconds without heartbeat = dead; 0 = 10 */
    /* seconds a channel's shared history is kept after its last publish
     * (a ttl rule drops messages sooner); 0 = 86400 */
    double history_idle;
    /* One line per outage and recovery; NULL = stderr. */
    void (*log)(const char *line, void *ud);
    void *log_ud;
    /* The same-machine path of this process's sibling workers (the
     * loop's, net/siblings.h), or NULL.  With it, messages between the
     * workers go through it, never through Redis, and reach Redis only
     * while a node of another machine is alive (cluster_local.c). */
    struct sb_siblings *siblings;
} sb_cluster_config;

typedef struct sb_cluster_stats {
    int connected;
    int synced;             /* connected and the other nodes' presence read
                               (counts cover the cluster from then on) */
    uint64_t published;     /* messages sent to Redis */
    uint64_t received;      /* messages from other nodes delivered here */
    uint64_t lost;          /* local publishes not sent (link down/error) */
    uint64_t presence_deferred; /* presence changes made while down
                                   (re-announced in full on reconnect) */
    uint64_t outages;       /* times the link went down */
    uint64_t dead_nodes;    /* nodes expired by TTL or goodbye */
    uint64_t bad_messages;  /* undecodable messages from Redis */
    uint64_t history_gaps;  /* numbered messages this node could not get
                               (trimmed before it read them) */
    uint64_t unnumbered;    /* local publishes Redis refused: delivered
                               here without an id, not in the history */
    uint64_t local_sent;    /* messages handed to sibling workers */
    uint64_t local_received;    /* ... and from them, delivered here */
    uint64_t local_lost;    /* messages a sibling's path refused */
    size_t nodes;           /* other nodes currently known alive */
    size_t channels;        /* channels followed */
} sb_cluster_stats;

/* Hooks the hub and starts connecting (failures only log and retry).
 * Returns NULL with a message in err for a bad URL or node name, or when
 * memory ran out.  The hub must outlive the cluster. */
sb_cluster *sb_cluster_new(uv_loop_t *loop, sb_hub *hub,
                           const sb_cluster_config *cfg, char *err,
                           size_t errlen);
/* Says goodbye (other nodes drop this node's members at once), unhooks
 * the hub and frees once the loop has closed the handles. */
void sb_cluster_free(sb_cluster *cl);
void sb_cluster_get_stats(const sb_cluster *cl, sb_cluster_stats *st);
const char *sb_cluster_node(const sb_cluster *cl);
/* Where the connections of every channel are: fn once per (channel,
 * node) with a connection there, this node included, as far as this node
 * knows (cluster_stats' by_channel). */
typedef void (*sb_cluster_count_fn)(const char *ch, size_t chlen,
                                    const char *node, size_t nlen,
                                    size_t conns, void *ud);
void sb_cluster_each_count(sb_cluster *cl, sb_cluster_count_fn fn, void *ud);

/* Phoenix presence metas (cluster_phx.c): hub:track on this node records
 * (topic, phx_ref) -> presence key and meta JSON for the other nodes;
 * untrack removes it.  sb_cluster_phx_each visits the metas other nodes
 * track in a channel this node follows.  track returns 0 or -1 (bad
 * topic, out of memory). */
int sb_cluster_phx_track(sb_cluster *cl, const char *topic, size_t tlen,
                         const char *ref, size_t rlen, const char *key,
                         size_t klen, const char *meta, size_t mlen);
void sb_cluster_phx_untrack(sb_cluster *cl, const char *topic, size_t tlen,
                            const char *ref, size_t rlen);
typedef void (*sb_cluster_meta_fn)(const char *key, size_t klen,
                                   const char *meta, size_t mlen, void *ud);
void sb_cluster_phx_each(sb_cluster *cl, const char *topic, size_t tlen,
                         sb_cluster_meta_fn fn, void *ud);
int sb_cluster_valid_node(const char *node, size_t n);

/* Notes (cluster_notes.c): a short text from this node to every other
 * one, for what the app itself must ask of them (the server API's
 * disconnect and subscribe act on each node's own connections,
 * lua/switchboard/api_users.lua).  Sent on sb:nodes, which every node
 * hears whatever channels it follows; nodes that do not know notes
 * ignore them.  Best effort: a note sent while the link is down is not
 * sent (-1), one in flight when a node's link drops is lost to it.
 * on_note: fn hears every note of another node (NULL: stop). */
typedef void (*sb_cluster_note_fn)(const char *text, size_t n,
                                   const char *node, size_t nlen, void *ud);
int sb_cluster_send_note(sb_cluster *cl, const char *text, size_t n);
void sb_cluster_on_note(sb_cluster *cl, sb_cluster_note_fn fn, void *ud);

/* The server API's history (cluster_history.c): reads what followed
 * (epoch, after) of ch from Redis, the read of a resuming client
 * (sb_hub_history_fetch), for a node that may not follow ch at all.
 * *count: the channel's history size (a read of more than that many is
 * refused, history-expired).  NULL when ch keeps no shared history, Redis
 * is unreachable or memory ran out; else fn runs exactly once, from the
 * reply or from sb_cluster_free. */
sb_fetch *sb_cluster_history_read(sb_cluster *cl, const char *ch, size_t chlen,
                                  uint64_t epoch, uint64_t after, sb_fetch_fn fn,
                                  void *ud, size_t *count);

#endif
