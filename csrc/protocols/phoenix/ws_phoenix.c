#include "ws_phoenix.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/defaults.h"
#include "base/str.h"
#include "codec/json.h"
#include "codec/envelope.h"
#include "protocols/slots.h"
#include "proto_phoenix.h"
#include "ws_phoenix_server.h"

/* Depth limit for JSON a Phoenix client sends. */
#define SB_PHX_MAX_DEPTH 64

/* One join instance of a topic on this connection. */
typedef struct sb_phx_chan {
    char *topic;
    size_t topic_len;
    char *jr;              /* current join_ref; NULL = null */
    size_t jr_len;
    int joining;           /* the app's join runs: frames wait in `held` */
    int subscribed;        /* joined to the hub channel */
    sb_fqueue held;
} sb_phx_chan;

typedef struct sb_phx_conn {
    sb_phx_chan **chans;   /* pointers, so a callback's removal is safe */
    size_t n, cap;
    char *token;
    size_t token_len;
    int v1;                /* vsn 1.0.x: JSON objects, no binary frames */
    int text_only;         /* the transport carries no binary (LongPoll) */
    void *transport;       /* the transport's own state (LongPoll), or NULL */
    int64_t armed_ms;      /* when the idle timeout was last armed */
} sb_phx_conn;

static const sb_phx_server *sb_phx_server_of(const sb_wsconn *c)
{
    return sb_server_proto_state(c->srv, &sb_phoenix_ops);
}

static sb_phx_conn *sb_phx_state(const sb_wsconn *c)
{
    return c->proto;
}

static int sb_phx_is_v1(const sb_wsconn *c)
{
    return c->proto && sb_phx_state(c)->v1;
}

/* Binary frames cannot reach the client: V1, or a text-only transport. */
static int sb_phx_no_binary(const sb_wsconn *c)
{
    return c->proto && (sb_phx_state(c)->v1 || sb_phx_state(c)->text_only);
}

static sb_phx_chan *sb_phx_find(const sb_wsconn *c, const char *t, size_t n)
{
    sb_phx_conn *p = sb_phx_state(c);
    size_t i;

    for (i = 0; p && i < p->n; i++)
        if (p->chans[i]->topic_len == n && memcmp(p->chans[i]->topic, t, n) == 0)
            return p->chans[i];
    return NULL;
}

/* Is ch still one of this connection's channels?  A hook may have ended it. */
static int sb_phx_alive(const sb_wsconn *c, const sb_phx_chan *ch)
{
    sb_phx_conn *p = sb_phx_state(c);
    size_t i;

    for (i = 0; p && i < p->n; i++)
        if (p->chans[i] == ch)
            return 1;
    return 0;
}

static void sb_phx_chan_free(sb_phx_chan *ch)
{
    if (!ch)
        return;
    sb_fqueue_free(&ch->held);
    free(ch->topic);
    free(ch->jr);
    free(ch);
}

/* Adds a channel entry for topic with join_ref jr (joining); NULL on OOM. */
static sb_phx_chan *sb_phx_add(sb_wsconn *c, sb_span topic, sb_span jr)
{
    sb_phx_conn *p = sb_phx_state(c);
    sb_phx_chan *ch;

    if (p->n == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 4;
        sb_phx_chan **a = realloc(p->chans, cap * sizeof *a);
        if (!a)
            return NULL;
        p->chans = a;
        p->cap = cap;
    }
    ch = calloc(1, sizeof *ch);
    if (!ch)
        return NULL;
    ch->topic = sb_memdup(topic.p, topic.n);
    ch->topic_len = topic.n;
    if (jr.p) {
        ch->jr = sb_memdup(jr.p, jr.n);
        ch->jr_len = jr.n;
    }
    if (!ch->topic || (jr.p && !ch->jr)) {
        sb_phx_chan_free(ch);
        return NULL;
    }
    ch->joining = 1;
    p->chans[p->n++] = ch;
    return ch;
}

/* Takes ch out of the list (the caller frees it). */
static void sb_phx_unlink(sb_wsconn *c, sb_phx_chan *ch)
{
    sb_phx_conn *p = sb_phx_state(c);
    size_t i;

    for (i = 0; i < p->n; i++) {
        if (p->chans[i] == ch) {
            memmove(&p->chans[i], &p->chans[i + 1], (p->n - i - 1) * sizeof *p->chans);
            p->n--;
            return;
        }
    }
}

