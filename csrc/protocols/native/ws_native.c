#include "ws_native.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/map.h"
#include "base/str.h"
#include "codec/json.h"
#include "proto_native.h"
#include "ws_native_presence.h"
#include "net/http_static.h"
#include "net/resume.h"
#include "protocols/slots.h"

/* Depth limit for JSON a native client sends. */
#define SB_NATIVE_MAX_DEPTH 64

/* The protocol's per-server state. */
typedef struct sb_native_server {
    /* presence_events = false: native clients hear no joins or leaves of
     * others (a relay with thousands of subscribers on one channel: n
     * joins would cost n * n frames) */
    int quiet;
    /* uid -> joined native connection, so a direct message finds its
     * receiver without walking the channel.  uids are unique per server
     * (server.c).  When an insert ran out of memory the map is missing
     * someone: lookups then fall back to the walk. */
    sb_map by_uid;
    int by_uid_partial;
    sb_server *srv;
    sb_hub *hub;            /* watched for other nodes' connections until
                               the listener goes (NULL after) */
    sb_native_pres *pres;   /* join and leave events of this turn */
} sb_native_server;

static void sb_native_remote(sb_hub *h, const char *ch, size_t chlen,
                             const sb_conn_tag *tag, int joined, void *ud);

static int sb_native_server_start(sb_server *s, void **state)
{
    sb_native_server *ns = calloc(1, sizeof *ns);

    if (!ns)
        return -1;
    ns->quiet = sb_options_false(sb_server_config_of(s)->options, "presence_events");
    sb_map_init(&ns->by_uid, (uint64_t)(uintptr_t)ns * 0x9E3779B97F4A7C15ULL ^
                                 (uint64_t)sb_now_ms());
    ns->srv = s;
    ns->hub = sb_server_hub(s);
    if (!(ns->pres = sb_native_pres_new(s)) ||
        sb_hub_watch_remote(ns->hub, sb_native_remote, ns)) {
        sb_native_pres_free(ns->pres);
        free(ns);
        return -1;
    }
    *state = ns;
    return 0;
}

/* The listener goes: other nodes' joins need no frames any more, and the
 * hub (which may outlive the server) stops pointing at this state. */
static void sb_native_server_stop(sb_server *s, void *state)
{
    sb_native_server *ns = state;

    (void)s;
    if (ns)
        sb_native_pres_stop(ns->pres);
    if (ns && ns->hub) {
        sb_hub_unwatch_remote(ns->hub, sb_native_remote, ns);
        ns->hub = NULL;
    }
}

static void sb_native_server_free(void *state)
{
    sb_native_server *ns = state;

    if (!ns)
        return;
    sb_native_server_stop(NULL, ns);
    sb_native_pres_free(ns->pres);
    sb_map_clear(&ns->by_uid);
    free(ns);
}

static sb_native_server *sb_native_server_of(const sb_wsconn *c)
{
    return sb_server_proto_state(c->srv, &sb_native_ops);
}

/* Files c under its uid once it joined the hub. */
static void sb_native_index(sb_wsconn *c)
{
    sb_native_server *ns = sb_native_server_of(c);

    if (ns && sb_map_put(&ns->by_uid, c->uid, strlen(c->uid), c) < 0)
        ns->by_uid_partial = 1;
}

/* Takes c out of the uid map (only its own entry). */
static void sb_native_unindex(sb_wsconn *c)
{
    sb_native_server *ns = c->srv ? sb_native_server_of(c) : NULL;
    size_t n = strlen(c->uid);

    if (ns && sb_map_get(&ns->by_uid, c->uid, n) == c)
        sb_map_del(&ns->by_uid, c->uid, n);
}

static int sb_native_quiet(const sb_wsconn *c)
{
    const sb_native_server *ns = sb_native_server_of(c);

    return ns && ns->quiet;
}

/* Sends f to every native connection of the channel except `except`. */
struct sb_native_fan {
    sb_frame *f;
    const sb_conn *except;
    const sb_server *srv;   /* only this server's connections; NULL: all */
};

