/* The channel hub: channels, members, reference-counted presence, typing,
 * history and fan-out.  Pure C: it knows nothing of sockets, protocols or Lua.
 *
 * A connection is an sb_conn embedded in whatever the transport (or a test)
 * uses to represent it; the hub reaches it only through its deliver hook.
 * A member is a string id; a member is present in a channel while at least
 * one of its connections is joined there (StreetJS semantics), so a reconnect
 * that joins the new connection before the old one leaves never flickers.
 *
 * Every function that takes a channel or member takes (pointer, length);
 * names need not be NUL-terminated.  Functions returning int use the SB_E*
 * codes below for failures (always negative). */
#ifndef SB_HUB_H
#define SB_HUB_H

#include <stddef.h>
#include <stdint.h>

#include "base/frame.h"

#define SB_CHANNEL_MAX 255
#define SB_MEMBER_MAX 255

enum {
    SB_OK = 0,
    SB_ENOMEM = -1,      /* allocation failed; hub state unchanged */
    SB_ECHANNEL = -2,    /* channel name empty, too long or bad character */
    SB_EMEMBER = -3,     /* member id empty, too long or control character */
    SB_ELIMIT = -4,      /* connection already in max_channels channels */
    SB_EJOINED = -5,     /* connection joined this channel as another member */
    SB_ENOTFOUND = -6,   /* no such channel / member / connection */
    SB_EGAP = -7         /* history cannot serve the requested position */
};

/* Wire encodings a message can cache (sb_msg.enc); the protocols number
 * their slots (protocols/slots.h), the hub only frees them. */
#define SB_MSG_ENC_SLOTS 8

typedef struct sb_hub sb_hub;
typedef struct sb_conn sb_conn;
typedef struct sb_msg sb_msg;
typedef struct sb_sub sb_sub;

/* A published message.  Immutable once published except for the encoding
 * cache: the first receiver of each wire format encodes it into its enc
 * slot and every later receiver of that format reuses that frame. */
struct sb_msg {
    int refs;
    char *channel;       /* NUL-terminated copies, owned by the message */
    size_t channel_len;
    char *event;         /* "message" when published without an event */
    size_t event_len;
    char *payload;       /* JSON text, or raw bytes when binary */
    size_t payload_len;
    char *from;          /* sender uid or NULL (server) */
    size_t from_len;
    char *alias;         /* sender alias or NULL */
    size_t alias_len;
    int binary;          /* payload is raw bytes, not JSON */
    int64_t date_ms;     /* wall clock at creation, epoch milliseconds */
    uint64_t epoch;      /* channel epoch, set by sb_hub_publish */
    uint64_t offset;     /* per-channel sequence, 1-based, set by publish */
    sb_frame *enc[SB_MSG_ENC_SLOTS];
};

/* Builds a message with refs = 1.  event/from/alias may be NULL.  Returns
 * NULL when memory ran out. */
sb_msg *sb_msg_new(const char *channel, size_t channel_len,
                   const char *event, size_t event_len,
                   const char *payload, size_t payload_len,
                   const char *from, size_t from_len,
                   const char *alias, size_t alias_len, int binary);
sb_msg *sb_msg_ref(sb_msg *m);
void sb_msg_unref(sb_msg *m);

/* Called for each receiver of a publish.  The hook must not keep `m` beyond
 * the call without sb_msg_ref.  It may call back into the hub (join, leave,
 * publish, disconnect of any connection): the hub iterates safely. */
typedef void (*sb_deliver_fn)(sb_conn *c, sb_msg *m, void *ud);

/* What the other nodes of a cluster learn of a connection joined to a
 * channel besides its member id: what the native protocol shows of it in
 * join and leave events.  The transport fills it in after sb_hub_attach
 * (which clears it); the strings must live as long as the connection. */
typedef struct sb_conn_tag {
    const char *uid;       /* NULL: none */
    const char *alias;     /* NULL: none */
    unsigned flags;        /* SB_TAG_* */
} sb_conn_tag;
#define SB_TAG_NATIVE 1u   /* a native connection: others hear it join */
#define SB_TAG_ANNOUNCE 2u /* its join and leave events name it */