static sb_span sb_phx_jr(const sb_phx_chan *ch)
{
    return sb_span_of(ch->jr, ch->jr_len);
}

/* Turns a finished buffer into a frame and queues it (or holds it while
 * `hold` is a joining channel). */
static int sb_phx_send_buf(sb_wsconn *c, sb_buf *b, int binary, sb_phx_chan *hold)
{
    sb_frame *f = sb_frame_from_buf(b, binary);
    int rc;

    sb_buf_free(b);
    if (!f)
        return -1;
    if (hold && hold->joining)
        rc = sb_fqueue_push(&hold->held, f);
    else
        rc = sb_wsconn_send(c, f);
    sb_frame_unref(f);
    return rc;
}

static void sb_phx_reply(sb_wsconn *c, sb_span jr, sb_span ref, sb_span topic,
                         const char *status, sb_span response)
{
    sb_buf b;

    sb_buf_init(&b, SB_FRAME_PRE);
    if ((sb_phx_is_v1(c) ? sb_phx_v1_reply(&b, ref, topic, sb_span_str(status), response)
                         : sb_phx_v2_reply(&b, jr, ref, topic, sb_span_str(status), response)) == 0)
        sb_phx_send_buf(c, &b, 0, NULL);
    else
        sb_buf_free(&b);
}

/* {"status":"error","response":{"reason":R}} with join_ref jr. */
static void sb_phx_reply_error(sb_wsconn *c, sb_span jr, sb_span ref,
                               sb_span topic, const char *reason)
{
    sb_buf r;

    sb_buf_init(&r, 0);
    sb_buf_adds(&r, "{\"reason\":");
    sb_buf_add_json_string(&r, reason, strlen(reason));
    sb_buf_addc(&r, '}');
    if (!r.oom)
        sb_phx_reply(c, jr, ref, topic, "error",
                     sb_span_of((const char *)sb_buf_data(&r), r.len));
    sb_buf_free(&r);
}

static void sb_phx_send_close(sb_wsconn *c, sb_span jr, sb_span topic, int error)
{
    sb_buf b;
    static const char crash[] = "{\"reason\":\"channel_crash\"}";

    sb_span payload = error ? sb_span_of(crash, sizeof crash - 1) : sb_span_of(NULL, 0);

    sb_buf_init(&b, SB_FRAME_PRE);
    if ((sb_phx_is_v1(c) ? sb_phx_v1_close(&b, jr, topic, error, payload)
                         : sb_phx_v2_close(&b, jr, topic, error, payload)) == 0)
        sb_phx_send_buf(c, &b, 0, NULL);
    else
        sb_buf_free(&b);
}

/* Ends a channel instance: out of the hub first (so what the app's leave
 * hook broadcasts, e.g. a presence leave, does not come back here), then
 * the app's leave hook, then the close frame when `send` is 1 (close) or
 * 2 (error).  Frees ch. */
static void sb_phx_drop(sb_wsconn *c, sb_phx_chan *ch, int send, const char *why)
{
    const sb_server_hooks *hooks = sb_server_hooks_of(c->srv);

    sb_phx_unlink(c, ch);
    if (ch->subscribed)
        sb_hub_leave(sb_server_hub(c->srv), ch->topic, ch->topic_len, &c->hc);
    if (hooks->leave)
        hooks->leave(hooks->ud, c, ch->topic, ch->topic_len, why);
    if (send)
        sb_phx_send_close(c, sb_phx_jr(ch), sb_span_of(ch->topic, ch->topic_len), send == 2);
    sb_phx_chan_free(ch);
}

/* Sends what the join handler pushed, now that the join reply is out. */
static void sb_phx_release_held(sb_wsconn *c, sb_phx_chan *ch)
{
    sb_frame *f;

    ch->joining = 0;
    while ((f = sb_fqueue_peek(&ch->held)) != NULL) {
        sb_wsconn_send(c, f);
        sb_fqueue_pop(&ch->held);
    }
}

static int sb_phx_span_eq(sb_span a, const char *s)
{
    size_t n = strlen(s);

    return a.p && a.n == n && memcmp(a.p, s, n) == 0;
}

/* A non-null join_ref that is not the channel's current one: the client
 * raced a server-side end; Phoenix ignores such messages. */
static int sb_phx_stale(const sb_phx_chan *ch, sb_span jr)
{
    if (!jr.p)
        return 0;
    return !ch->jr || ch->jr_len != jr.n || memcmp(ch->jr, jr.p, jr.n) != 0;
}

