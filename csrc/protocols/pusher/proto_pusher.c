#include "proto_pusher.h"

#include <stdio.h>
#include <string.h>

static const sb_span absent = { NULL, 0 };

/* The decoded value of string token tok.  Plain strings stay where they
 * are; escaped ones go to store, which is sized to `room` on first use:
 * decoding never lengthens a string, so the store never moves and earlier
 * pointers into it stay valid. */
static int take_string(sb_buf *store, size_t room, sb_span tok, sb_span *dst)
{
    size_t off;

    if (sb_json_string_plain(tok.p, tok.n, dst))
        return SB_CODEC_OK;
    if (!store->mem && sb_buf_reserve(store, room))
        return SB_CODEC_ENOMEM;
    if (store->len + tok.n > store->cap)
        return SB_CODEC_ENOMEM;   /* cannot happen: room covers every token */
    off = store->len;
    if (sb_json_unescape(tok.p, tok.n, store))
        return SB_CODEC_ENOMEM;   /* tokens were validated: only OOM is left */
    dst->p = (const char *)sb_buf_data(store) + off;
    dst->n = store->len - off;
    return SB_CODEC_OK;
}

/* An optional string key of object s: absent stays absent, another type
 * is EFIELD naming `what`. */
static int string_key(sb_buf *store, size_t room, sb_span s, const char *key,
                      sb_span *dst, const char *what, sb_codec_err *e)
{
    sb_span v;
    int r;

    *dst = absent;
    if (sb_json_object_get(s.p, s.n, 0, key, strlen(key), &v, NULL) != 1)
        return SB_CODEC_OK;
    if (sb_json_type_of(v.p, v.n) != SB_JSON_STRING)
        return sb_codec_fail(e, SB_CODEC_EFIELD, (size_t)(v.p - s.p), what);
    r = take_string(store, room, v, dst);
    return r ? sb_codec_fail(e, r, 0, "out of memory") : SB_CODEC_OK;
}

void sb_pusher_msg_free(sb_pusher_msg *m)
{
    sb_buf_free(&m->store);
}

int sb_pusher_decode(const char *s, size_t n, int max_depth, sb_pusher_msg *m,
                     sb_codec_err *e)
{
    sb_span frame = sb_span_of(s, n);
    sb_json_err je;
    int r;

    memset(m, 0, sizeof *m);
    sb_buf_init(&m->store, 0);
    if (sb_json_check(s, n, max_depth, &je))
        return sb_codec_fail(e, SB_CODEC_EJSON, je.pos, je.msg);
    if (sb_json_type_of(s, n) != SB_JSON_OBJECT)
        return sb_codec_fail(e, SB_CODEC_ESHAPE, 0, "expected a JSON object");
    r = string_key(&m->store, n, frame, "event", &m->event,
                   "\"event\" must be a string", e);
    if (!r && !m->event.p)
        r = sb_codec_fail(e, SB_CODEC_ESHAPE, 0, "missing key \"event\"");
    if (!r)
        r = string_key(&m->store, n, frame, "channel", &m->channel,
                       "\"channel\" must be a string", e);
    if (r) {
        sb_pusher_msg_free(m);
        return r;
    }
    if (sb_json_object_get(s, n, 0, "data", 4, &m->data, NULL) != 1)
        m->data = absent;
    return SB_CODEC_OK;
}

void sb_pusher_sub_free(sb_pusher_sub *s)
{
    sb_buf_free(&s->store);
}

int sb_pusher_decode_subscribe(sb_span data, int max_depth, sb_pusher_sub *s,
                               sb_codec_err *e)
{
    sb_span obj = data;
    sb_json_err je;
    int r;

    memset(s, 0, sizeof *s);
    sb_buf_init(&s->store, 0);
    /* twice the data: the object a string holds, then its own strings */
    if (data.p && sb_json_type_of(data.p, data.n) == SB_JSON_STRING) {
        if (take_string(&s->store, 2 * data.n, data, &obj))
            return sb_codec_fail(e, SB_CODEC_ENOMEM, 0, "out of memory");
        if (sb_json_check(obj.p, obj.n, max_depth, &je)) {
            sb_pusher_sub_free(s);
            return sb_codec_fail(e, SB_CODEC_EJSON, je.pos,
                                 "\"data\" is a string that holds no JSON");
        }
    }
    if (!obj.p || sb_json_type_of(obj.p, obj.n) != SB_JSON_OBJECT) {
        sb_pusher_sub_free(s);
        return sb_codec_fail(e, SB_CODEC_ESHAPE, 0, "\"data\" must be an object");
    }
    r = string_key(&s->store, 2 * data.n, obj, "channel", &s->channel,
                   "\"data.channel\" must be a string", e);
    if (!r && !s->channel.p)
        r = sb_codec_fail(e, SB_CODEC_ESHAPE, 0, "missing key \"data.channel\"");
    if (!r)
        r = string_key(&s->store, 2 * data.n, obj, "auth", &s->auth,
                       "\"data.auth\" must be a string", e);
    if (!r)
        r = string_key(&s->store, 2 * data.n, obj, "channel_data", &s->channel_data,
                       "\"data.channel_data\" must be a string", e);
    if (r)
        sb_pusher_sub_free(s);
    return r;
}