/* Embedded by transports.  Fields below `tag` are the hub's.  deliver
 * and ud are those given to sb_hub_attach: each join copies them into
 * its subscription, so a fan-out does not read the sb_conn at all.  It
 * starts loading the first 128 bytes at a subscriber's ud while it
 * delivers to the one before: what the deliver hook reads first goes
 * there. */
struct sb_conn {
    sb_deliver_fn deliver;
    void *ud;
    sb_conn_tag tag;
    sb_sub *subs;        /* this connection's subscriptions (hub-private) */
    int nsubs;
    uint64_t id;         /* unique per hub, assigned by sb_hub_attach */
};

typedef enum {
    SB_EV_PRESENCE_JOIN,   /* member became present (0 -> 1 connections) */
    SB_EV_PRESENCE_LEAVE,  /* member became absent (1 -> 0) */
    SB_EV_TYPING,          /* member's typing flag changed (ev.typing) */
    SB_EV_SESSION_JOIN,    /* a connection joined the channel */
    SB_EV_SESSION_LEAVE    /* a connection left the channel */
} sb_hub_event_type;

typedef struct sb_hub_event {
    sb_hub_event_type type;
    const char *channel;
    size_t channel_len;
    const char *member;
    size_t member_len;
    sb_conn *conn;         /* NULL for typing expiry */
    int typing;
    int remote;            /* the change came from another node (cluster) */
} sb_hub_event;

/* Events fire after the hub state is updated, so the hook sees the new
 * state and may call back into the hub.  Order: a join fires SESSION_JOIN
 * then PRESENCE_JOIN (if the member became present); a leave is its mirror
 * image: TYPING with typing = 0 (if the member became absent while typing),
 * PRESENCE_LEAVE (if it became absent), then SESSION_LEAVE.  A disconnect
 * is a leave per channel.  The hook must not call sb_hub_free. */
typedef void (*sb_event_fn)(sb_hub *h, const sb_hub_event *ev, void *ud);

/* "0 = default": the value in base/defaults.h. */
typedef struct sb_hub_config {
    size_t history;            /* messages kept per channel; 0 = off */
    double history_ttl;        /* seconds a kept message lives; 0 = forever */
    double typing_ttl;         /* seconds before typing clears; 0 = default */
    int max_channels;          /* per connection; 0 = default */
    size_t max_idle_channels;  /* empty channels kept for their history; 0 = default */
    double (*clock)(void *ud); /* monotonic seconds; NULL = CLOCK_MONOTONIC */
    void *clock_ud;
} sb_hub_config;

sb_hub *sb_hub_new(const sb_hub_config *cfg);          /* NULL on OOM */
/* Drops one reference; the last one detaches every connection (no events)
 * and frees the hub.  sb_hub_new gives the caller the first reference. */
void sb_hub_free(sb_hub *h);
/* One more reference, for a server whose connections may outlive the
 * hub's owner: at lua_close the Lua hub can be collected before the loop
 * that still closes the server's connections (found by make test-asan). */
void sb_hub_retain(sb_hub *h);
/* The owner is going away: forget its event, clock and deadline hooks, which point
 * at it, so a hub kept alive by others never calls into a dead owner. */
void sb_hub_drop_hooks(sb_hub *h);
void sb_hub_set_event_hook(sb_hub *h, sb_event_fn fn, void *ud);
/* More listeners of the same events, told after the hook above with the
 * same rules (a protocol that shows presence to its own clients: Pusher's
 * member_added/member_removed, whoever joined).  SB_OK or SB_ENOMEM;
 * unwatch forgets (fn, ud). */
int sb_hub_watch_events(sb_hub *h, sb_event_fn fn, void *ud);
void sb_hub_unwatch_events(sb_hub *h, sb_event_fn fn, void *ud);

/* Initialises c (zeroes hub fields, assigns c->id). */
void sb_hub_attach(sb_hub *h, sb_conn *c, sb_deliver_fn fn, void *ud);

/* Returns 1 if the member became present, 0 if it already was or the
 * connection was already joined as this member, or an SB_E* code. */