static void sb_phx_join(sb_wsconn *c, const sb_phx_msg *m)
{
    const sb_server_hooks *hooks = sb_server_hooks_of(c->srv);
    sb_phx_conn *p = sb_phx_state(c);
    sb_phx_chan *ch = sb_phx_find(c, m->topic.p, m->topic.n);
    sb_span jr = m->join_ref.p ? m->join_ref : m->ref;
    sb_buf out;
    int rc;

    if (ch) /* duplicate join: the old instance ends with its own join_ref */
        sb_phx_drop(c, ch, 1, "rejoin");
    if (!hooks->join || !sb_hub_valid_channel(m->topic.p, m->topic.n)) {
        sb_phx_reply_error(c, sb_span_of(NULL, 0), m->ref, m->topic, "unmatched topic");
        return;
    }
    if ((int)p->n >= sb_phx_server_of(c)->max_channels) {
        sb_phx_reply_error(c, jr, m->ref, m->topic, "too many channels joined");
        return;
    }
    ch = sb_phx_add(c, m->topic, jr);
    if (!ch) {
        sb_phx_reply_error(c, jr, m->ref, m->topic, "out of memory");
        return;
    }
    sb_buf_init(&out, 0);
    rc = hooks->join(hooks->ud, c, ch->topic, ch->topic_len, m->payload.p,
                         m->payload.n, &out);
    if (!sb_phx_alive(c, ch)) {
        sb_buf_free(&out);
        return;
    }
    if (rc == SB_JOIN_OK) {
        int hr = sb_hub_join(sb_server_hub(c->srv), ch->topic, ch->topic_len,
                             c->member, strlen(c->member), &c->hc);
        if (hr < 0) {
            sb_phx_reply_error(c, jr, m->ref, m->topic, sb_hub_strerror(hr));
            sb_phx_drop(c, ch, 0, "refused");
        } else {
            ch->subscribed = 1;
            sb_phx_reply(c, jr, m->ref, m->topic, "ok",
                         out.oom ? sb_span_of(NULL, 0)
                                 : sb_span_of((const char *)sb_buf_data(&out), out.len));
            sb_phx_release_held(c, ch);
        }
    } else {
        /* refused, unmatched or crashed: nothing of the instance is kept */
        sb_phx_unlink(c, ch);
        sb_phx_chan_free(ch);
        if (rc == SB_JOIN_UNMATCHED)
            sb_phx_reply_error(c, sb_span_of(NULL, 0), m->ref, m->topic, "unmatched topic");
        else if (rc == SB_JOIN_REFUSED && out.len && !out.oom)
            sb_phx_reply(c, jr, m->ref, m->topic, "error",
                         sb_span_of((const char *)sb_buf_data(&out), out.len));
        else
            sb_phx_reply_error(c, jr, m->ref, m->topic,
                               rc == SB_JOIN_REFUSED ? "join refused" : "join crashed");
    }
    sb_buf_free(&out);
}

static void sb_phx_leave(sb_wsconn *c, const sb_phx_msg *m)
{
    sb_phx_chan *ch = sb_phx_find(c, m->topic.p, m->topic.n);

    if (!ch) {
        /* the client leaves rejected channels too: answer ok anyway */
        sb_phx_reply(c, m->join_ref, m->ref, m->topic, "ok", sb_span_of(NULL, 0));
        return;
    }
    if (sb_phx_stale(ch, m->join_ref))
        return;
    sb_phx_reply(c, sb_phx_jr(ch), m->ref, m->topic, "ok", sb_span_of(NULL, 0));
    sb_phx_drop(c, ch, 1, "leave");
}

