/* A Pusher connection (ws_pusher.h, docs/pusher.md#the-wire): the
 * handshake frame, subscriptions, pings, client events and delivery.  A
 * bad frame gets a pusher:error with code null and the connection stays
 * open; only a wrong key or protocol version ends it (4001, 4007), with
 * the same code as its close code, which pusher-js reads as "do not
 * reconnect". */
#include "ws_pusher.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/str.h"
#include "codec/envelope.h"
#include "protocols/slots.h"
#include "proto_pusher.h"

static int sb_pusher_eq(sb_span a, const char *s)
{
    size_t n = strlen(s);

    return a.p && a.n == n && memcmp(a.p, s, n) == 0;
}

sb_pusher_chan *sb_pusher_find(const sb_wsconn *c, const char *ch, size_t n)
{
    sb_pusher_conn *p = sb_pusher_of(c);
    size_t i;

    for (i = 0; p && i < p->n; i++)
        if (p->chans[i]->len == n && memcmp(p->chans[i]->name, ch, n) == 0)
            return p->chans[i];
    return NULL;
}

static void sb_pusher_chan_free(sb_pusher_chan *ch)
{
    if (!ch)
        return;
    free(ch->name);
    free(ch->user_id);
    free(ch->user_info);
    free(ch);
}

/* A new subscription entry (not yet in the hub); NULL on OOM. */
static sb_pusher_chan *sb_pusher_add(sb_wsconn *c, sb_span name, sb_span uid, sb_span info)
{
    sb_pusher_conn *p = sb_pusher_of(c);
    sb_pusher_chan *ch;

    if (p->n == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 4;
        sb_pusher_chan **a = realloc(p->chans, cap * sizeof *a);
        if (!a)
            return NULL;
        p->chans = a;
        p->cap = cap;
    }
    if (!(ch = calloc(1, sizeof *ch)))
        return NULL;
    ch->name = sb_memdup(name.p, name.n);
    ch->len = name.n;
    if (uid.p) {
        ch->user_id = sb_memdup(uid.p, uid.n);
        ch->user_len = uid.n;
    }
    if (info.p) {
        ch->user_info = sb_memdup(info.p, info.n);
        ch->info_len = info.n;
    }
    if (!ch->name || (uid.p && !ch->user_id) || (info.p && !ch->user_info)) {
        sb_pusher_chan_free(ch);
        return NULL;
    }
    p->chans[p->n++] = ch;
    return ch;
}

/* Is ch still one of the connection's subscriptions?  A hook may have
 * ended it. */
static int sb_pusher_alive(const sb_wsconn *c, const sb_pusher_chan *ch)
{
    sb_pusher_conn *p = sb_pusher_of(c);
    size_t i;

    for (i = 0; p && i < p->n; i++)
        if (p->chans[i] == ch)
            return 1;
    return 0;
}

/* The "reason" of an app's refusal ({"reason":R} in out) into text, or
 * def. */
static void sb_pusher_reason(const sb_buf *out, char *text, size_t len, const char *def)
{
    sb_span why;
    sb_buf r;

    snprintf(text, len, "%s", def);
    if (!out->len || out->oom ||
        sb_json_object_get((const char *)sb_buf_data(out), out->len, 0, "reason", 6,
                           &why, NULL) != 1 ||
        sb_json_type_of(why.p, why.n) != SB_JSON_STRING)
        return;
    sb_buf_init(&r, 0);
    if (sb_json_unescape(why.p, why.n, &r) == 0 && r.len)
        snprintf(text, len, "%.*s", (int)r.len, (const char *)sb_buf_data(&r));
    sb_buf_free(&r);
}

/* Takes ch out of the list; 0 when it was not there (a hook ended it). */
static int sb_pusher_unlink(sb_wsconn *c, sb_pusher_chan *ch)
{
    sb_pusher_conn *p = sb_pusher_of(c);
    size_t i;

    for (i = 0; p && i < p->n; i++) {
        if (p->chans[i] == ch) {
            memmove(&p->chans[i], &p->chans[i + 1], (p->n - i - 1) * sizeof *p->chans);
            p->n--;
            return 1;
        }
    }
    return 0;
}