int sb_hub_join(sb_hub *h, const char *ch, size_t chlen,
                const char *member, size_t mlen, sb_conn *c);
/* Returns 1 if the member became absent, 0 if it stays present or the
 * connection was not joined, or an SB_E* code. */
int sb_hub_leave(sb_hub *h, const char *ch, size_t chlen, sb_conn *c);
/* Leaves every channel of c; safe to call twice. */
void sb_hub_disconnect(sb_hub *h, sb_conn *c);

/* Stamps m with the channel's epoch and next offset, keeps it in history,
 * and hands it to every joined connection except `except` and connections
 * of member `except_member`.  Returns the number of receivers (>= 0) or an
 * SB_E* code.  (When the cluster takes the message to number it, the
 * count is of the local connections it will be handed to.)  Publishing to a channel nobody joined still stamps and keeps
 * history when history is on.  Publish a message once: its stamps are
 * overwritten by a second publish. */
int sb_hub_publish(sb_hub *h, sb_msg *m, const sb_conn *except,
                   const char *except_member, size_t emlen);

/* Shared history (cluster_history.c): what an asynchronous read of a
 * channel's history found.  reason NULL: msgs[0..n) are every message
 * after the position asked for, in order (possibly none).  Otherwise
 * nothing is replayed and reason names why (resume.h lists them).
 * epoch/offset: the channel's current position in the shared history
 * when `authoritative`, so messages up to it need not be sent again. */
typedef struct sb_history_page {
    const char *reason;
    uint64_t epoch, offset;
    int authoritative;
    sb_msg **msgs;
    size_t n;
} sb_history_page;
typedef void (*sb_fetch_fn)(void *ud, const sb_history_page *page);
typedef struct sb_fetch sb_fetch;   /* a read in flight, owned by the cluster */

/* What publish does with a message the cluster hook has seen. */
enum {
    SB_PUBLISH_LOCAL = 0,   /* stamp it here and fan out now (no cluster
                               history, or Redis unreachable) */
    SB_PUBLISH_TAKEN = 1,   /* the cluster numbers it and delivers it later
                               with sb_hub_publish_at */
    SB_PUBLISH_UNNUMBERED = 2 /* fan out now without an id, keep nothing
                                 (Redis refused it: an id would collide) */
};

/* Scale-out (cluster.c).  The hub stays the single source of presence: a
 * member counts as present while it has a local connection OR is present on
 * at least one other node (remote count, fed by sb_hub_remote_join/leave).
 * presence:join fires when a member becomes present cluster-wide and
 * presence:leave when it is absent everywhere, so moving a user between
 * nodes never flickers.  These hooks tell the cluster layer what to send;
 * they must not call back into the hub. */
typedef struct sb_hub_cluster_hooks {
    /* A publish made on this node (not one injected by publish_remote),
     * called before the local fan-out so Redis sees publishes in order.
     * Returns SB_PUBLISH_*. */
    int (*published)(sb_hub *h, sb_msg *m, const sb_conn *except,
                     const char *except_member, size_t emlen, void *ud);
    /* A local connection joined the channel (joined = 1) or left it, as
     * `member`: the cluster announces connections, not members, so that
     * every node counts them and shows their joins and leaves. */
    void (*local_conn)(sb_hub *h, const char *ch, size_t chlen,
                       const sb_conn *c, const char *member, size_t mlen,
                       int joined, void *ud);
    /* The channel got its first local connection (active = 1) or lost its
     * last one (0); remote members are dropped silently at 0, since the
     * node stops following the channel. */
    void (*channel_active)(sb_hub *h, const char *ch, size_t chlen,
                           int active, void *ud);
    /* Shared history: 1 when the channel's history lives in the cluster
     * and can be read now, -1 when it does but Redis is unreachable, 0
     * when it does not.  NULL: no shared history. */
    int (*history_shared)(sb_hub *h, const char *ch, size_t chlen, void *ud);
    /* Starts reading what followed (epoch, after); fn runs exactly once
     * unless cancelled.  NULL when the read could not be sent. */
    sb_fetch *(*history_fetch)(sb_hub *h, const char *ch, size_t chlen,
                               uint64_t epoch, uint64_t after, sb_fetch_fn fn,
                               void *fn_ud, void *ud);
    void (*history_cancel)(sb_hub *h, sb_fetch *f, void *ud);
    /* sb_hub_set_typing was called here (every call: a set refreshes the
     * flag's TTL on the other nodes too). */
    void (*typing)(sb_hub *h, const char *ch, size_t chlen,
                   const char *member, size_t mlen, int typing, void *ud);
    /* A direct message for a member present on another node (its
     * payload, from and alias; m->channel is the channel). */
    void (*direct)(sb_hub *h, const sb_msg *m, const char *to, size_t tolen,
                   void *ud);
    void *ud;
} sb_hub_cluster_hooks;
/* NULL clears the hooks.  With history hooks set, a channel's ring is
 * only a cache of the shared history and is dropped when the node stops
 * following the channel (its last local connection leaves). */