static void sb_native_fan_cb(sb_conn *hc, const char *member, size_t mlen, void *ud)
{
    struct sb_native_fan *fan = ud;

    (void)member;
    (void)mlen;
    if (hc != fan->except && hc->deliver == sb_native_deliver &&
        (!fan->srv || ((sb_wsconn *)hc->ud)->srv == fan->srv))
        sb_wsconn_send(hc->ud, fan->f);
}

/* An event the channel's other native connections hear (f: its frame):
 * queued for the end of the turn with sequence number seq (sent at once
 * when memory ran out). */
static void sb_native_announce(sb_native_server *ns, const char *ch,
                               size_t chlen, uint64_t seq, sb_frame *f,
                               const sb_conn *except)
{
    struct sb_native_fan fan;

    if (!f || sb_native_pres_event(ns->pres, ch, chlen, seq, f) == 0)
        return;
    fan.f = f;
    fan.except = except;
    fan.srv = ns->srv;
    sb_hub_each_connection(sb_server_hub(ns->srv), ch, chlen, sb_native_fan_cb, &fan);
}

static size_t sb_str_len(const char *s)
{
    return s ? strlen(s) : 0;
}

/* Collects the announced native members of the channel (plus the joiner
 * itself) for a 0.9 client that asked for the list with list=true. */
struct sb_native_list {
    sb_native_user *users;
    size_t n, cap;
    const sb_conn *self;
};

static void sb_native_list_cb(sb_conn *hc, const char *member, size_t mlen, void *ud)
{
    struct sb_native_list *l = ud;
    sb_wsconn *c = hc->ud;

    (void)member;
    (void)mlen;
    if (hc->deliver != sb_native_deliver || (!sb_native_of(c)->announce && hc != l->self) ||
        l->n == l->cap)
        return;
    l->users[l->n].uid = sb_span_str(c->uid);
    l->users[l->n].alias = sb_span_str(c->alias);
    l->users[l->n].self = hc == l->self;
    l->n++;
}

/* The announced native connections of other nodes, for the same list. */
static void sb_native_list_remote_cb(const sb_conn_tag *tag, const char *member,
                                     size_t mlen, void *ud)
{
    struct sb_native_list *l = ud;

    (void)member;
    (void)mlen;
    if ((tag->flags & (SB_TAG_NATIVE | SB_TAG_ANNOUNCE)) !=
            (SB_TAG_NATIVE | SB_TAG_ANNOUNCE) || !tag->uid || l->n == l->cap)
        return;
    l->users[l->n].uid = sb_span_str(tag->uid);
    l->users[l->n].alias = sb_span_str(tag->alias);
    l->users[l->n].self = 0;
    l->n++;
}

/* Builds a join or leave event; `self` adds uid, alias and self:true (the
 * joiner's own copy), otherwise uid/alias appear only when announced. */
static sb_frame *sb_native_presence_frame(sb_wsconn *c, int leave,
                                          size_t users, int self)
{
    sb_buf b;
    sb_native_presence p;
    struct sb_native_list l;
    sb_frame *f;

    memset(&p, 0, sizeof p);
    memset(&l, 0, sizeof l);
    p.leave = leave;
    p.users = users;
    p.total = 1;
    p.date = sb_now_ms();
    if (self || sb_native_of(c)->announce) {
        p.uid = sb_span_str(c->uid);
        p.alias = sb_span_str(c->alias);
    }
    p.self = self;
    if (self && sb_native_of(c)->list) {
        l.cap = users;
        l.self = &c->hc;
        l.users = calloc(users ? users : 1, sizeof *l.users);
        if (l.users) {
            sb_hub_each_connection(sb_server_hub(c->srv), c->channel,
                                   strlen(c->channel), sb_native_list_cb, &l);
            sb_hub_each_remote_conn(sb_server_hub(c->srv), c->channel,
                                    strlen(c->channel), sb_native_list_remote_cb, &l);
        }
        p.list = l.users;
        p.nlist = l.n;
    }
    sb_buf_init(&b, SB_FRAME_PRE);
    sb_native_presence_event(&b, &p);
    f = sb_frame_from_buf(&b, 0);
    sb_buf_free(&b);
    free(l.users);
    return f;
}