static void sb_phx_event(sb_wsconn *c, const sb_phx_msg *m)
{
    const sb_server_hooks *hooks = sb_server_hooks_of(c->srv);
    sb_phx_chan *ch = sb_phx_find(c, m->topic.p, m->topic.n);
    char status[64];
    sb_buf out;
    int rc, binary = 0;

    if (!ch) {
        sb_phx_reply_error(c, sb_span_of(NULL, 0), m->ref, m->topic, "unmatched topic");
        return;
    }
    if (sb_phx_stale(ch, m->join_ref) || ch->joining)
        return;
    if (!hooks->event)
        return;
    sb_buf_init(&out, SB_FRAME_PRE);
    status[0] = '\0';
    rc = hooks->event(hooks->ud, c, ch->topic, ch->topic_len, m->event.p,
                          m->event.n, m->payload.p, m->payload.n, m->binary,
                          status, sizeof status, &out, &binary);
    if (!sb_phx_alive(c, ch)) {
        /* the handler ended the channel itself: its close already went out */
        sb_buf_free(&out);
        return;
    }
    if (rc < 0) {
        /* a crashing handler ends the instance; the client rejoins */
        sb_buf_free(&out);
        sb_phx_drop(c, ch, 2, "crash");
        return;
    }
    if (rc > 0 && !out.oom) {
        if (binary && sb_phx_no_binary(c)) {
            /* V1 and LongPoll have no binary frames: the status still
             * goes out */
            sb_phx_reply(c, sb_phx_jr(ch), m->ref, m->topic, status, sb_span_of(NULL, 0));
        } else if (binary) {
            sb_buf b;
            sb_buf_init(&b, SB_FRAME_PRE);
            if (sb_phx_bin_reply(&b, sb_phx_jr(ch), m->ref, m->topic, sb_span_str(status),
                                 sb_buf_data(&out), out.len) == 0)
                sb_phx_send_buf(c, &b, 1, NULL);
            else
                sb_buf_free(&b);
        } else {
            sb_phx_reply(c, sb_phx_jr(ch), m->ref, m->topic, status,
                         out.len ? sb_span_of((const char *)sb_buf_data(&out), out.len)
                                 : sb_span_of(NULL, 0));
        }
    }
    sb_buf_free(&out);
}

/* Phoenix closes a socket that sent nothing for `timeout` (60 s); the
 * client's heartbeat keeps a healthy one open.  lws keeps every pending
 * timeout in one sorted list that an insert walks from the head, so
 * re-arming on every frame cost a walk over all connections per frame
 * (18% of the server's CPU when Phoenix sockets join and leave fast).
 * The timeout is armed at most once per tenth of it (at least 1 s), for a
 * tenth longer: a socket is closed between `timeout` and 1.1 x `timeout`
 * (+1 s) after its last frame, never earlier. */
static void sb_phx_touch(sb_wsconn *c)
{
    int secs = sb_phx_server_of(c)->timeout;
    int slack = secs / 10 > 1 ? secs / 10 : 1;
    sb_phx_conn *p = sb_phx_state(c);
    int64_t now = sb_mono_ms();

    /* a closing socket keeps the shorter timeout its close armed */
    if (secs <= 0 || (!c->wsi && !c->tcp) || c->close_code || !p)
        return;
    if (p->armed_ms && now - p->armed_ms < (int64_t)slack * 1000)
        return;
    p->armed_ms = now;
    sb_wsconn_expire_in(c, secs + slack);
}

/* Tells the client what was wrong with a frame it sent.  Nothing of it
 * can be trusted, so the reply goes to topic "phoenix" with null refs:
 * the npm client hands it to socket.onMessage (where a developer sees
 * it) and to no channel.  Phoenix itself would crash the socket; an error
 * frame costs a client with a bug less, and the rate limit still bounds a
 * flood of them. */
static void sb_phx_malformed(sb_wsconn *c, const char *what, const sb_codec_err *e)
{
    char reason[160];

    snprintf(reason, sizeof reason, "malformed %s at byte %lu: %s", what,
             (unsigned long)e->pos, e->msg ? e->msg : sb_codec_strerror(e->code));
    sb_phx_reply_error(c, sb_span_of(NULL, 0), sb_span_of(NULL, 0),
                       sb_span_str("phoenix"), reason);
}

void sb_phx_receive(sb_wsconn *c, const char *data, size_t n, int binary)
{
    sb_phx_msg m;
    sb_codec_err e;
    int rc;

    sb_phx_touch(c);
    if (binary && sb_phx_is_v1(c)) {
        e.pos = 0;
        e.msg = "binary frames need vsn=2.0.0";
        sb_phx_malformed(c, "message", &e);
        return;
    }
    if (binary)
        rc = sb_phx_decode_binary((const unsigned char *)data, n, &m, &e);
    else if (sb_phx_is_v1(c))
        rc = sb_phx_decode_v1(data, n, SB_PHX_MAX_DEPTH, &m, &e);
    else
        rc = sb_phx_decode_v2(data, n, SB_PHX_MAX_DEPTH, &m, &e);
    if (rc < 0) {
        sb_phx_malformed(c, binary ? "binary message" : "message", &e);
        return;
    }
    if (!binary && !m.payload_object) {
        /* Phoenix wants objects in text frames; topic and ref are known,
         * so the push itself fails instead of timing out */
        sb_phx_reply_error(c, m.join_ref, m.ref, m.topic, "payload must be a JSON object");
        sb_phx_msg_free(&m);
        return;
    }
    if (sb_phx_span_eq(m.topic, "phoenix") && sb_phx_span_eq(m.event, "heartbeat"))
        sb_phx_reply(c, sb_span_of(NULL, 0), m.ref, m.topic, "ok", sb_span_of(NULL, 0));
    else if (sb_phx_span_eq(m.event, "phx_join"))
        sb_phx_join(c, &m);
    else if (sb_phx_span_eq(m.event, "phx_leave"))
        sb_phx_leave(c, &m);
    else
        sb_phx_event(c, &m);
    sb_phx_msg_free(&m);
}