int sb_pusher_payload(sb_span data, int max_depth, sb_buf *out, sb_span *payload)
{
    sb_span text;
    size_t start = out->len;

    if (!data.p) {
        *payload = sb_span_str("null");
        return SB_CODEC_OK;
    }
    *payload = data;
    if (sb_json_type_of(data.p, data.n) != SB_JSON_STRING)
        return SB_CODEC_OK;
    if (sb_json_string_plain(data.p, data.n, &text)) {
        if (text.n && sb_json_check(text.p, text.n, max_depth, NULL) == 0)
            *payload = text;
        return SB_CODEC_OK;
    }
    if (sb_json_unescape(data.p, data.n, out))
        return SB_CODEC_ENOMEM;
    text = sb_span_of((const char *)sb_buf_data(out) + start, out->len - start);
    if (text.n && sb_json_check(text.p, text.n, max_depth, NULL) == 0)
        *payload = text;
    else
        out->len = start;
    return SB_CODEC_OK;
}

int sb_pusher_channel_data(sb_span cd, int max_depth, sb_buf *out,
                           sb_span *user_id, sb_span *user_info, sb_codec_err *e)
{
    sb_json_err je;
    sb_json_type t;
    sb_span v;

    *user_id = *user_info = absent;
    if (!cd.p || sb_json_check(cd.p, cd.n, max_depth, &je))
        return sb_codec_fail(e, SB_CODEC_EJSON, cd.p ? je.pos : 0,
                             "channel_data must be JSON");
    if (sb_json_type_of(cd.p, cd.n) != SB_JSON_OBJECT ||
        sb_json_object_get(cd.p, cd.n, 0, "user_id", 7, &v, NULL) != 1)
        return sb_codec_fail(e, SB_CODEC_ESHAPE, 0,
                             "channel_data must be an object with a user_id");
    t = sb_json_type_of(v.p, v.n);
    if (t == SB_JSON_NUMBER) {
        *user_id = v;
    } else if (t == SB_JSON_STRING) {
        size_t start = out->len;
        if (!sb_json_string_plain(v.p, v.n, user_id)) {
            if (sb_json_unescape(v.p, v.n, out))
                return sb_codec_fail(e, SB_CODEC_ENOMEM, 0, "out of memory");
            *user_id = sb_span_of((const char *)sb_buf_data(out) + start,
                                  out->len - start);
        }
    } else {
        return sb_codec_fail(e, SB_CODEC_EFIELD, (size_t)(v.p - cd.p),
                             "user_id must be a string or a number");
    }
    if (!user_id->n)
        return sb_codec_fail(e, SB_CODEC_EFIELD, (size_t)(v.p - cd.p),
                             "user_id must not be empty");
    if (sb_json_object_get(cd.p, cd.n, 0, "user_info", 9, &v, NULL) == 1)
        *user_info = v;
    return SB_CODEC_OK;
}

static int done(const sb_buf *b)
{
    return b->oom ? SB_CODEC_ENOMEM : SB_CODEC_OK;
}

/* {"event":E[,"channel":C],"data": -- the common head. */
static void head(sb_buf *b, sb_span event, sb_span channel)
{
    sb_buf_adds(b, "{\"event\":");
    sb_buf_add_json_string(b, event.p, event.n);
    if (channel.p) {
        sb_buf_adds(b, ",\"channel\":");
        sb_buf_add_json_string(b, channel.p, channel.n);
    }
    sb_buf_adds(b, ",\"data\":");
}

static int tail(sb_buf *b, sb_span user_id)
{
    if (user_id.p) {
        sb_buf_adds(b, ",\"user_id\":");
        sb_buf_add_json_string(b, user_id.p, user_id.n);
    }
    sb_buf_addc(b, '}');
    return done(b);
}

int sb_pusher_event(sb_buf *b, sb_span event, sb_span channel, sb_span text,
                    sb_span user_id)
{
    head(b, event, channel);
    sb_buf_add_json_string(b, text.p ? text.p : "", text.p ? text.n : 0);
    return tail(b, user_id);
}

int sb_pusher_message(sb_buf *b, sb_span event, sb_span channel,
                      sb_span payload, sb_span user_id)
{
    head(b, event, channel);
    if (payload.p && sb_json_type_of(payload.p, payload.n) == SB_JSON_STRING)
        sb_buf_add(b, payload.p, payload.n);
    else if (payload.p)
        sb_buf_add_json_string(b, payload.p, payload.n);
    else
        sb_buf_adds(b, "\"null\"");
    return tail(b, user_id);
}

int sb_pusher_error(sb_buf *b, int code, sb_span message)
{
    sb_buf_adds(b, "{\"event\":\"pusher:error\",\"data\":{\"code\":");
    if (code)
        sb_buf_add_i64(b, code);
    else
        sb_buf_adds(b, "null");
    sb_buf_adds(b, ",\"message\":");
    sb_buf_add_json_string(b, message.p ? message.p : "", message.p ? message.n : 0);
    sb_buf_adds(b, "}}");
    return done(b);
}

int sb_pusher_established(sb_buf *b, sb_span socket_id, int activity_timeout)
{
    char text[128];
    int n;

    n = snprintf(text, sizeof text, "{\"socket_id\":\"%.*s\",\"activity_timeout\":%d}",
                 (int)(socket_id.n < 64 ? socket_id.n : 64), socket_id.p,
                 activity_timeout);
    return sb_pusher_event(b, sb_span_str("pusher:connection_established"), absent,
                           sb_span_of(text, (size_t)n), absent);
}