int sb_pusher_send(sb_wsconn *c, const char *text, size_t n)
{
    return sb_wsconn_send_text(c, text, n);
}

static void sb_pusher_send_buf(sb_wsconn *c, sb_buf *b, int rc)
{
    sb_frame *f = rc == 0 && !b->oom ? sb_frame_from_buf(b, 0) : NULL;

    sb_buf_free(b);
    if (f) {
        sb_wsconn_send(c, f);
        sb_frame_unref(f);
    }
}

void sb_pusher_send_event(sb_wsconn *c, const char *event, const char *channel,
                          size_t chlen, const char *text, size_t n)
{
    sb_buf b;

    sb_buf_init(&b, SB_FRAME_PRE);
    sb_pusher_send_buf(c, &b, sb_pusher_event(&b, sb_span_str(event),
                                              sb_span_of(channel, chlen),
                                              sb_span_of(text, n), sb_span_of(NULL, 0)));
}

void sb_pusher_send_error(sb_wsconn *c, int code, const char *message)
{
    sb_buf b;

    sb_buf_init(&b, SB_FRAME_PRE);
    sb_pusher_send_buf(c, &b, sb_pusher_error(&b, code, sb_span_str(message)));
}

/* pusher:subscription_error for channel, with Pusher's data shape
 * {"type":T,"error":E,"status":S}; pusher-js hands it to the channel's
 * pusher:subscription_error listeners. */
static void sb_pusher_refuse(sb_wsconn *c, sb_span channel, const char *type,
                             const char *why, int status)
{
    sb_buf d;

    sb_buf_init(&d, 0);
    sb_buf_adds(&d, "{\"type\":");
    sb_buf_add_json_string(&d, type, strlen(type));
    sb_buf_adds(&d, ",\"error\":");
    sb_buf_add_json_string(&d, why, strlen(why));
    sb_buf_adds(&d, ",\"status\":");
    sb_buf_add_i64(&d, status);
    sb_buf_addc(&d, '}');
    if (!d.oom)
        sb_pusher_send_event(c, "pusher:subscription_error", channel.p, channel.n,
                             (const char *)sb_buf_data(&d), d.len);
    sb_buf_free(&d);
}

/* A frame we could not use: what and where, and the connection goes on. */
static void sb_pusher_malformed(sb_wsconn *c, const char *what, const sb_codec_err *e)
{
    char text[200];

    snprintf(text, sizeof text, "malformed %s at byte %lu: %s", what,
             (unsigned long)e->pos, e->msg ? e->msg : sb_codec_strerror(e->code));
    sb_pusher_send_error(c, 0, text);
}

/* Ends a subscription: out of the hub first (so what the app's leave hook
 * publishes does not come back here), then the app's leave hook.  Frees
 * ch. */
static void sb_pusher_drop(sb_wsconn *c, sb_pusher_chan *ch, const char *why)
{
    const sb_server_hooks *hooks = sb_server_hooks_of(c->srv);
    int was = ch->subscribed;

    sb_pusher_unlink(c, ch);
    if (was)
        sb_hub_leave(sb_server_hub(c->srv), ch->name, ch->len, &c->hc);
    if (was && hooks->leave)
        hooks->leave(hooks->ud, c, ch->name, ch->len, why);
    sb_pusher_chan_free(ch);
}

/* pusher_internal:subscription_succeeded; presence channels carry their
 * members. */
static void sb_pusher_succeeded(sb_wsconn *c, const sb_pusher_chan *ch)
{
    sb_buf d;

    sb_buf_init(&d, 0);
    if (ch->user_id)
        sb_pusher_presence_data(c, ch->name, ch->len, &d);
    else
        sb_buf_adds(&d, "{}");
    if (!d.oom)
        sb_pusher_send_event(c, "pusher_internal:subscription_succeeded", ch->name,
                             ch->len, (const char *)sb_buf_data(&d), d.len);
    sb_buf_free(&d);
}

