#include "proto_phoenix.h"

#include <string.h>

#include "base/utf8.h"

static const sb_span null_span = { NULL, 0 };

static void msg_init(sb_phx_msg *m)
{
    memset(m, 0, sizeof *m);
    sb_buf_init(&m->store, 0);
}

void sb_phx_msg_free(sb_phx_msg *m)
{
    sb_buf_free(&m->store);
}

/* The decoded value of a string token.  Plain strings stay in the input;
 * escaped ones go to m->store, which is sized to the whole frame on first
 * use: decoding never lengthens a string, so the store never moves and
 * earlier pointers into it stay valid. */
static int take_string(sb_phx_msg *m, size_t frame_n, sb_span tok,
                       sb_span *dst)
{
    size_t off;

    if (sb_json_string_plain(tok.p, tok.n, dst))
        return SB_CODEC_OK;
    if (!m->store.mem && sb_buf_reserve(&m->store, frame_n))
        return SB_CODEC_ENOMEM;
    off = m->store.len;
    if (sb_json_unescape(tok.p, tok.n, &m->store))
        return SB_CODEC_ENOMEM;  /* tokens were validated: only OOM is left */
    dst->p = (const char *)sb_buf_data(&m->store) + off;
    dst->n = m->store.len - off;
    return SB_CODEC_OK;
}

/* join_ref / ref: a string or null; a number would be echoed wrongly. */
static int take_ref(sb_phx_msg *m, size_t frame_n, sb_span tok, sb_span *dst,
                    const char *what, sb_codec_err *e, size_t pos)
{
    sb_json_type t = sb_json_type_of(tok.p, tok.n);
    int r;

    if (t == SB_JSON_NULL) {
        *dst = null_span;
        return SB_CODEC_OK;
    }
    if (t != SB_JSON_STRING)
        return sb_codec_fail(e, SB_CODEC_EREF, pos, what);
    r = take_string(m, frame_n, tok, dst);
    return r ? sb_codec_fail(e, r, pos, "out of memory") : SB_CODEC_OK;
}

static int take_name(sb_phx_msg *m, size_t frame_n, sb_span tok, sb_span *dst,
                     const char *what, sb_codec_err *e, size_t pos)
{
    int r;

    if (sb_json_type_of(tok.p, tok.n) != SB_JSON_STRING)
        return sb_codec_fail(e, SB_CODEC_EFIELD, pos, what);
    r = take_string(m, frame_n, tok, dst);
    return r ? sb_codec_fail(e, r, pos, "out of memory") : SB_CODEC_OK;
}

/* Fills the five fields from their tokens; at[i] is the byte offset of
 * token i in the frame, for error positions. */
static int take_fields(sb_phx_msg *m, size_t n, const sb_span f[5],
                       const size_t at[5], sb_codec_err *e)
{
    int r;

    r = take_ref(m, n, f[0], &m->join_ref,
                 "join_ref must be a string or null", e, at[0]);
    if (!r)
        r = take_ref(m, n, f[1], &m->ref, "ref must be a string or null", e,
                     at[1]);
    if (!r)
        r = take_name(m, n, f[2], &m->topic, "topic must be a string", e,
                      at[2]);
    if (!r)
        r = take_name(m, n, f[3], &m->event, "event must be a string", e,
                      at[3]);
    if (r) {
        sb_phx_msg_free(m);
        return r;
    }
    m->payload = f[4];
    m->payload_object = sb_json_type_of(f[4].p, f[4].n) == SB_JSON_OBJECT;
    return SB_CODEC_OK;
}

int sb_phx_decode_v2(const char *s, size_t n, int max_depth, sb_phx_msg *m,
                     sb_codec_err *e)
{
    sb_span f[5];
    size_t count, at[5], i;
    sb_json_err je;

    msg_init(m);
    if (sb_json_check(s, n, max_depth, &je))
        return sb_codec_fail(e, SB_CODEC_EJSON, je.pos, je.msg);
    if (sb_json_type_of(s, n) != SB_JSON_ARRAY)
        return sb_codec_fail(e, SB_CODEC_ESHAPE, 0,
                             "expected a JSON array of 5 elements");
    sb_json_array(s, n, max_depth, f, 5, &count, NULL);
    if (count != 5)
        return sb_codec_fail(e, SB_CODEC_ESHAPE, 0,
                             "expected exactly 5 array elements");
    for (i = 0; i < 5; i++)
        at[i] = (size_t)(f[i].p - s);
    return take_fields(m, n, f, at, e);
}

/* Looks up one key of a V1 object and the offset of its value; a missing
 * optional key reads as null. */