/* A native connection of another node joined or left a channel: this
 * server's native connections there get the join or leave event a local
 * one would have caused, with the cluster-wide count. */
static void sb_native_remote(sb_hub *h, const char *ch, size_t chlen,
                             const sb_conn_tag *tag, int joined, void *ud)
{
    sb_native_server *ns = ud;
    sb_native_presence p;
    sb_frame *f;
    sb_buf b;

    (void)h;
    if (ns->quiet || !(tag->flags & SB_TAG_NATIVE))
        return;
    memset(&p, 0, sizeof p);
    p.leave = !joined;
    p.users = sb_hub_connection_count(h, ch, chlen);
    p.total = 1;
    p.date = sb_now_ms();
    if (tag->flags & SB_TAG_ANNOUNCE) {
        p.uid = sb_span_str(tag->uid);
        p.alias = sb_span_str(tag->alias);
    }
    sb_buf_init(&b, SB_FRAME_PRE);
    sb_native_presence_event(&b, &p);
    f = sb_frame_from_buf(&b, 0);
    sb_buf_free(&b);
    sb_native_announce(ns, ch, chlen, sb_native_pres_next(ns->pres), f, NULL);
    sb_frame_unref(f);
}

static void sb_native_send_error(sb_wsconn *c, const char *text)
{
    sb_buf b;
    sb_frame *f;

    sb_buf_init(&b, SB_FRAME_PRE);
    sb_native_error(&b, sb_span_str(text), sb_now_ms());
    f = sb_frame_from_buf(&b, 0);
    sb_buf_free(&b);
    sb_wsconn_send(c, f);
    sb_frame_unref(f);
}

static int sb_request_flag(const sb_reqsrc *r, const char *key)
{
    char v[8];

    return sb_request_get(r, key, v, sizeof v) && strcmp(v, "true") == 0;
}

/* Reads the native options (alias/as, echo, announce, list, binary) from
 * the query. */
static int sb_native_prepare(sb_wsconn *c, const sb_reqsrc *r)
{
    char v[SB_MEMBER_MAX + 1];

    if (!(c->proto = calloc(1, sizeof(sb_native_conn))))
        return -1;
    if (sb_request_get(r, "alias", v, sizeof v) || sb_request_get(r, "as", v, sizeof v)) {
        if (!sb_hub_valid_member(v, strlen(v)) || sb_wsconn_set_alias(c, v, strlen(v)))
            return -1;
    }
    sb_native_of(c)->echo = sb_request_flag(r, "echo");
    sb_native_of(c)->announce = sb_request_flag(r, "announce");
    sb_native_of(c)->list = sb_request_flag(r, "list");
    if (sb_request_flag(r, "binary"))
        c->proto_hot |= SB_NATIVE_BINARY;
    return sb_native_resume_prepare(c, r);
}

/* Joins the hub and announces the join; returns 0 or an SB_E* code. */
static int sb_native_open(sb_wsconn *c)
{
    sb_hub *hub = sb_server_hub(c->srv);
    sb_native_server *ns = sb_native_server_of(c);
    size_t users;
    sb_frame *others, *self;
    int rc, resumed;

    /* what the other nodes show of this connection (it joins below) */
    c->hc.tag.uid = c->uid;
    c->hc.tag.alias = c->alias;
    c->hc.tag.flags = SB_TAG_NATIVE | (sb_native_of(c)->announce ? SB_TAG_ANNOUNCE : 0u);
    resumed = sb_native_resume(c);   /* opt-in replay, same turn as the join */
    rc = sb_resume_join(c, resumed);
    if (rc < 0)
        return rc;
    sb_native_index(c);
    sb_native_of(c)->pres = ns->pres;
    sb_native_of(c)->join_seq = sb_native_pres_next(ns->pres);
    users = sb_hub_connection_count(hub, c->channel, strlen(c->channel));
    /* quiet servers still tell the joiner its uid, but nobody else */
    others = sb_native_quiet(c) ? NULL
             : sb_native_presence_frame(c, 0, users, 0);
    self = sb_native_presence_frame(c, 0, users, 1);
    sb_native_announce(ns, c->channel, strlen(c->channel),
                       sb_native_of(c)->join_seq, others, &c->hc);
    sb_wsconn_send(c, self);
    sb_frame_unref(others);
    sb_frame_unref(self);
    return 0;
}

