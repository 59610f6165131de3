/* LongPoll: a POST body as the batch splitter reads it, the base64 of its
 * binary messages, and the poll answer that carries messages back.
 *
 * The splitter must hand out, in order, every non-empty line of the body
 * (without its "\n" and one "\r" before it) and nothing else.  The base64
 * decoder is checked against a second one written from RFC 4648 here.
 * Every message that is UTF-8 goes into one poll answer, which must be
 * valid JSON whose `messages` array gives back exactly those bytes. */
#include "fuzz.h"

#include "base/utf8.h"
#include "protocols/phoenix/proto_longpoll.h"

#define MAX_MSGS 512

/* RFC 4648 section 4 (and 5 for '-' '_'): 0 with the bytes in out, or -1. */
static int ref_b64(const char *s, size_t n, sb_buf *out)
{
    static const char std[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t i, pad = 0, data;
    unsigned long acc = 0;
    int bits = 0;

    while (pad < n && s[n - 1 - pad] == '=')
        pad++;
    data = n - pad;
    if (pad > 2 || (pad && n % 4) || data % 4 == 1)
        return -1;
    for (i = 0; i < data; i++) {
        const char *hit = s[i] == '-' ? std + 62 : s[i] == '_' ? std + 63
                        : s[i] ? strchr(std, s[i]) : NULL;
        if (!hit)
            return -1;
        acc = ((acc << 6) | (unsigned long)(hit - std)) & 0xffffUL;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            sb_buf_addc(out, (char)((acc >> bits) & 0xff));
        }
    }
    return 0;
}

/* The lines the splitter should give, checked one by one. */
static void check_split(const char *s, size_t n, sb_span *msgs, size_t *count)
{
    size_t pos = 0, start = 0, i, k = 0;
    sb_span m;

    for (i = 0; i <= n; i++) {
        size_t len;
        if (i < n && s[i] != '\n')
            continue;
        len = i - start;
        if (len && s[start + len - 1] == '\r')
            len--;
        if (len) {
            FUZZ_CHECK(sb_lp_next_message(s, n, &pos, &m) == 1);
            FUZZ_CHECK(m.p == s + start && m.n == len);
            if (k < MAX_MSGS)
                msgs[k++] = m;
        }
        start = i + 1;
    }
    FUZZ_CHECK(sb_lp_next_message(s, n, &pos, &m) == 0);
    *count = k;
}

static void check_b64(sb_span m)
{
    sb_buf a, b;
    sb_codec_err e;
    int rc, ref;

    if (sb_lp_is_text(m))
        return;
    sb_buf_init(&a, 0);
    sb_buf_init(&b, 0);
    rc = sb_lp_b64_decode(m.p, m.n, &a, &e);
    ref = ref_b64(m.p, m.n, &b);
    FUZZ_CHECK((rc == 0) == (ref == 0));
    if (rc == 0)
        FUZZ_CHECK(fuzz_same(sb_buf_data(&a), a.len, sb_buf_data(&b), b.len));
    else
        FUZZ_CHECK(a.len == 0 && e.code == SB_CODEC_EFIELD && e.pos <= m.n && e.msg);
    sb_buf_free(&a);
    sb_buf_free(&b);
}

/* One answer with every UTF-8 message; reading it back gives them all. */
static void check_answer(const sb_span *msgs, size_t count)
{
    sb_span items[MAX_MSGS], list;
    size_t i, k = 0, got = 0;
    sb_buf b, u;

    sb_buf_init(&b, 0);
    sb_lp_poll_begin(&b, 200, sb_span_of("tok", 3));
    for (i = 0; i < count; i++)
        if (sb_utf8_valid(msgs[i].p, msgs[i].n))
            sb_lp_poll_add(&b, msgs[i]);
    FUZZ_CHECK(sb_lp_poll_end(&b, sb_span_of(NULL, 0)) == 0);
    FUZZ_CHECK(sb_json_check((const char *)sb_buf_data(&b), b.len, 4, NULL) == 0);
    FUZZ_CHECK(sb_json_object_get((const char *)sb_buf_data(&b), b.len, 4, "messages", 8,
                                  &list, NULL) == 1);
    FUZZ_CHECK(sb_json_array(list.p, list.n, 4, items, MAX_MSGS, &got, NULL) == 0);
    sb_buf_init(&u, 0);
    for (i = 0; i < count; i++) {
        if (!sb_utf8_valid(msgs[i].p, msgs[i].n))
            continue;
        FUZZ_CHECK(k < got);
        sb_buf_reset(&u);
        FUZZ_CHECK(sb_json_unescape(items[k].p, items[k].n, &u) == 0);
        FUZZ_CHECK(fuzz_same(sb_buf_data(&u), u.len, msgs[i].p, msgs[i].n));
        k++;
    }
    FUZZ_CHECK(k == got);
    sb_buf_free(&u);
    sb_buf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = fuzz_copy(data, size);
    sb_span msgs[MAX_MSGS];
    size_t count, i;

    if (!s)
        return 0;
    check_split(s, size, msgs, &count);
    for (i = 0; i < count; i++)
        check_b64(msgs[i]);
    check_answer(msgs, count);
    free(s);
    return 0;
}