void sb_hub_set_cluster_hooks(sb_hub *h, const sb_hub_cluster_hooks *hooks);
/* Local fan-out of a message that came from another node: like
 * sb_hub_publish, but the published hook is not called. */
int sb_hub_publish_remote(sb_hub *h, sb_msg *m, const char *except_member,
                          size_t emlen);
/* Local fan-out of a message the cluster numbered (m->epoch, m->offset
 * set; epoch 0 = no id, not kept).  The ring keeps it; a position that
 * does not continue the ring restarts it there.  except_conn is the id
 * of a connection to skip (0: none).  Only channels with a local
 * connection are touched; returns the receiver count. */
int sb_hub_publish_at(sb_hub *h, sb_msg *m, uint64_t except_conn,
                      const char *except_member, size_t emlen);
/* Moves an existing channel to (epoch, offset) with an empty ring, unless
 * it is there already (the shared history's position, read when the node
 * starts following it). */
void sb_hub_history_set_position(sb_hub *h, const char *ch, size_t chlen,
                                 uint64_t epoch, uint64_t offset);
/* The history rule for a channel name (count 0: no history). */
void sb_hub_history_rule(sb_hub *h, const char *ch, size_t chlen,
                         size_t *count, double *ttl);
/* The shared-history hooks, for resume.c: see history_shared above (0
 * without a cluster), and the asynchronous read (NULL: not sent). */
int sb_hub_history_shared(sb_hub *h, const char *ch, size_t chlen);
sb_fetch *sb_hub_history_fetch(sb_hub *h, const char *ch, size_t chlen,
                               uint64_t epoch, uint64_t after, sb_fetch_fn fn,
                               void *fn_ud);
void sb_hub_history_cancel(sb_hub *h, sb_fetch *f);
/* Typing set or cleared on another node: like sb_hub_set_typing (the
 * flag expires here after typing_ttl too), without the typing hook; the
 * event has remote = 1. */
int sb_hub_remote_typing(sb_hub *h, const char *ch, size_t chlen,
                         const char *member, size_t mlen, int typing);
/* A direct message to member `to` of m->channel: hands it to the cluster
 * when the member is present on another node (returns 0), else
 * SB_ENOTFOUND.  (Local recipients are the transport's business.) */
int sb_hub_direct(sb_hub *h, const sb_msg *m, const char *to, size_t tolen);
/* Delivers m (no id, not kept) to this node's connections joined to
 * m->channel as `member`; returns how many. */
int sb_hub_deliver_member(sb_hub *h, sb_msg *m, const char *member,
                          size_t mlen);
/* A connection of another node joined the channel (key names it in the
 * cluster: "<node>|<instance>:<id>") as `member`, with what the native
 * protocol shows of it (tag; NULL: nothing).  The member is present
 * while it has a local connection or a remote one; connection counts
 * include the remote ones.  The channel is created if need be: presence
 * covers the cluster, channels without local connections too.  Returns 1 if the member became present
 * cluster-wide (join) / absent (leave), 0 if not (a key already known
 * as the same connection, or unknown for a leave), or an SB_E* code.  A
 * known key with another member or tag leaves first, then joins anew.  Events carry conn = NULL;
 * the remote watchers hear of the connection after them. */