/* Finds the native connection with a given uid in the channel. */
struct sb_native_find {
    const char *uid;
    size_t len;
    sb_wsconn *found;
};

static void sb_native_find_cb(sb_conn *hc, const char *member, size_t mlen, void *ud)
{
    struct sb_native_find *q = ud;
    sb_wsconn *c;

    (void)member;
    (void)mlen;
    if (q->found || hc->deliver != sb_native_deliver)
        return;
    c = hc->ud;
    if (strlen(c->uid) == q->len && memcmp(c->uid, q->uid, q->len) == 0)
        q->found = c;
}

/* The joined native connection with that uid in c's channel, or NULL. */
static sb_wsconn *sb_native_lookup(const sb_wsconn *c, const char *uid, size_t n)
{
    sb_wsconn *to = sb_map_get(&sb_native_server_of(c)->by_uid, uid, n);
    size_t mlen;

    /* the walk it replaces only saw connections joined to this channel */
    if (!to || !to->open || strcmp(to->channel, c->channel) != 0 ||
        !sb_hub_member_of(sb_server_hub(c->srv), c->channel, strlen(c->channel),
                          &to->hc, &mlen))
        return NULL;
    return to;
}

/* A direct message goes to the one connection with that uid in the same
 * channel, never echoed; in a cluster, to another node where the uid is
 * a present member (uids are the default member ids); an unknown uid
 * gets the sender an error event. */
static void sb_native_direct(sb_wsconn *c, const sb_native_in *in)
{
    struct sb_native_find q;
    sb_msg *m;
    char text[SB_MEMBER_MAX + 32];
    int sent = 0;

    q.uid = in->to.p;
    q.len = in->to.n;
    q.found = sb_native_lookup(c, in->to.p, in->to.n);
    if (!q.found && sb_native_server_of(c)->by_uid_partial)
        sb_hub_each_connection(sb_server_hub(c->srv), c->channel,
                               strlen(c->channel), sb_native_find_cb, &q);
    m = sb_msg_new(c->channel, strlen(c->channel), NULL, 0, in->json.p, in->json.n,
                   c->uid, strlen(c->uid), c->alias, sb_str_len(c->alias), 0);
    if (m && q.found) {
        sb_wsconn_send(q.found, sb_native_frame(m));
        sent = 1;
    } else if (m) {
        sent = sb_hub_direct(sb_server_hub(c->srv), m, in->to.p, in->to.n) == 0;
    }
    sb_msg_unref(m);
    if (!q.found && !sent) {
        snprintf(text, sizeof text, "user %.*s not found",
                 (int)(in->to.n > SB_MEMBER_MAX ? SB_MEMBER_MAX : in->to.n), in->to.p);
        sb_native_send_error(c, text);
    }
}

/* Publishes one message of c to its channel: to everyone else, and back
 * to c itself with echo=true. */
static void sb_native_publish(sb_wsconn *c, const char *event, size_t elen,
                              const char *payload, size_t n, int binary)
{
    sb_msg *m = sb_msg_new(c->channel, strlen(c->channel), event, elen, payload, n,
                           c->uid, strlen(c->uid), c->alias, sb_str_len(c->alias),
                           binary);

    if (!m) {
        sb_native_send_error(c, "server out of memory");
        return;
    }
    if (sb_hub_publish(sb_server_hub(c->srv), m, sb_native_of(c)->echo ? NULL : &c->hc, NULL, 0) >= 0)
        sb_server_stats_of(c->srv)->published++;
    sb_msg_unref(m);
}

