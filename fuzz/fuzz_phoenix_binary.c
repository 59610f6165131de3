/* Phoenix binary frames from clients: sb_phx_decode_binary.
 *
 * The server-to-client reply layout (kind 1) has the same four length
 * bytes as a client push, so an accepted frame re-encoded with
 * sb_phx_bin_reply and given kind 0 again must decode to the same fields
 * and payload.  The server push and broadcast encoders are checked
 * against the layout of docs/protocols.md#binary-frames by hand, and the
 * decoded strings must survive the trip through a V2 text frame (they are
 * echoed in text replies, so they have to be valid there). */
#include "fuzz.h"

#include "protocols/phoenix/proto_phoenix.h"

static int span_eq(sb_span a, sb_span b)
{
    if (!a.p || !b.p)
        return !a.p && !b.p;
    return fuzz_same(a.p, a.n, b.p, b.n);
}

static void check_reencode(const sb_phx_msg *m)
{
    sb_buf b;
    sb_phx_msg m2;
    sb_codec_err e;
    unsigned char *d;

    sb_buf_init(&b, 0);
    FUZZ_CHECK(sb_phx_bin_reply(&b, m->join_ref, m->ref, m->topic, m->event,
                                m->payload.p, m->payload.n) == 0);
    d = sb_buf_data(&b);
    FUZZ_CHECK(d[0] == SB_PHX_BIN_REPLY);
    d[0] = SB_PHX_BIN_PUSH;
    FUZZ_CHECK(sb_phx_decode_binary(d, b.len, &m2, &e) == 0);
    FUZZ_CHECK(span_eq(m2.join_ref, m->join_ref));
    FUZZ_CHECK(span_eq(m2.ref, m->ref));
    FUZZ_CHECK(span_eq(m2.topic, m->topic));
    FUZZ_CHECK(span_eq(m2.event, m->event));
    FUZZ_CHECK(span_eq(m2.payload, m->payload));
    FUZZ_CHECK(m2.binary);
    sb_phx_msg_free(&m2);
    sb_buf_free(&b);
}

/* kind | lengths... | fields... | payload, as the JS client reads it. */
static void check_layout(const unsigned char *d, size_t n, int kind,
                         const sb_span *f, size_t nf, sb_span payload)
{
    size_t off = 1 + nf, i;

    FUZZ_CHECK(n >= off && d[0] == kind);
    for (i = 0; i < nf; i++) {
        FUZZ_CHECK(d[1 + i] == f[i].n);
        FUZZ_CHECK(n - off >= f[i].n);
        FUZZ_CHECK(f[i].n == 0 || memcmp(d + off, f[i].p, f[i].n) == 0);
        off += f[i].n;
    }
    FUZZ_CHECK(fuzz_same(d + off, n - off, payload.p, payload.n));
}

static void check_server_kinds(const sb_phx_msg *m)
{
    sb_buf b;
    sb_span f[3];

    sb_buf_init(&b, 0);
    FUZZ_CHECK(sb_phx_bin_push(&b, m->join_ref, m->topic, m->event,
                               m->payload.p, m->payload.n) == 0);
    f[0] = m->join_ref;
    f[1] = m->topic;
    f[2] = m->event;
    if (!f[0].p)
        f[0].n = 0;
    check_layout(sb_buf_data(&b), b.len, SB_PHX_BIN_PUSH, f, 3, m->payload);
    sb_buf_reset(&b);
    FUZZ_CHECK(sb_phx_bin_broadcast(&b, m->topic, m->event, m->payload.p,
                                    m->payload.n) == 0);
    check_layout(sb_buf_data(&b), b.len, SB_PHX_BIN_BROADCAST, f + 1, 2,
                 m->payload);
    sb_buf_free(&b);
}

/* The strings must be sendable in a V2 text reply and read back equal. */
static void check_text(const sb_phx_msg *m)
{
    sb_buf b;
    sb_phx_msg m2;
    sb_codec_err e;

    sb_buf_init(&b, 0);
    FUZZ_CHECK(sb_phx_v2_reply(&b, m->join_ref, m->ref, m->topic, m->event,
                               (sb_span){ NULL, 0 }) == 0);
    FUZZ_CHECK(sb_phx_decode_v2((const char *)sb_buf_data(&b), b.len, 0,
                                &m2, &e) == 0);
    FUZZ_CHECK(span_eq(m2.join_ref, m->join_ref));
    FUZZ_CHECK(span_eq(m2.ref, m->ref));
    FUZZ_CHECK(span_eq(m2.topic, m->topic));
    sb_phx_msg_free(&m2);
    sb_buf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    unsigned char *s = (unsigned char *)fuzz_copy(data, size);
    sb_phx_msg m;
    sb_codec_err e;
    int r;

    if (!s)
        return 0;
    e.code = 0;
    r = sb_phx_decode_binary(s, size, &m, &e);
    if (r == 0) {
        FUZZ_CHECK(m.binary && m.topic.p && m.event.p && m.ref.p);
        FUZZ_CHECK(m.join_ref.p == NULL || m.join_ref.n > 0);
        FUZZ_CHECK((const unsigned char *)m.payload.p + m.payload.n ==
                   s + size);
        check_reencode(&m);
        check_server_kinds(&m);
        check_text(&m);
        sb_phx_msg_free(&m);
    } else {
        FUZZ_CHECK(r == SB_CODEC_ETRUNC || r == SB_CODEC_EKIND ||
                   r == SB_CODEC_EFIELD);
        FUZZ_CHECK(e.code == r && e.msg != NULL && e.pos <= size);
    }
    free(s);
    return 0;
}