int sb_hub_remote_join(sb_hub *h, const char *ch, size_t chlen,
                       const char *key, size_t klen, const char *member,
                       size_t mlen, const sb_conn_tag *tag);
int sb_hub_remote_leave(sb_hub *h, const char *ch, size_t chlen,
                        const char *key, size_t klen);
/* Forgets every remote connection and the members only they kept present,
 * without events (the node left the cluster). */
void sb_hub_forget_remote(sb_hub *h);
/* The remote connections of a channel, with their member ids. */
typedef void (*sb_rconn_fn)(const sb_conn_tag *tag, const char *member,
                            size_t mlen, void *ud);
void sb_hub_each_remote_conn(sb_hub *h, const char *ch, size_t chlen,
                             sb_rconn_fn fn, void *ud);
/* Told of every remote connection that joined (joined = 1) or left a
 * channel, after the hub is updated (counts include the change): the
 * native protocol turns them into join and leave events.  Must not change
 * the hub.  watch: SB_OK or SB_ENOMEM; unwatch forgets (fn, ud). */
typedef void (*sb_remote_watch_fn)(sb_hub *h, const char *ch, size_t chlen,
                                   const sb_conn_tag *tag, int joined,
                                   void *ud);
int sb_hub_watch_remote(sb_hub *h, sb_remote_watch_fn fn, void *ud);
void sb_hub_unwatch_remote(sb_hub *h, sb_remote_watch_fn fn, void *ud);

/* Forgets the channel's history and starts a new epoch, so a client
 * recovering from the old one is told about the gap (the cluster calls it
 * for the shared-history channels it follows when Redis becomes
 * unreachable: it can no longer tell what it missed).  Returns 1 if the
 * channel exists, else 0. */
int sb_hub_history_break(sb_hub *h, const char *ch, size_t chlen);

/* Queries.  Counts are 0 for unknown channels. */
int sb_hub_is_present(sb_hub *h, const char *ch, size_t chlen,
                      const char *member, size_t mlen);
size_t sb_hub_member_count(sb_hub *h, const char *ch, size_t chlen);
/* Local connections plus those other nodes reported (cluster). */
size_t sb_hub_connection_count(sb_hub *h, const char *ch, size_t chlen);
/* Member id the connection joined the channel as, or NULL. */
const char *sb_hub_member_of(sb_hub *h, const char *ch, size_t chlen,
                             const sb_conn *c, size_t *mlen);

typedef void (*sb_member_fn)(const char *member, size_t mlen, void *ud);
typedef void (*sb_channel_fn)(const char *ch, size_t chlen, size_t members,
                              size_t connections, void *ud);
typedef void (*sb_conn_fn)(sb_conn *c, const char *member, size_t mlen, void *ud);
void sb_hub_each_member(sb_hub *h, const char *ch, size_t chlen,
                        sb_member_fn fn, void *ud);
void sb_hub_each_connection(sb_hub *h, const char *ch, size_t chlen,
                            sb_conn_fn fn, void *ud);
void sb_hub_each_typing(sb_hub *h, const char *ch, size_t chlen,
                        sb_member_fn fn, void *ud);
/* The each_* functions visit in no particular order; fn must not change
 * the hub (collect, then act).  Channels with at least one connection. */
void sb_hub_each_channel(sb_hub *h, sb_channel_fn fn, void *ud);
/* Channels connection c is joined to (the member id it used there comes
 * from sb_hub_member_of: sb_channel_fn has no member parameter). */
void sb_hub_each_channel_of(sb_hub *h, const sb_conn *c,
                            sb_channel_fn fn, void *ud);

/* Sets or clears typing for a present member; fires SB_EV_TYPING when the
 * flag changes.  Typing clears itself typing_ttl seconds after the last
 * set (see sb_hub_tick).  Returns 1 if the flag changed, 0 if not, or an
 * SB_E* code (SB_ENOTFOUND if the member is not present). */