/* Picks the serializer from vsn as Phoenix does (missing = 1.0.0; 1.0.x
 * V1 objects, 2.0.x V2 arrays, anything else refused with 403). */
int sb_phx_prepare_state(sb_wsconn *c, const sb_reqsrc *r, int text_only)
{
    char vsn[32];
    sb_phx_conn *p;
    int v1;

    if (!sb_request_get(r, "vsn", vsn, sizeof vsn))
        strcpy(vsn, "1.0.0");
    if (strncmp(vsn, "2.0.", 4) == 0)
        v1 = 0;
    else if (strncmp(vsn, "1.0.", 4) == 0)
        v1 = 1;
    else
        return 403;
    p = calloc(1, sizeof *p);
    if (!p)
        return -1;
    p->v1 = v1;
    p->text_only = text_only;
    c->proto = p;
    return 0;
}

void sb_phx_set_token(sb_wsconn *c, char *token, size_t len)
{
    sb_phx_conn *p = sb_phx_state(c);

    free(p->token);
    p->token = token;
    p->token_len = token ? len : 0;
}

void **sb_phx_transport(sb_wsconn *c)
{
    return c->proto ? &sb_phx_state(c)->transport : NULL;
}

/* The WebSocket's state, with the authToken of its subprotocol offer. */
static int sb_phx_prepare(sb_wsconn *c, const sb_reqsrc *r)
{
    char *token;
    size_t len;
    int rc = sb_phx_prepare_state(c, r, 0);

    if (rc)
        return rc;
    if (sb_phx_read_token(r, &token, &len)) {
        free(token);
        return 400;
    }
    sb_phx_set_token(c, token, len);
    return 0;
}

int sb_phx_open(sb_wsconn *c)
{
    c->open = 1;
    sb_phx_touch(c);
    return 0;
}

/* Every channel ends (the app's leave hook runs for each); the hub
 * subscriptions go with the connection right after. */
void sb_phx_closed(sb_wsconn *c)
{
    sb_phx_conn *p = sb_phx_state(c);

    c->open = 0;
    while (p && p->n)
        sb_phx_drop(c, p->chans[p->n - 1], 0, "closed");
}

void sb_phx_release(sb_wsconn *c)
{
    sb_phx_conn *p = sb_phx_state(c);
    size_t i;

    if (!p)
        return;
    for (i = 0; i < p->n; i++)
        sb_phx_chan_free(p->chans[i]);
    free(p->chans);
    free(p->token);
    free(p);
    c->proto = NULL;
}

const char *sb_phx_token(const sb_wsconn *c, size_t *len)
{
    sb_phx_conn *p = sb_phx_state(c);

    if (!p || !p->token)
        return NULL;
    *len = p->token_len;
    return p->token;
}

int sb_phx_push(sb_wsconn *c, const char *topic, size_t tlen, const char *event,
                size_t elen, const char *payload, size_t plen, int binary)
{
    sb_phx_chan *ch = sb_phx_find(c, topic, tlen);
    sb_buf b;
    int rc;

    if (!ch || (binary && sb_phx_no_binary(c)))
        return -1;
    sb_buf_init(&b, SB_FRAME_PRE);
    if (sb_phx_is_v1(c))
        rc = sb_phx_v1_push(&b, sb_span_of(topic, tlen), sb_span_of(event, elen),
                            sb_span_of(payload, plen));
    else if (binary)
        rc = sb_phx_bin_push(&b, sb_phx_jr(ch), sb_span_of(topic, tlen),
                             sb_span_of(event, elen), payload, plen);
    else
        rc = sb_phx_v2_push(&b, sb_phx_jr(ch), sb_span_of(topic, tlen),
                            sb_span_of(event, elen), sb_span_of(payload, plen));
    if (rc) {
        sb_buf_free(&b);
        return -1;
    }
    return sb_phx_send_buf(c, &b, binary, ch);
}