/* A binary frame is relayed as it came, as event "binary": its bytes
 * cannot hold a direct-message prefix or the sender's uid
 * (docs/protocols.md#binary-messages).  The app's hooks see it first. */
static void sb_native_receive_binary(sb_wsconn *c, const char *data, size_t n)
{
    const sb_server_hooks *hooks = sb_server_hooks_of(c->srv);

    if (c->handled && hooks->message &&
        !hooks->message(hooks->ud, c, data, n, NULL, 0, 1))
        return;
    sb_native_publish(c, "binary", 6, data, n, 1);
}

static void sb_native_receive(sb_wsconn *c, const char *data, size_t n,
                              int binary)
{
    sb_native_in in;
    sb_codec_err e;
    char err[128];
    const sb_server_hooks *hooks = sb_server_hooks_of(c->srv);

    if (sb_native_of(c)->deny_publish) {
        /* listen-only for this client (the app's channel rules): itty's
         * sendKey answer, an error event, and nothing is relayed */
        sb_native_send_error(c, sb_native_of(c)->deny_publish);
        return;
    }
    if (binary) {
        sb_native_receive_binary(c, data, n);
        return;
    }
    if (sb_native_decode(data, n, SB_NATIVE_MAX_DEPTH, &in, &e) < 0) {
        snprintf(err, sizeof err, "%s at byte %lu: %s",
                 e.code == SB_CODEC_EDM ? "bad direct message" : "invalid JSON",
                 (unsigned long)e.pos, e.msg ? e.msg : "?");
        sb_native_send_error(c, err);
        return;
    }
    if (c->handled && hooks->message &&
        !hooks->message(hooks->ud, c, in.json.p, in.json.n,
                        in.direct ? in.to.p : NULL, in.direct ? in.to.n : 0, 0))
        return;
    if (in.direct) {
        sb_native_direct(c, &in);
        return;
    }
    sb_native_publish(c, NULL, 0, in.json.p, in.json.n, 0);
}

/* Leaves the hub and announces the leave to the rest of the channel. */
static void sb_native_closed(sb_wsconn *c)
{
    sb_hub *hub = sb_server_hub(c->srv);
    sb_frame *f;
    size_t users;

    sb_resume_drop(c);
    if (!c->open)
        return;
    c->open = 0;
    sb_native_unindex(c);
    sb_hub_disconnect(hub, &c->hc);
    users = sb_hub_connection_count(hub, c->channel, strlen(c->channel));
    if (!users || sb_native_quiet(c))
        return;
    f = sb_native_presence_frame(c, 1, users, 0);
    sb_native_announce(sb_native_server_of(c), c->channel, strlen(c->channel),
                       sb_native_pres_next(sb_native_server_of(c)->pres), f, NULL);
    sb_frame_unref(f);
}

sb_frame *sb_native_frame(sb_msg *m)
{
    sb_buf b;

    if (m->enc[SB_ENC_NATIVE])
        return m->enc[SB_ENC_NATIVE];
    if (m->binary)
        return m->enc[SB_ENC_NATIVE] = sb_frame_new(m->payload, m->payload_len, 1);
    sb_buf_init(&b, SB_FRAME_PRE);
    if (m->from) {
        sb_envelope_message(&b, sb_span_of(m->from, m->from_len),
                          sb_span_of(m->alias, m->alias_len), m->date_ms,
                          sb_span_of(m->payload, m->payload_len));
    } else if (m->event_len == 7 && memcmp(m->event, "message", 7) == 0) {
        sb_envelope_message(&b, sb_span_str("server"), sb_span_of(NULL, 0), m->date_ms,
                          sb_span_of(m->payload, m->payload_len));
    } else {
        sb_native_server_event(&b, sb_span_of(m->event, m->event_len),
                               sb_span_of(m->payload, m->payload_len), m->date_ms);
    }
    m->enc[SB_ENC_NATIVE] = sb_frame_from_buf(&b, 0);
    sb_buf_free(&b);
    return m->enc[SB_ENC_NATIVE];
}