static int v1_key(const char *s, size_t n, const char *key, sb_span *v,
                  size_t *at, const char *missing, sb_codec_err *e)
{
    if (sb_json_object_get(s, n, 0, key, strlen(key), v, NULL) == 1) {
        *at = (size_t)(v->p - s);
        return SB_CODEC_OK;
    }
    if (!missing) {
        v->p = "null";
        v->n = 4;
        *at = 0;
        return SB_CODEC_OK;
    }
    return sb_codec_fail(e, SB_CODEC_ESHAPE, 0, missing);
}

int sb_phx_decode_v1(const char *s, size_t n, int max_depth, sb_phx_msg *m,
                     sb_codec_err *e)
{
    sb_span f[5];
    size_t at[5];
    sb_json_err je;
    int r;

    msg_init(m);
    if (sb_json_check(s, n, max_depth, &je))
        return sb_codec_fail(e, SB_CODEC_EJSON, je.pos, je.msg);
    if (sb_json_type_of(s, n) != SB_JSON_OBJECT)
        return sb_codec_fail(e, SB_CODEC_ESHAPE, 0, "expected a JSON object");
    r = v1_key(s, n, "join_ref", &f[0], &at[0], NULL, e);
    if (!r)
        r = v1_key(s, n, "ref", &f[1], &at[1], "missing key \"ref\"", e);
    if (!r)
        r = v1_key(s, n, "topic", &f[2], &at[2], "missing key \"topic\"", e);
    if (!r)
        r = v1_key(s, n, "event", &f[3], &at[3], "missing key \"event\"", e);
    if (!r)
        r = v1_key(s, n, "payload", &f[4], &at[4],
                   "missing key \"payload\"", e);
    return r ? r : take_fields(m, n, f, at, e);
}

int sb_phx_decode_binary(const unsigned char *s, size_t n, sb_phx_msg *m,
                         sb_codec_err *e)
{
    size_t len[4], off = 5, i;
    sb_span *dst[4];

    msg_init(m);
    dst[0] = &m->join_ref;
    dst[1] = &m->ref;
    dst[2] = &m->topic;
    dst[3] = &m->event;
    if (n < 5)
        return sb_codec_fail(e, SB_CODEC_ETRUNC, n, "binary header cut off");
    if (s[0] != SB_PHX_BIN_PUSH)
        return sb_codec_fail(e, SB_CODEC_EKIND, 0,
                             "clients may only send binary pushes (kind 0)");
    for (i = 0; i < 4; i++)
        len[i] = s[1 + i];
    for (i = 0; i < 4; i++) {
        if (n - off < len[i])
            return sb_codec_fail(e, SB_CODEC_ETRUNC, n,
                                 "binary field runs past the frame end");
        dst[i]->p = (const char *)s + off;
        dst[i]->n = len[i];
        /* these come back in text frames, which must be UTF-8 */
        if (!sb_utf8_valid(dst[i]->p, len[i]))
            return sb_codec_fail(e, SB_CODEC_EFIELD, off,
                                 "binary string field is not UTF-8");
        off += len[i];
    }
    if (m->join_ref.n == 0)
        m->join_ref = null_span;
    m->payload.p = (const char *)s + off;
    m->payload.n = n - off;
    m->binary = 1;
    return SB_CODEC_OK;
}

/* A JSON string, or null when p == NULL. */
static void add_str(sb_buf *b, sb_span v)
{
    if (v.p)
        sb_buf_add_json_string(b, v.p, v.n);
    else
        sb_buf_adds(b, "null");
}

/* JSON text, or {} when p == NULL. */
static void add_json(sb_buf *b, sb_span v)
{
    if (v.p)
        sb_buf_add(b, v.p, v.n);
    else
        sb_buf_adds(b, "{}");
}

static int done(const sb_buf *b)
{
    return b->oom ? SB_CODEC_ENOMEM : SB_CODEC_OK;
}

static sb_span lit(const char *s)
{
    sb_span v;

    v.p = s;
    v.n = strlen(s);
    return v;
}

int sb_phx_v2_message(sb_buf *b, sb_span jr, sb_span ref, sb_span topic,
                      sb_span event, sb_span payload)
{
    sb_buf_addc(b, '[');
    add_str(b, jr);
    sb_buf_addc(b, ',');
    add_str(b, ref);
    sb_buf_addc(b, ',');
    add_str(b, topic);
    sb_buf_addc(b, ',');
    add_str(b, event);
    sb_buf_addc(b, ',');
    add_json(b, payload);
    sb_buf_addc(b, ']');
    return done(b);
}

