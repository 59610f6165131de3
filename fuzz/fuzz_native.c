/* Native (itty-sockets) client frames: sb_native_decode.
 *
 * Beyond "does not crash": an accepted frame is re-encoded in the
 * canonical \x1F form and must decode to the same recipient and message,
 * and the envelope the relay would build around it must be one valid JSON
 * object whose "message" is exactly the client's JSON and whose "alias"
 * (here: the uid, to exercise escaping) reads back unchanged. */
#include "fuzz.h"

#include "codec/json.h"
#include "protocols/native/proto_native.h"
#include "base/utf8.h"

/* The JSON span without surrounding whitespace, as object_get returns. */
static sb_span trim(sb_span v)
{
    while (v.n && (v.p[0] == ' ' || v.p[0] == '\t' || v.p[0] == '\n' ||
                   v.p[0] == '\r')) {
        v.p++;
        v.n--;
    }
    while (v.n && (v.p[v.n - 1] == ' ' || v.p[v.n - 1] == '\t' ||
                   v.p[v.n - 1] == '\n' || v.p[v.n - 1] == '\r'))
        v.n--;
    return v;
}

static void check_envelope(const sb_native_in *m)
{
    sb_buf b, dec;
    sb_span uid = { "u00001", 6 }, alias = { NULL, 0 }, v;

    sb_buf_init(&b, 0);
    sb_buf_init(&dec, 0);
    if (m->direct)
        alias = m->to;
    FUZZ_CHECK(sb_envelope_message(&b, uid, alias, -1, m->json) == 0);
    FUZZ_CHECK(sb_json_check((const char *)sb_buf_data(&b), b.len, 0,
                             NULL) == 0);
    FUZZ_CHECK(sb_json_object_get((const char *)sb_buf_data(&b), b.len, 0,
                                  "message", 7, &v, NULL) == 1);
    FUZZ_CHECK(fuzz_same(v.p, v.n, trim(m->json).p, trim(m->json).n));
    if (m->direct) {
        FUZZ_CHECK(sb_json_object_get((const char *)sb_buf_data(&b), b.len,
                                      0, "alias", 5, &v, NULL) == 1);
        FUZZ_CHECK(sb_json_unescape(v.p, v.n, &dec) == 0);
        FUZZ_CHECK(fuzz_same(sb_buf_data(&dec), dec.len, m->to.p, m->to.n));
        /* the "user X not found" error event must stay valid JSON too */
        sb_buf_reset(&b);
        FUZZ_CHECK(sb_native_error(&b, m->to, 0) == 0);
        FUZZ_CHECK(sb_json_check((const char *)sb_buf_data(&b), b.len, 0,
                                 NULL) == 0);
    }
    sb_buf_free(&b);
    sb_buf_free(&dec);
}

/* \x1F uid \x1F json must decode to what the first decode found. */
static void check_reencode(const sb_native_in *m, int depth)
{
    sb_buf b;
    sb_native_in m2;
    sb_codec_err e;

    sb_buf_init(&b, 0);
    if (m->direct) {
        sb_buf_addc(&b, 0x1F);
        sb_buf_add(&b, m->to.p, m->to.n);
        sb_buf_addc(&b, 0x1F);
    }
    sb_buf_add(&b, m->json.p, m->json.n);
    FUZZ_CHECK(!b.oom);
    FUZZ_CHECK(sb_native_decode((const char *)sb_buf_data(&b), b.len, depth,
                                &m2, &e) == 0);
    FUZZ_CHECK(m2.direct == m->direct);
    FUZZ_CHECK(fuzz_same(m2.to.p, m2.to.n, m->to.p, m->to.n));
    FUZZ_CHECK(fuzz_same(m2.json.p, m2.json.n, m->json.p, m->json.n));
    sb_buf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = fuzz_copy(data, size);
    sb_native_in m;
    sb_codec_err e;
    size_t i;
    int r, depth = 16;

    if (!s)
        return 0;
    e.code = 0;
    r = sb_native_decode(s, size, depth, &m, &e);
    if (r == 0) {
        FUZZ_CHECK(m.json.p >= s && m.json.p + m.json.n == s + size);
        FUZZ_CHECK(sb_json_check(m.json.p, m.json.n, depth, NULL) == 0);
        if (m.direct) {
            FUZZ_CHECK(m.to.n >= 1 && m.to.n <= SB_NATIVE_UID_MAX);
            FUZZ_CHECK(sb_utf8_valid(m.to.p, m.to.n));
            for (i = 0; i < m.to.n; i++)
                FUZZ_CHECK((unsigned char)m.to.p[i] >= 0x20);
        } else {
            FUZZ_CHECK(m.to.p == NULL);
        }
        check_reencode(&m, depth);
        check_envelope(&m);
    } else {
        FUZZ_CHECK(r == SB_CODEC_EDM || r == SB_CODEC_EJSON);
        FUZZ_CHECK(e.code == r && e.msg != NULL && e.pos <= size);
    }
    free(s);
    return 0;
}