int sb_hub_set_typing(sb_hub *h, const char *ch, size_t chlen,
                      const char *member, size_t mlen, int typing);
/* Expires typing flags and history entries that are due; returns seconds
 * until the next deadline, or -1 when nothing is pending.  The transport
 * calls it from a timer; tests call it after moving their clock. */
double sb_hub_tick(sb_hub *h);
/* The two halves of sb_hub_tick, for a timer that paces them apart:
 * expiring typing costs only what expires; expiring history visits every
 * channel.  Each returns seconds until its own next deadline, or -1. */
double sb_hub_expire_typing(sb_hub *h);
double sb_hub_expire_history(sb_hub *h);

/* What got a deadline: a typing flag, or a message kept with a ttl. */
typedef enum sb_deadline_kind { SB_DEADLINE_TYPING, SB_DEADLINE_HISTORY }
    sb_deadline_kind;
/* Called whenever something gets a deadline `in` seconds from now, so the
 * owner can arm one timer for the earliest and call sb_hub_tick (or its
 * halves) then.  Runs inside the hub call that set the deadline: it must
 * not call back into the hub.  NULL: the owner ticks by itself. */
typedef void (*sb_deadline_fn)(sb_hub *h, sb_deadline_kind kind, double in,
                               void *ud);
void sb_hub_set_deadline_hook(sb_hub *h, sb_deadline_fn fn, void *ud);

/* History.  Channel epoch and last offset (0, 0 if the channel does not
 * exist). */
void sb_hub_position(sb_hub *h, const char *ch, size_t chlen,
                     uint64_t *epoch, uint64_t *offset);
typedef void (*sb_msg_fn)(sb_msg *m, void *ud);
/* Calls fn for every kept message with offset > after, in order, if the
 * channel has epoch `epoch` and nothing after `after` has been dropped.
 * Returns the number of messages replayed, or SB_EGAP (nothing replayed)
 * when the epoch differs or messages after `after` are gone. */
int sb_hub_replay(sb_hub *h, const char *ch, size_t chlen, uint64_t epoch,
                  uint64_t after, sb_msg_fn fn, void *ud);

/* Totals for metrics and leak checks, counted by walking the hub
 * (O(channels + subscriptions)).  subscriptions includes dead nodes still
 * parked for a running publish. */
typedef struct sb_hub_stats {
    size_t channels;        /* every channel, idle ones included */
    size_t idle_channels;   /* kept only for their history */
    size_t subscriptions;
    size_t members;         /* (channel, member) pairs present */
    size_t typing;
    size_t kept_messages;   /* history entries */
} sb_hub_stats;
void sb_hub_get_stats(sb_hub *h, sb_hub_stats *st);

/* Per-channel history (added for SSE recovery): channels created from now
 * on whose name matches `pattern` keep `count` messages for `ttl` seconds
 * (0 = forever) instead of the config's history/history_ttl.  A pattern is
 * an exact name, "prefix*" or "*"; the longest match wins and an exact name
 * beats every pattern.  Setting a pattern again replaces its rule.  Returns
 * SB_OK or SB_ENOMEM. */
int sb_hub_set_history(sb_hub *h, const char *pattern, size_t len,
                       size_t count, double ttl);

/* Channel name rules: 1..SB_CHANNEL_MAX bytes of [A-Za-z0-9_.:@/-].
 * Member ids: 1..SB_MEMBER_MAX bytes, no control characters (< 0x20, 0x7f).
 * Return 1 if valid. */
int sb_hub_valid_channel(const char *ch, size_t chlen);
int sb_hub_valid_member(const char *m, size_t mlen);
/* The two kinds of name those rules (and node names, SSE event names) are
 * made of, for every layer to use one check.  A word: 1..max bytes, each
 * an ASCII letter, digit or a byte of `extra` (never NUL).  A text:
 * 1..max bytes with no control character.  Return 1 if valid. */
int sb_hub_valid_word(const char *s, size_t n, size_t max, const char *extra);
int sb_hub_valid_text(const char *s, size_t n, size_t max);
const char *sb_hub_strerror(int code);

#endif