/* {"status":S,"response":R}, the payload of every phx_reply. */
static void add_reply_payload(sb_buf *b, sb_span status, sb_span response)
{
    sb_buf_adds(b, "{\"status\":");
    add_str(b, status);
    sb_buf_adds(b, ",\"response\":");
    add_json(b, response);
    sb_buf_addc(b, '}');
}

int sb_phx_v2_reply(sb_buf *b, sb_span jr, sb_span ref, sb_span topic,
                    sb_span status, sb_span response)
{
    sb_buf_addc(b, '[');
    add_str(b, jr);
    sb_buf_addc(b, ',');
    add_str(b, ref);
    sb_buf_addc(b, ',');
    add_str(b, topic);
    sb_buf_adds(b, ",\"phx_reply\",");
    add_reply_payload(b, status, response);
    sb_buf_addc(b, ']');
    return done(b);
}

int sb_phx_v2_push(sb_buf *b, sb_span jr, sb_span topic, sb_span event,
                   sb_span payload)
{
    return sb_phx_v2_message(b, jr, null_span, topic, event, payload);
}

int sb_phx_v2_broadcast(sb_buf *b, sb_span topic, sb_span event,
                        sb_span payload)
{
    return sb_phx_v2_message(b, null_span, null_span, topic, event, payload);
}

int sb_phx_v2_close(sb_buf *b, sb_span jr, sb_span topic, int error,
                    sb_span payload)
{
    return sb_phx_v2_message(b, jr, jr, topic,
                             lit(error ? "phx_error" : "phx_close"), payload);
}

int sb_phx_v1_message(sb_buf *b, sb_span topic, sb_span event,
                      sb_span payload, sb_span ref)
{
    sb_buf_adds(b, "{\"topic\":");
    add_str(b, topic);
    sb_buf_adds(b, ",\"event\":");
    add_str(b, event);
    sb_buf_adds(b, ",\"payload\":");
    add_json(b, payload);
    sb_buf_adds(b, ",\"ref\":");
    add_str(b, ref);
    sb_buf_addc(b, '}');
    return done(b);
}

int sb_phx_v1_reply(sb_buf *b, sb_span ref, sb_span topic, sb_span status,
                    sb_span response)
{
    sb_buf_adds(b, "{\"topic\":");
    add_str(b, topic);
    sb_buf_adds(b, ",\"event\":\"phx_reply\",\"payload\":");
    add_reply_payload(b, status, response);
    sb_buf_adds(b, ",\"ref\":");
    add_str(b, ref);
    sb_buf_addc(b, '}');
    return done(b);
}

int sb_phx_v1_push(sb_buf *b, sb_span topic, sb_span event, sb_span payload)
{
    return sb_phx_v1_message(b, topic, event, payload, null_span);
}

int sb_phx_v1_close(sb_buf *b, sb_span jr, sb_span topic, int error,
                    sb_span payload)
{
    return sb_phx_v1_message(b, topic, lit(error ? "phx_error" : "phx_close"),
                             payload, jr);
}

/* Header length bytes then the fields; refuses any field over 255 bytes
 * before writing, so a refused frame leaves b untouched. */
static int add_binary(sb_buf *b, unsigned char kind, const sb_span *f,
                      size_t nf, const void *payload, size_t n)
{
    size_t i;

    for (i = 0; i < nf; i++)
        if (f[i].n > SB_PHX_BIN_FIELD_MAX)
            return SB_CODEC_ETOOLONG;
    sb_buf_addc(b, (char)kind);
    for (i = 0; i < nf; i++)
        sb_buf_addc(b, (char)(unsigned char)f[i].n);
    for (i = 0; i < nf; i++)
        sb_buf_add(b, f[i].p, f[i].n);
    sb_buf_add(b, payload, n);
    return done(b);
}

int sb_phx_bin_push(sb_buf *b, sb_span jr, sb_span topic, sb_span event,
                    const void *payload, size_t n)
{
    sb_span f[3];

    f[0] = jr;
    f[1] = topic;
    f[2] = event;
    return add_binary(b, SB_PHX_BIN_PUSH, f, 3, payload, n);
}

int sb_phx_bin_reply(sb_buf *b, sb_span jr, sb_span ref, sb_span topic,
                     sb_span status, const void *payload, size_t n)
{
    sb_span f[4];

    f[0] = jr;
    f[1] = ref;
    f[2] = topic;
    f[3] = status;
    return add_binary(b, SB_PHX_BIN_REPLY, f, 4, payload, n);
}

int sb_phx_bin_broadcast(sb_buf *b, sb_span topic, sb_span event,
                         const void *payload, size_t n)
{
    sb_span f[2];

    f[0] = topic;
    f[1] = event;
    return add_binary(b, SB_PHX_BIN_BROADCAST, f, 2, payload, n);
}
