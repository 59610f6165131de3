#include "proto_native.h"

#include <string.h>

#include "base/utf8.h"

static int done(const sb_buf *b)
{
    return b->oom ? SB_CODEC_ENOMEM : SB_CODEC_OK;
}

/* Finds the end of a `@@uid@@` prefix: index of the second "@@", or 0. */
static size_t legacy_end(const char *s, size_t n)
{
    size_t j;

    for (j = 2; j + 1 < n; j++)
        if (s[j] == '@' && s[j + 1] == '@')
            return j;
    return 0;
}

/* Uids are server-made alphanumerics; anything odd is a client bug.  The
 * uid is echoed in the "not found" error event, and invalid UTF-8 in a
 * text frame would make the browser drop the connection. */
static int valid_uid(const char *p, size_t n)
{
    size_t i;

    if (n == 0 || n > SB_NATIVE_UID_MAX)
        return 0;
    for (i = 0; i < n; i++)
        if ((unsigned char)p[i] < 0x20 || p[i] == 0x7f)
            return 0;
    return sb_utf8_valid(p, n);
}

/* Splits off a direct-message prefix; *start is where the JSON begins. */
static int split_prefix(const char *s, size_t n, sb_native_in *m,
                        size_t *start, sb_codec_err *e)
{
    const char *q;
    size_t end;

    if (n >= 1 && s[0] == 0x1F) {
        q = memchr(s + 1, 0x1F, n - 1);
        if (!q)
            return sb_codec_fail(e, SB_CODEC_EDM, n, "direct message "
                                 "without a closing \\x1F after the uid");
        m->to.p = s + 1;
        m->to.n = (size_t)(q - s) - 1;
        *start = (size_t)(q - s) + 1;
    } else if (n >= 2 && s[0] == '@' && s[1] == '@') {
        end = legacy_end(s, n);
        if (!end)
            return sb_codec_fail(e, SB_CODEC_EDM, n, "direct message "
                                 "without a closing @@ after the uid");
        m->to.p = s + 2;
        m->to.n = end - 2;
        *start = end + 2;
    } else {
        *start = 0;
        return SB_CODEC_OK;
    }
    m->direct = 1;
    if (!valid_uid(m->to.p, m->to.n))
        return sb_codec_fail(e, SB_CODEC_EDM, 1, "direct message uid is "
                             "empty, too long or has control characters");
    return SB_CODEC_OK;
}

int sb_native_decode(const char *s, size_t n, int max_depth, sb_native_in *m,
                     sb_codec_err *e)
{
    sb_json_err je;
    size_t start = 0;
    int r;

    memset(m, 0, sizeof *m);
    r = split_prefix(s, n, m, &start, e);
    if (r)
        return r;
    if (sb_json_check(s + start, n - start, max_depth, &je))
        return sb_codec_fail(e, SB_CODEC_EJSON, start + je.pos, je.msg);
    m->json.p = s + start;
    m->json.n = n - start;
    return SB_CODEC_OK;
}

/* `"key":` followed by a JSON string. */
static void add_str_member(sb_buf *b, const char *key, sb_span v)
{
    sb_buf_adds(b, key);
    sb_buf_add_json_string(b, v.p, v.n);
}

/* [{"uid":U,"alias":A,"self":true}, ...] */
static void add_user_list(sb_buf *b, const sb_native_user *u, size_t n)
{
    size_t i;

    sb_buf_addc(b, '[');
    for (i = 0; i < n; i++) {
        if (i)
            sb_buf_addc(b, ',');
        add_str_member(b, "{\"uid\":", u[i].uid);
        if (u[i].alias.p)
            add_str_member(b, ",\"alias\":", u[i].alias);
        if (u[i].self)
            sb_buf_adds(b, ",\"self\":true");
        sb_buf_addc(b, '}');
    }
    sb_buf_addc(b, ']');
}

int sb_native_presence_event(sb_buf *b, const sb_native_presence *ev)
{
    sb_buf_adds(b, ev->leave ? "{\"type\":\"leave\",\"users\":"
                             : "{\"type\":\"join\",\"users\":");
    if (ev->list)
        add_user_list(b, ev->list, ev->nlist);
    else
        sb_buf_add_u64(b, ev->users);
    if (ev->total || ev->list) {
        sb_buf_adds(b, ",\"total\":");
        sb_buf_add_u64(b, ev->users);
    }
    if (ev->uid.p)
        add_str_member(b, ",\"uid\":", ev->uid);
    if (ev->alias.p)
        add_str_member(b, ",\"alias\":", ev->alias);
    if (ev->self)
        sb_buf_adds(b, ",\"self\":true");
    sb_buf_adds(b, ",\"date\":");
    sb_buf_add_i64(b, ev->date);
    sb_buf_addc(b, '}');
    return done(b);
}

int sb_native_error(sb_buf *b, sb_span text, int64_t date)
{
    add_str_member(b, "{\"type\":\"error\",\"message\":", text);
    sb_buf_adds(b, ",\"date\":");
    sb_buf_add_i64(b, date);
    sb_buf_addc(b, '}');
    return done(b);
}

int sb_native_server_event(sb_buf *b, sb_span event, sb_span payload,
                           int64_t date)
{
    add_str_member(b, "{\"type\":", event);
    sb_buf_adds(b, ",\"message\":");
    sb_buf_add(b, payload.p, payload.n);
    sb_buf_adds(b, ",\"date\":");
    sb_buf_add_i64(b, date);
    sb_buf_addc(b, '}');
    return done(b);
}