/* The app's say (the join hook: server:channel's join handler) and the
 * hub; the subscription is known as ch while the hook runs. */
static void sb_pusher_enter(sb_wsconn *c, sb_pusher_chan *ch, sb_span params)
{
    const sb_server_hooks *hooks = sb_server_hooks_of(c->srv);
    sb_span name = sb_span_of(ch->name, ch->len);
    const char *member = ch->user_id ? ch->user_id : c->member;
    char why[160];
    sb_buf out;
    int rc = SB_JOIN_UNMATCHED, hr;

    sb_buf_init(&out, 0);
    if (hooks->join)
        rc = hooks->join(hooks->ud, c, ch->name, ch->len, params.p, params.n, &out);
    sb_pusher_reason(&out, why, sizeof why, rc < 0 ? "join handler failed" : "join refused");
    sb_buf_free(&out);
    if (!sb_pusher_alive(c, ch))
        return;   /* gone while the hook ran: nothing to answer */
    if (rc == SB_JOIN_REFUSED || rc < 0) {
        /* not yet subscribed: the drop runs no leave hook */
        sb_pusher_refuse(c, name, "AuthError", why, rc < 0 ? 500 : 403);
        sb_pusher_drop(c, ch, "refused");
        return;
    }
    hr = sb_hub_join(sb_server_hub(c->srv), ch->name, ch->len, member, strlen(member), &c->hc);
    if (hr < 0) {
        sb_pusher_refuse(c, name, "LimitError", sb_hub_strerror(hr), hr == SB_ELIMIT ? 4100 : 400);
        sb_pusher_drop(c, ch, "refused");
        return;
    }
    ch->subscribed = 1;
    sb_pusher_succeeded(c, ch);
}

/* Checks a subscription's signature and channel_data, then enters it. */
static void sb_pusher_join(sb_wsconn *c, const sb_pusher_sub *s)
{
    const sb_pusher_server *ps = sb_pusher_server_of(c);
    int priv = sb_pusher_prefixed(s->channel.p, s->channel.n, "private-");
    int pres = sb_pusher_prefixed(s->channel.p, s->channel.n, "presence-");
    sb_span uid = sb_span_of(NULL, 0), info = sb_span_of(NULL, 0);
    sb_span params = sb_span_str("{}");
    sb_pusher_chan *ch = sb_pusher_find(c, s->channel.p, s->channel.n);
    sb_codec_err e;
    sb_buf store;

    if (ch) {
        if (ch->subscribed)   /* already in: say so again */
            sb_pusher_succeeded(c, ch);
        return;
    }
    if (!sb_hub_valid_channel(s->channel.p, s->channel.n)) {
        sb_pusher_refuse(c, s->channel, "InvalidChannel",
                         "channel names are 1-255 bytes of A-Z a-z 0-9 _ . : @ / -", 400);
        return;
    }
    if ((priv || pres) &&
        !sb_pusher_auth_ok(ps, sb_pusher_of(c)->socket_id, s->channel.p, s->channel.n,
                           s->auth.p, s->auth.n, pres ? s->channel_data.p : NULL,
                           s->channel_data.n)) {
        sb_pusher_refuse(c, s->channel, "AuthError",
                         s->auth.p ? "invalid signature" : "this channel needs an auth signature",
                         401);
        return;
    }
    sb_buf_init(&store, 0);
    if (pres) {
        if (sb_pusher_channel_data(s->channel_data, SB_PUSHER_MAX_DEPTH, &store, &uid,
                                   &info, &e) ||
            !sb_hub_valid_member(uid.p, uid.n)) {
            sb_pusher_refuse(c, s->channel, "AuthError",
                             uid.p ? "user_id must be 1-255 bytes, no control characters"
                                   : e.msg, 400);
            sb_buf_free(&store);
            return;
        }
        params = s->channel_data;
    }
    ch = sb_pusher_add(c, s->channel, uid, info);
    sb_buf_free(&store);
    if (!ch) {
        sb_pusher_refuse(c, s->channel, "ServerError", "out of memory", 500);
        return;
    }
    sb_pusher_enter(c, ch, params);
}

