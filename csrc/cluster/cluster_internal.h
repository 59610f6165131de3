/* Private to the cluster's files (cluster.c and cluster_*.c): the
 * cluster's state and the functions they share. */
#ifndef SB_CLUSTER_INTERNAL_H
#define SB_CLUSTER_INTERNAL_H

#include "cluster.h"
#include "base/buf.h"
#include "base/map.h"
#include "redis.h"

#include <hiredis/hiredis.h>

#define CH_PREFIX "sb:ch:"
#define PRES_PREFIX "sb:pres:"
#define NODE_PREFIX "sb:node:"
#define NODES_CHANNEL "sb:nodes"
#define PRES_CHANNEL "sb:pres"
#define PCHANS_KEY "sb:pchans"
#define HPOS_PREFIX "sb:hpos:"
#define HIST_PREFIX "sb:hist:"
#define GEN_KEY "sb:gen"
#define RUNID_KEY "sb:runid"
#define KEY_MAX (SB_NODE_MAX + 1 + SB_MEMBER_MAX)
#define FIELDS_MAX 14

enum { TAG_PUBLISH = 1, TAG_SNAPSHOT, TAG_OTHER, TAG_PHX_SNAPSHOT, TAG_SCRIPT_PUB,
       TAG_SCRIPT_READ, TAG_HPUB, TAG_HREAD, TAG_FETCH, TAG_COUNT };

/* What a Redis reply comes back with (the redis link hands it back).
 * Fixed tags use the cluster's own tags[]; requests that carry context
 * are allocated, start with this header and sit in the cluster's list of
 * requests in flight until their reply (or sb_cluster_free). */
typedef struct cl_req {
    int tag;
    struct cl_req *prev, *next;
} cl_req;

/* A numbered message waiting for the ones before it (cluster_history.c). */
typedef struct cl_entry {
    sb_msg *m;              /* epoch and offset set */
    uint64_t except_conn;   /* a local sender that asked for no echo */
    char *em;               /* except_member or NULL */
    size_t emlen;
} cl_entry;

/* States of a remote key.  While a snapshot is pending, deltas leave
 * "touched" marks so the snapshot (possibly read before them) does not
 * undo them. */
#define REMOTE_PRESENT ((void *)1)
#define REMOTE_TOUCHED ((void *)2)
#define REMOTE_TOMB ((void *)3)

/* What other nodes have in one channel (any channel, followed or not;
 * cluster_presence.c). */
typedef struct cl_pchan {
    sb_map remote;          /* "<node>|<instance>:<id>" -> REMOTE_* */
    size_t len;
    char name[];
} cl_pchan;

/* A publish made while its channel's subscription was not confirmed yet
 * (cluster_hold.c). */
typedef struct cl_held {
    struct cl_held *next;
    sb_msg *m;
    uint64_t except_id;     /* a local sender that asked for no echo */
    char *em;               /* except_member or NULL */
    size_t emlen;
    int hist;               /* goes through the shared history */
} cl_held;

/* A channel this node follows (has local connections in): its messages. */
typedef struct cl_channel {
    int active;             /* has local connections */
    int subscribed;         /* SUBSCRIBE sent on the current link */
    int confirmed;          /* ... and confirmed: its presence is announced */
    cl_held *held, **held_tail;  /* publishes waiting for the confirmation */
    int unsubscribing;      /* UNSUBSCRIBE sent, confirmation pending */
    /* Shared history (cluster_history.c): messages reach the hub in
     * offset order, each once, from the subscription, this node's own
     * publish replies and fill reads. */
    int hist;               /* the channel keeps history: shared in Redis */
    int synced;             /* the cursor below is known */
    int filling;            /* fill reads in flight */
    int fill_on_sync;       /* subscribed before the baseline came */
    int draining;
    int own_inflight;       /* own publishes awaiting their number */
    uint64_t cur_epoch, cur_off;  /* the last message handed to the hub */
    uint64_t follow_id;     /* which following this is (stale replies) */
    /* Later messages, sorted by (epoch, offset): pending[0..npending) is
     * a window into pend_buf[0..cappending), so popping the first entry
     * moves the window instead of the entries (a drain after an outage
     * stays linear). */
    cl_entry *pending, *pend_buf;
    size_t npending, cappending;
    /* Phoenix metas of other nodes (cluster_phx.c) */
    sb_map metas;           /* "<node>|<phx_ref>" -> cl_meta* */
    sb_map phx_touched;     /* refs changed while a snapshot is in flight */
    int phx_snapshot;
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
    uint64_t instance;      /* of its last heartbeat (0: none yet) */
} cl_node;