sb_frame *sb_native_frame_for(const sb_wsconn *c, sb_msg *m)
{
    if (m->binary && !(c->proto_hot & SB_NATIVE_BINARY))
        return NULL;
    return (c->proto_hot & SB_NATIVE_RECOVER) ? sb_native_id_frame(m) : sb_native_frame(m);
}

void sb_native_deliver(sb_conn *hc, sb_msg *m, void *ud)
{
    sb_wsconn *c = ud;
    sb_frame *f;

    (void)hc;
    /* a client that cannot read it holds nothing back for it either */
    if (m->binary && !(c->proto_hot & SB_NATIVE_BINARY))
        return;
    /* the channel's joins and leaves of this turn go first (the shared
     * flag spares every other delivery a read of the native state) */
    if (c->shared->held_events && sb_native_of(c)->pres &&
        sb_native_pres_pending(sb_native_of(c)->pres))
        sb_native_pres_flush(sb_native_of(c)->pres, c->channel, strlen(c->channel));
    if (c->resume && sb_resume_hold(c, m))
        return;
    f = sb_native_frame_for(c, m);
    if (f)
        sb_wsconn_send(ud, f);
}

/* Frees the native state (also after a refused handshake). */
static void sb_native_release(sb_wsconn *c)
{
    sb_native_conn *nc = sb_native_of(c);

    sb_native_unindex(c);
    if (!nc)
        return;
    free(nc->since);
    free(nc->deny_publish);
    free(nc);
    c->proto = NULL;
}

/* ws://HOST/c/<channel> */
static int sb_native_route(sb_server *s, void *state, const char *path,
                           const char **channel)
{
    (void)s;
    (void)state;
    if (strncmp(path, "/c/", 3) != 0)
        return 0;
    *channel = path + 3;
    return 1;
}

/* A plain GET of a channel URL: say what it is instead of a 404. */
static int sb_native_http(sb_server *s, void *state, struct lws *wsi,
                          const char *path, void **req_state)
{
    (void)s;
    (void)state;
    (void)req_state;
    if (strncmp(path, "/c/", 3) != 0)
        return SB_HTTP_PASS;
    return sb_http_status(wsi, HTTP_STATUS_BAD_REQUEST, "this is a WebSocket endpoint");
}

static void sb_native_info(const sb_wsconn *c,
                           void (*add)(void *ud, const char *key, int value), void *ud)
{
    const sb_native_conn *nc = sb_native_of(c);

    add(ud, "echo", nc && nc->echo);
    add(ud, "announce", nc && nc->announce);
    add(ud, "list", nc && nc->list);
    add(ud, "binary", nc && (c->proto_hot & SB_NATIVE_BINARY));
}

/* conn:set("deny_publish", reason): every frame this client sends gets
 * reason back as an error event and goes nowhere; nil: may publish again. */
static int sb_native_set(sb_wsconn *c, const char *key, const char *value, size_t n)
{
    sb_native_conn *nc = sb_native_of(c);
    char *copy = NULL;

    if (strcmp(key, "deny_publish") != 0 || !nc)
        return 1;
    if (value && !(copy = sb_memdup(value, n)))
        return -1;
    free(nc->deny_publish);
    nc->deny_publish = copy;
    return 0;
}

const sb_proto_ops sb_native_ops = {
    .name = "native",
    .server_start = sb_native_server_start,
    .server_free = sb_native_server_free,
    .server_stop = sb_native_server_stop,
    .ws_route = sb_native_route,
    .http = sb_native_http,
    .prepare = sb_native_prepare,
    .open = sb_native_open,
    .receive = sb_native_receive,
    .closed = sb_native_closed,
    .deliver = sb_native_deliver,
    .release = sb_native_release,
    .notice = sb_native_send_error,
    .info = sb_native_info,
    .set = sb_native_set,
};