static void sb_pusher_subscribe(sb_wsconn *c, const sb_pusher_msg *m, int leave)
{
    sb_pusher_sub s;
    sb_pusher_chan *ch;
    sb_codec_err e;

    if (sb_pusher_decode_subscribe(m->data, SB_PUSHER_MAX_DEPTH, &s, &e)) {
        sb_pusher_malformed(c, leave ? "pusher:unsubscribe" : "pusher:subscribe", &e);
        return;
    }
    if (!leave)
        sb_pusher_join(c, &s);
    else if ((ch = sb_pusher_find(c, s.channel.p, s.channel.n)) != NULL)
        sb_pusher_drop(c, ch, "leave");
    sb_pusher_sub_free(&s);
}

/* The cached frame of a client event, made before it is published so
 * that receivers on presence channels learn who sent it (user_id). */
static void sb_pusher_stamp(sb_msg *m, sb_span user_id)
{
    sb_buf b;

    sb_buf_init(&b, SB_FRAME_PRE);
    if (sb_pusher_message(&b, sb_span_of(m->event, m->event_len),
                          sb_span_of(m->channel, m->channel_len),
                          sb_span_of(m->payload, m->payload_len), user_id) == 0)
        m->enc[SB_ENC_PUSHER] = sb_frame_from_buf(&b, 0);
    sb_buf_free(&b);
}

/* Relays a client event to the channel's other connections, every
 * protocol's. */
static void sb_pusher_publish(sb_wsconn *c, const sb_pusher_chan *ch, sb_span event,
                              sb_span payload)
{
    sb_msg *m = sb_msg_new(ch->name, ch->len, event.p, event.n, payload.p, payload.n,
                           NULL, 0, NULL, 0, 0);

    if (!m) {
        sb_pusher_send_error(c, 0, "out of memory");
        return;
    }
    sb_pusher_stamp(m, sb_span_of(ch->user_id, ch->user_len));
    if (sb_hub_publish(sb_server_hub(c->srv), m, &c->hc, NULL, 0) >= 0)
        c->shared->stats.published++;
    sb_msg_unref(m);
}

/* The app's verdict on a client event (server:channel's handlers and the
 * channel rules): 1 relay it, 0 not (refused: the client was told). */
static int sb_pusher_ask(sb_wsconn *c, const sb_pusher_chan *ch, sb_span event,
                         sb_span payload)
{
    const sb_server_hooks *hooks = sb_server_hooks_of(c->srv);
    char status[64], reason[160];
    sb_buf out;
    int rc, binary = 0;

    if (!hooks->event)
        return 1;
    sb_buf_init(&out, 0);
    status[0] = '\0';
    rc = hooks->event(hooks->ud, c, ch->name, ch->len, event.p, event.n, payload.p,
                      payload.n, 0, status, sizeof status, &out, &binary);
    if (rc == 0) {
        sb_buf_free(&out);
        return 1;
    }
    /* an error status refuses it; another status means the app took it */
    sb_pusher_reason(&out, reason, sizeof reason,
                     rc < 0 ? "client event handler failed" : "refused");
    if (rc < 0 || strcmp(status, "error") == 0)
        sb_pusher_send_error(c, 0, reason);
    sb_buf_free(&out);
    return 0;
}

/* client-* events: on a subscribed private or presence channel, when the
 * server enables them; never back to the sender. */
