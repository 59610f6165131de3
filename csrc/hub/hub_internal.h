/* The hub's private structures and the functions its files share
 * (hub.c, hub_msg.c, hub_history.c, hub_typing.c, hub_cluster.c,
 * hub_query.c).  Not for the transport or the bindings: they use hub.h. */
#ifndef SB_HUB_INTERNAL_H
#define SB_HUB_INTERNAL_H

#include "hub.h"
#include "base/map.h"

typedef struct sb_channel sb_channel;
typedef struct sb_member sb_member;

struct sb_member {
    sb_channel *ch;
    int conns;              /* live connections joined as this member */
    int remote;             /* connections of other nodes (cluster) */
    int typing;             /* also: linked in the hub's typing list */
    double typing_until;
    sb_member *tprev, *tnext;
    size_t len;
    char id[];              /* NUL-terminated copy */
};

/* A connection of another node joined to a channel (hub_cluster.c). */
typedef struct sb_rconn {
    sb_member *m;
    sb_conn_tag tag;        /* uid and alias point into text */
    char text[];            /* "uid\0alias\0" */
} sb_rconn;

/* What the fan-out reads of each subscriber comes first (cnext to dead):
 * the walk then reads one or two cache lines of it and none of its
 * sb_conn (deliver and ud are copies, taken at the join). */
struct sb_sub {
    sb_sub *cnext;          /* the channel's list (with cprev) */
    sb_conn *conn;          /* not dereferenced once dead: it may be freed */
    sb_deliver_fn deliver;  /* conn's deliver hook and ud, as attached */
    void *ud;
    int dead;
    sb_member *member;      /* NULL once dead */
    sb_channel *ch;
    sb_sub *cprev;
    sb_sub *oprev, *onext;  /* the connection's list; onext chains the
                               graveyard once dead */
};

typedef struct sb_kept {
    sb_msg *m;
    double t;               /* hub clock when kept, for history_ttl */
} sb_kept;

struct sb_channel {
    sb_hub *hub;
    sb_sub *subs;
    sb_sub *graveyard;      /* dead subs still linked for an iterating publish */
    sb_map by_conn;         /* sb_conn* -> sb_sub* */
    sb_map members;         /* member id -> sb_member* */
    sb_map rconns;          /* cluster key -> sb_rconn*: other nodes' */
    size_t nconns;
    int holds;              /* calls in progress using the channel */
    int fanouts;            /* publishes iterating the subs */
    uint64_t epoch, offset;
    size_t hist_cap;        /* ring size, fixed at creation (history rules) */
    double hist_ttl;
    sb_kept *ring;          /* history, allocated on first publish */
    size_t ring_start, ring_len;
    int idle;               /* no connection, kept for its history */
    sb_channel *iprev, *inext;
    sb_channel *aprev, *anext;
    size_t len;
    char name[];
};

struct sb_hub {
    sb_hub_config cfg;
    sb_map channels;        /* name -> sb_channel* */
    sb_channel *all;        /* every channel, for tick and free */
    sb_channel *idle_head, *idle_tail;
    size_t nidle;
    sb_member *typing_head, *typing_tail;   /* ordered by deadline */
    sb_event_fn on_event;
    void *event_ud;
    sb_deadline_fn on_deadline;
    void *deadline_ud;
    uint64_t next_conn_id;
    uint64_t epoch_base, epoch_count;
    uint64_t seed;
    sb_hub_cluster_hooks cluster;  /* all NULL without scale-out */
    /* Per-pattern history overrides (sb_hub_set_history), added for the SSE
     * work: a channel takes the longest matching rule when it is created,
     * else cfg.history / cfg.history_ttl. */
    struct sb_hist_rule {
        char *pattern;      /* "name" exact, "prefix*", or "*" */
        size_t len;
        size_t count;
        double ttl;
    } *rules;
    size_t nrules;
    int rules_ttl;          /* some rule has a ttl: tick must sweep */
    int refs;               /* sb_hub_new's + one per sb_hub_retain */
    int remote_event;       /* events fired now come from another node */
    struct sb_watch {       /* sb_hub_watch_remote */
        sb_remote_watch_fn fn;
        void *ud;
    } *watch;
    size_t nwatch;
    struct sb_ev_watch {    /* sb_hub_watch_events */
        sb_event_fn fn;
        void *ud;
    } *evwatch;
    size_t nevwatch;
};

/* Defined in hub.c. */
/* The hub's clock: cfg.clock when set, else CLOCK_MONOTONIC, in seconds. */
double sb_hub_now(sb_hub *h);
/* Wall clock in epoch milliseconds, for message dates and epoch bases. */
int64_t sb_hub_now_wall_ms(void);
/* Tells the deadline hook, if any, that something is due in `in` s. */
void sb_hub_deadline(sb_hub *h, sb_deadline_kind kind, double in);
/* Calls the event hook, if any, with one event about member m in ch. */
void sb_hub_fire(sb_hub *h, sb_hub_event_type type, sb_channel *ch,
                 const sb_member *m, sb_conn *c, int typing);
/* The channel named ch, or NULL. */
sb_channel *sb_hub_channel_get(sb_hub *h, const char *ch, size_t chlen);
/* Connection c's subscription to ch, or NULL. */
sb_sub *sb_hub_sub_get(sb_channel *ch, const sb_conn *c);
/* Member m of ch (ch may be NULL), or NULL. */
sb_member *sb_hub_member_get(sb_channel *ch, const char *m, size_t mlen);
/* Adds a member with no connection yet to ch; NULL on OOM. */
sb_member *sb_hub_member_new(sb_channel *ch, const char *id, size_t len);
/* A new channel named name (history by the rules); NULL on OOM. */
sb_channel *sb_hub_channel_new(sb_hub *h, const char *name, size_t len);
/* Takes ch off the idle list (no-op when it is not idle). */
void sb_hub_idle_unlink(sb_hub *h, sb_channel *ch);
/* Frees the channel and everything in it (for tick's idle sweep too). */
void sb_hub_channel_destroy(sb_channel *ch);
/* Drops a call's hold on ch; may free the channel or park it idle. */
void sb_hub_channel_release(sb_channel *ch);

/* Defined in hub_history.c. */
/* A fresh channel epoch, below 2^53 and never 0. */
uint64_t sb_hub_next_epoch(sb_hub *h);
/* History size and ttl for a new channel: the longest matching rule. */
void sb_hub_history_policy(sb_hub *h, const char *name, size_t len,
                           size_t *cap, double *ttl);
/* Drops history entries older than the channel's ttl. */
void sb_hub_history_expire(sb_hub *h, sb_channel *ch, double now);
/* Forgets the channel's history and gives it a new epoch. */
void sb_hub_history_reset(sb_hub *h, sb_channel *chan);
/* Stamps m and keeps it in the channel's ring; SB_OK or SB_ENOMEM. */
int sb_hub_history_keep(sb_hub *h, sb_channel *ch, sb_msg *m);
/* Keeps a message the cluster numbered (restarting the ring at its
 * position when it does not follow on). */
void sb_hub_history_put(sb_hub *h, sb_channel *ch, sb_msg *m);

/* Defined in hub_cluster.c. */
/* Frees the channel's remote connections (the channel is going). */
void sb_hub_drop_remote(sb_hub *h, sb_channel *chan);

/* Defined in hub_typing.c. */
/* Takes m off the hub's typing list; no-op when it is not typing. */
void sb_hub_typing_unlink(sb_hub *h, sb_member *m);

#endif