int sb_phx_end(sb_wsconn *c, const char *topic, size_t tlen, int error)
{
    sb_phx_chan *ch = sb_phx_find(c, topic, tlen);

    if (!ch || ch->joining)
        return -1;
    sb_phx_drop(c, ch, error ? 2 : 1, error ? "error" : "kick");
    return 0;
}

void sb_phx_each_topic(sb_wsconn *c, void (*fn)(const char *topic, void *ud), void *ud)
{
    sb_phx_conn *p = sb_phx_state(c);
    size_t i;

    for (i = 0; p && i < p->n; i++)
        fn(p->chans[i]->topic, ud);
}

/* A hub message as a Phoenix broadcast, encoded once per message:
 * a native message from uid U becomes event "message" with the native
 * envelope {uid, alias, date, message} as payload; other events keep their
 * name and payload (wrapped as {"message": P} when P is not an object, as
 * text frames must carry objects); binary payloads become binary
 * broadcasts (V2 only: V1 connections get NULL, nothing to send). */
static sb_frame *sb_phx_frame(sb_msg *m, int v1)
{
    int slot = v1 ? SB_ENC_PHOENIX_V1 : SB_ENC_PHOENIX;
    sb_buf b, env;
    sb_span topic = sb_span_of(m->channel, m->channel_len);
    sb_span event = sb_span_of(m->event, m->event_len);
    sb_span payload = sb_span_of(m->payload, m->payload_len);
    int rc;

    if (m->enc[slot])
        return m->enc[slot];
    if (m->binary && v1)
        return NULL;
    sb_buf_init(&b, SB_FRAME_PRE);
    sb_buf_init(&env, 0);
    if (m->binary) {
        rc = sb_phx_bin_broadcast(&b, topic, event, m->payload, m->payload_len);
    } else {
        if (m->from) {
            sb_envelope_message(&env, sb_span_of(m->from, m->from_len),
                              sb_span_of(m->alias, m->alias_len), m->date_ms, payload);
            event = sb_span_str("message");
        } else if (sb_json_type_of(m->payload, m->payload_len) != SB_JSON_OBJECT) {
            sb_buf_adds(&env, "{\"message\":");
            sb_buf_add(&env, m->payload, m->payload_len);
            sb_buf_addc(&env, '}');
        }
        if (env.len)
            payload = sb_span_of((const char *)sb_buf_data(&env), env.len);
        if (env.oom)
            rc = -1;
        else if (v1)
            rc = sb_phx_v1_push(&b, topic, event, payload);
        else
            rc = sb_phx_v2_broadcast(&b, topic, event, payload);
    }
    sb_buf_free(&env);
    if (rc) {
        sb_buf_free(&b);
        return NULL;
    }
    m->enc[slot] = sb_frame_from_buf(&b, m->binary);
    sb_buf_free(&b);
    return m->enc[slot];
}

void sb_phx_deliver(sb_conn *hc, sb_msg *m, void *ud)
{
    sb_wsconn *c = ud;
    sb_phx_chan *ch = sb_phx_find(c, m->channel, m->channel_len);
    sb_frame *f;

    (void)hc;
    if (!ch || (m->binary && sb_phx_no_binary(c)))
        return;
    f = sb_phx_frame(m, sb_phx_is_v1(c));
    if (!f)
        return;
    if (ch->joining)
        sb_fqueue_push(&ch->held, f);
    else
        sb_wsconn_send(c, f);
}

const sb_proto_ops sb_phoenix_ops = {
    .name = "phoenix",
    /* clients that send an authToken offer it as a subprotocol next to
     * "phoenix", which lws must know to accept the upgrade */
    .ws_subprotocol = "phoenix",
    .server_start = sb_phx_server_start,
    .server_free = sb_phx_server_free,
    .ws_route = sb_phx_route,
    .prepare = sb_phx_prepare,
    .open = sb_phx_open,
    .receive = sb_phx_receive,
    .closed = sb_phx_closed,
    .deliver = sb_phx_deliver,
    .release = sb_phx_release,
    .token = sb_phx_token,
    .push = sb_phx_push,
    .end_topic = sb_phx_end,
    .each_topic = sb_phx_each_topic,
};