static void sb_pusher_client_event(sb_wsconn *c, const sb_pusher_msg *m)
{
    sb_pusher_chan *ch = m->channel.p ? sb_pusher_find(c, m->channel.p, m->channel.n) : NULL;
    sb_span payload;
    sb_buf store;

    if (!ch || !ch->subscribed) {
        sb_pusher_send_error(c, 0, "client events need a channel this connection subscribed to");
        return;
    }
    if (!sb_pusher_prefixed(ch->name, ch->len, "private-") &&
        !sb_pusher_prefixed(ch->name, ch->len, "presence-")) {
        sb_pusher_send_error(c, 0, "client events are only allowed on private and presence channels");
        return;
    }
    if (!sb_pusher_server_of(c)->client_events) {
        sb_pusher_send_error(c, 0, "client events are not enabled on this server "
                                   "(pusher = { client_events = true })");
        return;
    }
    sb_buf_init(&store, 0);
    if (sb_pusher_payload(m->data, SB_PUSHER_MAX_DEPTH, &store, &payload) == 0 &&
        sb_pusher_ask(c, ch, m->event, payload) &&
        (ch = sb_pusher_find(c, m->channel.p, m->channel.n)) != NULL && ch->subscribed)
        sb_pusher_publish(c, ch, m->event, payload);
    sb_buf_free(&store);
}

static void sb_pusher_receive(sb_wsconn *c, const char *data, size_t n, int binary)
{
    sb_pusher_msg m;
    sb_codec_err e;

    if (binary) {
        sb_pusher_send_error(c, 0, "binary frames are not part of the Pusher protocol");
        return;
    }
    if (sb_pusher_decode(data, n, SB_PUSHER_MAX_DEPTH, &m, &e)) {
        sb_pusher_malformed(c, "frame", &e);
        return;
    }
    if (sb_pusher_eq(m.event, "pusher:ping"))
        sb_pusher_send_event(c, "pusher:pong", NULL, 0, "{}", 2);
    else if (sb_pusher_eq(m.event, "pusher:pong"))
        ;   /* the answer to a ping of ours: nothing to do */
    else if (sb_pusher_eq(m.event, "pusher:subscribe"))
        sb_pusher_subscribe(c, &m, 0);
    else if (sb_pusher_eq(m.event, "pusher:unsubscribe"))
        sb_pusher_subscribe(c, &m, 1);
    else if (m.event.n > 7 && memcmp(m.event.p, "client-", 7) == 0)
        sb_pusher_client_event(c, &m);
    else
        sb_pusher_send_error(c, 0, "unsupported event (pusher:ping, pusher:subscribe, "
                                   "pusher:unsubscribe and client-* are)");
    sb_pusher_msg_free(&m);
}

/* The request's key and protocol version: a wrong one is answered after
 * the upgrade (open), where pusher-js can read the error. */
static int sb_pusher_prepare(sb_wsconn *c, const sb_reqsrc *r)
{
    const sb_pusher_server *ps = sb_pusher_server_of(c);
    sb_pusher_conn *p = calloc(1, sizeof *p);
    char uri[600], version[16];
    int n;

    if (!p)
        return -1;
    c->proto = p;
    n = sb_request_header(r, WSI_TOKEN_GET_URI, uri, sizeof uri);
    if (n <= 5 || strcmp(uri + 5, ps->key) != 0)
        p->refuse = SB_PUSHER_APP_UNKNOWN;
    else if (sb_request_get(r, "protocol", version, sizeof version) &&
             (atoi(version) < 5 || atoi(version) > 7))
        p->refuse = SB_PUSHER_BAD_VERSION;
    return 0;
}

static int sb_pusher_open(sb_wsconn *c)
{
    const sb_pusher_server *ps = sb_pusher_server_of(c);
    sb_pusher_conn *p = sb_pusher_of(c);
    const char *why;
    sb_buf b;

    c->open = 1;
    if (p->refuse) {
        why = p->refuse == SB_PUSHER_APP_UNKNOWN ? "App key not in this server"
                                                : "Unsupported protocol version (7 is)";
        sb_pusher_send_error(c, p->refuse, why);
        sb_wsconn_close(c, p->refuse, why);
        return 0;
    }
    snprintf(p->socket_id, sizeof p->socket_id, "%lu.%llu", (unsigned long)ps->socket_a,
             (unsigned long long)c->hc.id);
    sb_buf_init(&b, SB_FRAME_PRE);
    sb_pusher_send_buf(c, &b, sb_pusher_established(&b, sb_span_str(p->socket_id),
                                                    ps->activity_timeout));
    return 0;
}

