/* Phoenix text frames: sb_phx_decode_v2 and sb_phx_decode_v1 on the same
 * input.
 *
 * Round trips: whatever a decoder accepts is encoded again (V2 array and
 * V1 object) and decoded, and the five fields must come back byte for
 * byte, with null staying null and "" staying "" (the JS client compares
 * refs with ===, so a ref that changes shape is a real bug).  V1 carries
 * no join_ref from the server, so that one must come back as null. */
#include "fuzz.h"

#include "protocols/phoenix/proto_phoenix.h"

static int span_eq(sb_span a, sb_span b)
{
    if (!a.p || !b.p)
        return !a.p && !b.p;
    return fuzz_same(a.p, a.n, b.p, b.n);
}

static void check_errors(int r, const sb_codec_err *e, size_t n)
{
    FUZZ_CHECK(r == SB_CODEC_EJSON || r == SB_CODEC_ESHAPE ||
               r == SB_CODEC_EREF || r == SB_CODEC_EFIELD ||
               r == SB_CODEC_ENOMEM);
    FUZZ_CHECK(e->code == r && e->msg != NULL && e->pos <= n);
}

/* m -> V2 text -> m2: all five fields agree. */
static void check_v2(const sb_phx_msg *m)
{
    sb_buf b;
    sb_phx_msg m2;
    sb_codec_err e;

    sb_buf_init(&b, 0);
    FUZZ_CHECK(sb_phx_v2_message(&b, m->join_ref, m->ref, m->topic,
                                 m->event, m->payload) == 0);
    FUZZ_CHECK(sb_phx_decode_v2((const char *)sb_buf_data(&b), b.len, 0,
                                &m2, &e) == 0);
    FUZZ_CHECK(span_eq(m2.join_ref, m->join_ref));
    FUZZ_CHECK(span_eq(m2.ref, m->ref));
    FUZZ_CHECK(span_eq(m2.topic, m->topic));
    FUZZ_CHECK(span_eq(m2.event, m->event));
    FUZZ_CHECK(span_eq(m2.payload, m->payload));
    FUZZ_CHECK(m2.payload_object == m->payload_object);
    sb_phx_msg_free(&m2);
    sb_buf_free(&b);
}

/* m -> V1 text -> m2: all but join_ref agree; join_ref is null. */
static void check_v1(const sb_phx_msg *m)
{
    sb_buf b;
    sb_phx_msg m2;
    sb_codec_err e;

    sb_buf_init(&b, 0);
    FUZZ_CHECK(sb_phx_v1_message(&b, m->topic, m->event, m->payload,
                                 m->ref) == 0);
    FUZZ_CHECK(sb_phx_decode_v1((const char *)sb_buf_data(&b), b.len, 0,
                                &m2, &e) == 0);
    FUZZ_CHECK(m2.join_ref.p == NULL);
    FUZZ_CHECK(span_eq(m2.ref, m->ref));
    FUZZ_CHECK(span_eq(m2.topic, m->topic));
    FUZZ_CHECK(span_eq(m2.event, m->event));
    FUZZ_CHECK(span_eq(m2.payload, m->payload));
    sb_phx_msg_free(&m2);
    sb_buf_free(&b);
}

/* A reply built from the message must be a phx_reply whose payload has
 * the message's event as status and (object) payload as response. */
static void check_reply(const sb_phx_msg *m)
{
    sb_buf b;
    sb_phx_msg m2;
    sb_codec_err e;
    sb_span resp = { NULL, 0 }, st;

    if (m->payload_object)
        resp = m->payload;
    sb_buf_init(&b, 0);
    FUZZ_CHECK(sb_phx_v2_reply(&b, m->join_ref, m->ref, m->topic, m->event,
                               resp) == 0);
    FUZZ_CHECK(sb_phx_decode_v2((const char *)sb_buf_data(&b), b.len, 0,
                                &m2, &e) == 0);
    FUZZ_CHECK(fuzz_same(m2.event.p, m2.event.n, "phx_reply", 9));
    FUZZ_CHECK(span_eq(m2.ref, m->ref) && span_eq(m2.join_ref, m->join_ref));
    FUZZ_CHECK(m2.payload_object);
    FUZZ_CHECK(sb_json_object_get(m2.payload.p, m2.payload.n, 0, "status", 6,
                                  &st, NULL) == 1);
    FUZZ_CHECK(sb_json_string_eq(st.p, st.n, m->event.p, m->event.n));
    sb_phx_msg_free(&m2);
    sb_buf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = fuzz_copy(data, size);
    sb_phx_msg m;
    sb_codec_err e;
    int r;

    if (!s)
        return 0;
    e.code = 0;
    r = sb_phx_decode_v2(s, size, 32, &m, &e);
    if (r == 0) {
        FUZZ_CHECK(m.topic.p && m.event.p && m.payload.p && !m.binary);
        check_v2(&m);
        check_v1(&m);
        check_reply(&m);
        sb_phx_msg_free(&m);
    } else {
        check_errors(r, &e, size);
    }
    e.code = 0;
    r = sb_phx_decode_v1(s, size, 32, &m, &e);
    if (r == 0) {
        FUZZ_CHECK(m.topic.p && m.event.p && m.payload.p && !m.binary);
        check_v1(&m);
        check_v2(&m);
        sb_phx_msg_free(&m);
    } else {
        check_errors(r, &e, size);
    }
    free(s);
    return 0;
}