struct sb_cluster {
    sb_hub *hub;
    uv_loop_t *loop;
    sb_redis *r;
    uv_timer_t tick;
    sb_map channels;        /* name -> cl_channel* */
    sb_map pchans;          /* name -> cl_pchan*: other nodes' presence */
    sb_map mine;            /* channels this node announced connections in */
    int psnap;              /* presence snapshot requested, reply pending */
    int pres_subscribed;    /* sb:pres confirmed on the current link */
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
    cl_req tags[TAG_COUNT];     /* fixed tags for sb_cl_send_argv */
    cl_req *reqs;               /* allocated requests in flight */
    char sha_pub[41], sha_read[41];  /* loaded scripts; "" = use EVAL */
    double history_idle;        /* seconds an unused history is kept */
    sb_map own_metas;           /* "<topic>\n<phx_ref>" -> cl_meta* */
    uint64_t follow_seq;
    uint64_t read_errors;       /* history reads Redis refused (logged) */
    void (*log)(const char *line, void *ud);
    void *log_ud;
    struct sb_siblings *sib;    /* cluster_local.c: sibling workers, or NULL */
    size_t base_len;            /* node name less its "-w<worker>" */
    int nodes_changed;          /* the node table changed since ... */
    int foreign;                /* ... a node of another machine was alive */
    double local_after;         /* every live node heard once by then */
    sb_cluster_note_fn note_fn;  /* cluster_notes.c */
    void *note_ud;
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
/* Sends a command for an allocated request: on success it joins the list
 * of requests in flight; on failure (-1) the caller still owns it. */
int sb_cl_send_req(sb_cluster *cl, cl_req *req, int argc, const char **argv,
                   const size_t *lens);
/* Takes a request off the list of requests in flight (its reply came). */
void sb_cl_req_done(sb_cluster *cl, cl_req *req);

/* The followed channel a Redis channel "sb:ch:<name>" stands for, with
 * *ch and *chlen moved onto the name; NULL for another Redis channel or a
 * name this node does not follow (cluster.c). */
cl_channel *sb_cl_channel_of(sb_cluster *cl, const char **ch, size_t *chlen);
/* The Redis link's message callback: one pub/sub message from another
 * node, dispatched by kind (cluster_receive.c). */
void sb_cl_on_message(sb_redis *r, const char *ch, size_t chlen,
                      const char *data, size_t len, void *ud);
/* One log line (the configured log function, else stderr). */
void sb_cl_log(sb_cluster *cl, const char *line);
/* PUBLISH payload on the Redis channel `name`. */
int sb_cl_publish_on(sb_cluster *cl, int tag, const char *name, sb_buf *payload);
/* PUBLISH payload on sb:ch:<channel> (or on sb:nodes when ch is NULL). */
int sb_cl_publish_raw(sb_cluster *cl, int tag, const char *ch, size_t chlen,
                sb_buf *payload);

/* cluster_hold.c: publishes wait for their channel's subscription. */
/* Holds a publish of a channel whose subscription is not confirmed: 0, or
 * -1 when memory ran out (the caller sends it now). */
int sb_cl_hold(cl_channel *cc, sb_msg *m, uint64_t except_id, const char *em,
               size_t emlen, int hist);
/* Sends what cc holds, in order (send = 0: the link went; the messages are
 * lost, those of a shared history delivered here without an id). */
void sb_cl_release_held(sb_cluster *cl, cl_channel *cc, int send);
/* Frees what cc holds without sending or delivering (the cluster goes). */
void sb_cl_drop_held(cl_channel *cc);
/* PUBLISHes an "m" message (a channel without shared history). */
void sb_cl_publish_msg(sb_cluster *cl, const sb_msg *m, const char *em,
                       size_t emlen);

/* cluster_notes.c: an "a" message on sb:nodes, for the note hook. */
void sb_cl_note_message(sb_cluster *cl, const field *f, int n);

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

/* cluster_wire.c: the fields of an "m" message (from flags on) as a
 * message; *em and *emlen get the except_member (NULL if none). */
sb_msg *sb_cl_wire_msg(const char *ch, size_t chlen, const field *f,
                       const char **em, size_t *emlen);
/* Appends the fields of an "m" message from flags on. */
void sb_cl_wire_msg_fields(sb_buf *b, const sb_msg *m, const char *em,
                           size_t emlen);

/* cluster_scripts.c: the Redis side of shared history. */
/* Redis (re)connected: restart detection and script loading. */
void sb_cl_hist_up(sb_cluster *cl);
/* Reads (epoch, after) of a channel's history: READ_SCRIPT, with epoch_s
 * instead of epoch when not NULL ("" asks for the position only); fill
 * mode returns what is left of a history that no longer reaches back.
 * 0, or -1 when it could not be sent (req is then still the caller's). */
int sb_cl_send_read(sb_cluster *cl, cl_req *req, const char *ch,
                    size_t chlen, const char *epoch_s, uint64_t epoch,
                    uint64_t after, double ttl, int fill);
/* Numbers, keeps and publishes m (PUBLISH_SCRIPT); 0 or -1 as above. */
int sb_cl_send_numbered(sb_cluster *cl, cl_req *req, const sb_msg *m,
                        const char *em, size_t emlen);

/* cluster_history.c */
/* Redis lost: shared channels fall back to local epochs. */
void sb_cl_hist_down(sb_cluster *cl);
/* A publish on a channel with history (SB_PUBLISH_*). */
int sb_cl_hist_publish(sb_cluster *cl, sb_msg *m, uint64_t except_id,
                       const char *em, size_t emlen);
/* The node starts following a channel (also after an outage): reads the
 * shared position.  Decides cc->hist. */
void sb_cl_hist_follow(sb_cluster *cl, cl_channel *cc);
/* The subscription is confirmed: reads what came in between. */
void sb_cl_hist_subscribed(sb_cluster *cl, cl_channel *cc);
/* The node stops following: forgets what was pending. */
void sb_cl_hist_unfollow(cl_channel *cc);
/* An "n" message (a numbered message of another node). */
void sb_cl_hist_message(sb_cluster *cl, cl_channel *cc, const field *f, int n);
/* Replies of history requests (TAG_SCRIPT_*, TAG_HPUB, TAG_HREAD,
 * TAG_FETCH). */
void sb_cl_hist_reply(sb_cluster *cl, cl_req *req, redisReply *rep);
/* Fills in the hub hooks of shared history. */
void sb_cl_hist_hooks(sb_hub_cluster_hooks *hh);
/* Completes reads still waiting and frees every request in flight. */
void sb_cl_hist_free(sb_cluster *cl);
/* Reads what followed the cursor from the stream (a hole). */
void sb_cl_hist_fill(sb_cluster *cl, cl_channel *cc);

/* cluster_order.c: numbered messages into the hub in offset order. */
void sb_cl_entry_free(cl_entry *e);
/* An entry from the fields of an "n" message, or from its payload: 0, or
 * -1 when malformed or memory ran out. */
int sb_cl_entry_from_fields(const char *ch, size_t chlen, const field *f,
                            cl_entry *out);
int sb_cl_entry_from_payload(const char *ch, size_t chlen, const char *p,
                             size_t n, cl_entry *out);
/* Takes e into the channel's pending list (stale or known: dropped). */
void sb_cl_order_insert(sb_cluster *cl, cl_channel *cc, cl_entry *e);
/* Hands pending entries that follow the cursor to the hub. */
void sb_cl_order_drain(sb_cluster *cl, const char *name, size_t len);
/* Gives up the hole before the first pending entry; returns its size. */
uint64_t sb_cl_order_skip(sb_cluster *cl, cl_channel *cc);
/* Delivers every pending entry without an id (the link went down). */
void sb_cl_order_flush(sb_cluster *cl, const char *name, size_t len);
/* Frees the pending list. */
void sb_cl_order_clear(cl_channel *cc);

/* cluster_direct.c: typing flags and direct messages across nodes. */
void sb_cl_on_local_typing(sb_hub *h, const char *ch, size_t chlen,
                           const char *member, size_t mlen, int typing,
                           void *ud);
void sb_cl_on_local_direct(sb_hub *h, const sb_msg *m, const char *to,
                           size_t tolen, void *ud);
/* A "t" message (fields as split, n of them). */
void sb_cl_remote_typing(sb_cluster *cl, const char *ch, size_t chlen,
                         const field *f, int n);
/* A "d" message. */
void sb_cl_remote_direct(sb_cluster *cl, const char *ch, size_t chlen,
                         const field *f, int n);

/* cluster_phx.c: Phoenix presence metas across nodes. */
/* Frees a map of metas. */
void sb_cl_phx_clear(sb_map *metas);
/* An "x" message (one change) and an "X" message (a node's full list). */
void sb_cl_phx_message(sb_cluster *cl, cl_channel *cc, const field *f, int n);
void sb_cl_phx_sync(sb_cluster *cl, cl_channel *cc, const field *node,
                    const char *data, size_t len, size_t pos);
/* A node died or said goodbye: its metas leave (with local diffs). */
void sb_cl_phx_node_gone(sb_cluster *cl, const char *name, size_t n);
/* Reads the channel's metas from Redis (reply in sb_cl_phx_on_snapshot). */
void sb_cl_phx_request_snapshot(sb_cluster *cl, cl_channel *cc);
void sb_cl_phx_on_snapshot(sb_cluster *cl, redisReply *rep);
/* This node's metas of a topic (or of every topic) replace its fields in
 * Redis; leaving: removes them. */
void sb_cl_phx_announce(sb_cluster *cl, const char *topic, size_t tlen,
                        int leaving);
void sb_cl_phx_announce_all(sb_cluster *cl, int leaving);

/* cluster_listing.c: "<node>|<name>" keys and full listings. */
/* 1 when key k is "<node>|..." (a connection or meta key of that node). */
int sb_cl_key_of_node(const char *k, size_t klen, const char *node, size_t n);
/* "<a><sep><b>" into buf (no NUL); its length, or 0 if over cap. */
size_t sb_cl_pair_key(char *buf, size_t cap, const char *a, size_t alen,
                      char sep, const char *b, size_t blen);
/* "<node>|<name>" into buf (no NUL); its length, or 0 if over cap. */
size_t sb_cl_node_key(char *buf, size_t cap, const char *node, size_t nlen,
                      const char *name, size_t n);
/* 1 when a snapshot entry is a key of another node's (this node's own
 * keys are known here first-hand). */
int sb_cl_foreign_key(const sb_cluster *cl, const redisReply *e);

/* A full listing (a snapshot, or one node's "s" or "X" sync) replaces
 * what it covers: what it names is noted as it is applied, and what it
 * lacks is gone afterwards. */
typedef struct cl_listing {
    sb_map named;
    int oom;                /* a key went unnoted: nothing counts as gone */
} cl_listing;
/* Decides which unnamed keys stay: 1 for a key the listing does not
 * cover or one changed since it was read. */
typedef int (*cl_keep_fn)(const void *k, size_t klen, void *val,
                          const void *ud);
void sb_cl_listing_init(cl_listing *l, const void *owner);
void sb_cl_listing_add(cl_listing *l, const char *k, size_t klen);
/* Into gone: the keys of have that the listing did not name and keep
 * (NULL: none) does not keep.  Ends the listing. */
void sb_cl_listing_gone(cl_listing *l, const sb_map *have, cl_keep_fn keep,
                        const void *ud, strlist *gone);
/* A cl_keep_fn for one node's sync: keeps the keys of other nodes (ud is
 * the node's name, a field). */
int sb_cl_keep_other_nodes(const void *k, size_t klen, void *val,
                           const void *ud);
/* EVALs a snapshot script over the channel's hash "<prefix><channel>";
 * 0 when sent (the reply comes under tag). */
int sb_cl_send_snapshot(sb_cluster *cl, int tag, const char *script, size_t slen,
                        const char *prefix, cl_channel *cc);
/* The followed channel a snapshot reply {channel, ...} is for, or NULL. */
cl_channel *sb_cl_snapshot_channel(sb_cluster *cl, const redisReply *rep);

/* cluster_nodes.c: the other nodes, heartbeats, death and restarts. */
/* Marks a node alive now; returns NULL if it is dead (unless revive) or
 * memory ran out. */
cl_node *sb_cl_node_touch(sb_cluster *cl, const char *name, size_t n,
                    double ttl, int revive);
/* A node died (TTL) or said goodbye: its connections leave every channel
 * and its Phoenix metas go. */
void sb_cl_node_gone(sb_cluster *cl, const char *name, size_t n);
/* Refreshes sb:node:<node> and publishes a heartbeat on sb:nodes. */
void sb_cl_heartbeat(sb_cluster *cl);
/* A heartbeat from another node (revives it if it was dead; a new
 * instance under its name is a restart: the old one's connections go). */
void sb_cl_node_heard(sb_cluster *cl, const char *name, size_t n, double ttl,
                      uint64_t instance);
/* The cluster's timer: heartbeats and node expiry. */
void sb_cl_on_tick(uv_timer_t *t);

/* cluster_presence.c: every node's connections in every channel. */
/* A node died or said goodbye: its connections leave every channel. */
void sb_cl_presence_node_gone(sb_cluster *cl, const char *node, size_t n);
/* Applies one remote presence change for connection key
 * "<node>|<instance>:<id>" (rec: its record, needed for a join). */
void sb_cl_remote_set(sb_cluster *cl, const char *ch, size_t chlen,
                const char *key, size_t klen, const char *rec, size_t reclen,
                int present, int mark);
/* Ends a snapshot window: marks and tombstones go (every channel). */
void sb_cl_settle_all_marks(sb_cluster *cl);
/* Asks Redis for every channel's connections of the other nodes (reply in
 * sb_cl_on_snapshot); no-op while one is pending. */
void sb_cl_request_snapshot(sb_cluster *cl);
/* Frees what is known of the other nodes' presence. */
void sb_cl_pchans_free(sb_cluster *cl);
/* Replaces this node's connections of the channel in Redis and tells the
 * other nodes (leaving: none). */
void sb_cl_announce_channel(sb_cluster *cl, const char *ch, size_t chlen,
                            int leaving);
/* The same for every channel this node has or had connections in. */
void sb_cl_announce_all(sb_cluster *cl, int leaving);
/* Applies a snapshot reply: {channel, key, record, ...}. */
void sb_cl_on_snapshot(sb_cluster *cl, redisReply *rep);
/* An "s" message: the node's full connection list in a channel (data,
 * len: the payload; pos: after the head). */
void sb_cl_sync_remote(sb_cluster *cl, const field *node, const char *data,
                       size_t len, size_t pos);
/* The hub hook for a local connection joining or leaving a channel. */
void sb_cl_on_local_conn(sb_hub *h, const char *ch, size_t chlen,
                         const sb_conn *c, const char *member, size_t mlen,
                         int joined, void *ud);

/* The same-machine path (cluster_local.c). */
/* Takes the siblings' path when the node name is this worker's
 * ("<base>-w<worker>") and nobody else holds it. */
void sb_cl_local_init(sb_cluster *cl, struct sb_siblings *sib);
void sb_cl_local_free(sb_cluster *cl);
/* This node starts (on) or stops following ch. */
void sb_cl_local_follow(sb_cluster *cl, const char *ch, size_t chlen, int on);
/* 1 when name is a sibling worker's node (never this node's own). */
int sb_cl_is_sibling(const sb_cluster *cl, const char *name, size_t n);
/* An "m" payload of this node to its sibling workers; returns 1 when it
 * must go to Redis as well (a node of another machine may need it). */
int sb_cl_local_publish(sb_cluster *cl, const char *ch, size_t chlen,
                        const sb_buf *payload);
/* An "m" message of another node into the local fan-out (fields as split
 * by the receiver; cluster_receive.c). */
void sb_cl_deliver_remote(sb_cluster *cl, const char *ch, size_t chlen,
                          const field *f, int n);
/* Splits a payload into fields; see cluster_receive.c. */
int sb_cl_read_fields(const char *data, size_t len, field *f, size_t *pos);

#endif