/* Every subscription ends (the app's leave hook runs for each). */
static void sb_pusher_closed(sb_wsconn *c)
{
    sb_pusher_conn *p = sb_pusher_of(c);

    c->open = 0;
    while (p && p->n)
        sb_pusher_drop(c, p->chans[p->n - 1], "closed");
}

static void sb_pusher_release(sb_wsconn *c)
{
    sb_pusher_conn *p = sb_pusher_of(c);
    size_t i;

    if (!p)
        return;
    for (i = 0; i < p->n; i++)
        sb_pusher_chan_free(p->chans[i]);
    free(p->chans);
    free(p);
    c->proto = NULL;
}

/* A hub message as a Pusher event, encoded once per message: a native
 * client's message is event "message" with the native envelope as data
 * (as Phoenix gets it), anything else keeps its event name.  Binary
 * payloads have no Pusher form: NULL. */
static sb_frame *sb_pusher_frame(sb_msg *m)
{
    sb_buf b, env;
    sb_span event = sb_span_of(m->event, m->event_len);
    sb_span payload = sb_span_of(m->payload, m->payload_len);
    int rc;

    if (m->enc[SB_ENC_PUSHER] || m->binary)
        return m->enc[SB_ENC_PUSHER];
    sb_buf_init(&b, SB_FRAME_PRE);
    sb_buf_init(&env, 0);
    if (m->from) {
        sb_envelope_message(&env, sb_span_of(m->from, m->from_len),
                            sb_span_of(m->alias, m->alias_len), m->date_ms, payload);
        event = sb_span_str("message");
        payload = sb_span_of((const char *)sb_buf_data(&env), env.len);
    }
    rc = env.oom ? -1 : sb_pusher_message(&b, event, sb_span_of(m->channel, m->channel_len),
                                          payload, sb_span_of(NULL, 0));
    if (rc == 0)
        m->enc[SB_ENC_PUSHER] = sb_frame_from_buf(&b, 0);
    sb_buf_free(&env);
    sb_buf_free(&b);
    return m->enc[SB_ENC_PUSHER];
}

void sb_pusher_deliver(sb_conn *hc, sb_msg *m, void *ud)
{
    sb_wsconn *c = ud;
    sb_pusher_chan *ch = sb_pusher_find(c, m->channel, m->channel_len);
    sb_frame *f;

    (void)hc;
    if (!ch || !ch->subscribed || !(f = sb_pusher_frame(m)))
        return;
    sb_wsconn_send(c, f);
}

/* The rate limit dropped messages: say so without closing. */
static void sb_pusher_notice(sb_wsconn *c, const char *text)
{
    sb_pusher_send_error(c, 0, text);
}

static void sb_pusher_each_topic(sb_wsconn *c, void (*fn)(const char *topic, void *ud),
                                 void *ud)
{
    sb_pusher_conn *p = sb_pusher_of(c);
    size_t i;

    for (i = 0; p && i < p->n; i++)
        fn(p->chans[i]->name, ud);
}

const sb_proto_ops sb_pusher_ops = {
    .name = "pusher",
    .server_start = sb_pusher_server_start,
    .server_stop = sb_pusher_server_stop,
    .server_free = sb_pusher_server_free,
    .ws_route = sb_pusher_route,
    .http = sb_pusher_http,
    .http_body = sb_pusher_http_body,
    .http_body_done = sb_pusher_http_body_done,
    .http_free = sb_pusher_http_free,
    .prepare = sb_pusher_prepare,
    .open = sb_pusher_open,
    .receive = sb_pusher_receive,
    .closed = sb_pusher_closed,
    .deliver = sb_pusher_deliver,
    .release = sb_pusher_release,
    .notice = sb_pusher_notice,
    .each_topic = sb_pusher_each_topic,
};
