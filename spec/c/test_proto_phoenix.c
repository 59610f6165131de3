/* Phoenix codec: every vector of docs/protocols.md#phoenix-example-session
 * byte for byte, decoding of every captured client frame, and malformed
 * input. */
#include "check.h"
#include "protocols/phoenix/proto_phoenix.h"

/* A span equal to the expected string, or null when want is NULL. */
static int span_is(sb_span s, const char *want)
{
    if (!want)
        return s.p == NULL;
    return s.p && s.n == strlen(want) && memcmp(s.p, want, s.n) == 0;
}

typedef struct want_msg {
    const char *frame;
    const char *jr, *ref, *topic, *event, *payload;
    int object;
} want_msg;

static void check_v2(check_ctx *t, const want_msg *w)
{
    sb_phx_msg m;
    sb_codec_err e;
    int r = sb_phx_decode_v2(w->frame, strlen(w->frame), 0, &m, &e);

    if (!CHECK(r == 0)) {
        fprintf(stderr, "    frame %s: %s\n", w->frame, e.msg);
        return;
    }
    if (!CHECK(span_is(m.join_ref, w->jr) && span_is(m.ref, w->ref) &&
               span_is(m.topic, w->topic) && span_is(m.event, w->event) &&
               span_is(m.payload, w->payload) && m.payload_object == w->object
               && !m.binary))
        fprintf(stderr, "    frame %s\n", w->frame);
    sb_phx_msg_free(&m);
}

/* Every C> frame of docs/protocols.md#phoenix-example-session. */
static void test_decode_captured(check_ctx *t)
{
    static const want_msg w[] = {
        { "[\"6\",\"6\",\"room:lobby\",\"phx_join\",{\"nick\":\"alice\"}]",
          "6", "6", "room:lobby", "phx_join", "{\"nick\":\"alice\"}", 1 },
        { "[\"6\",\"10\",\"room:lobby\",\"new_msg\",{\"body\":\"hi\"}]",
          "6", "10", "room:lobby", "new_msg", "{\"body\":\"hi\"}", 1 },
        { "[\"9\",\"9\",\"room:secret\",\"phx_join\",{}]",
          "9", "9", "room:secret", "phx_join", "{}", 1 },
        { "[\"13\",\"13\",\"room:secret\",\"phx_join\",{}]",
          "13", "13", "room:secret", "phx_join", "{}", 1 },
        { "[\"13\",\"17\",\"room:secret\",\"phx_leave\",{}]",
          "13", "17", "room:secret", "phx_leave", "{}", 1 },
        { "[\"6\",\"6\",\"nope:1\",\"phx_join\",{}]",
          "6", "6", "nope:1", "phx_join", "{}", 1 },
        { "[null,\"12\",\"phoenix\",\"heartbeat\",{}]",
          NULL, "12", "phoenix", "heartbeat", "{}", 1 },
        { "[\"6\",\"15\",\"room:lobby\",\"phx_leave\",{}]",
          "6", "15", "room:lobby", "phx_leave", "{}", 1 },
        { "[\"6\",\"9\",\"room:dup\",\"phx_leave\",{}]",
          "6", "9", "room:dup", "phx_leave", "{}", 1 },
        { "[\"10\",\"10\",\"room:dup\",\"phx_join\",{}]",
          "10", "10", "room:dup", "phx_join", "{}", 1 },
        { "[\"6\",\"7\",\"room:c\",\"crash\",{}]",
          "6", "7", "room:c", "crash", "{}", 1 },
        { "[\"9\",\"9\",\"room:c\",\"phx_join\",{}]",
          "9", "9", "room:c", "phx_join", "{}", 1 },
        { "[\"9\",\"10\",\"room:c\",\"kick\",{}]",
          "9", "10", "room:c", "kick", "{}", 1 },
        { "[null,\"7\",\"phoenix\",\"heartbeat\",{}]",
          NULL, "7", "phoenix", "heartbeat", "{}", 1 },
        { "[\"4\",\"4\",\"room:lp\",\"phx_join\",{}]",
          "4", "4", "room:lp", "phx_join", "{}", 1 },
        /* not captured: whitespace, escapes, non-object payloads */
        { " [ null , null , \"t\" , \"e\" , [1] ] ",
          NULL, NULL, "t", "e", "[1]", 0 },
        { "[\"\",\"\\u0035\",\"room:\\u00e9\",\"a\\\"b\",\"x\"]",
          "", "5", "room:\xc3\xa9", "a\"b", "\"x\"", 0 },
    };
    size_t i;

    for (i = 0; i < sizeof w / sizeof w[0]; i++)
        check_v2(t, &w[i]);
}

#define V2ERR(lit) sb_phx_decode_v2((lit), sizeof(lit) - 1, 0, &m, &e)

static void test_decode_errors(check_ctx *t)
{
    sb_phx_msg m;
    sb_codec_err e;

    CHECK_INT(V2ERR("[\"6\",\"6\",\"room:lobby\",\"phx_join\",{}"),
              SB_CODEC_EJSON);
    CHECK_INT(e.code, SB_CODEC_EJSON);
    CHECK_INT(V2ERR("[\"6\",\"6\",\"room:lobby\",\"phx_join\""),
              SB_CODEC_EJSON);
    CHECK_INT(V2ERR(""), SB_CODEC_EJSON);
    CHECK_INT(V2ERR("[\"6\",\"6\",\"t\",\"e\",{}] x"), SB_CODEC_EJSON);
    CHECK_INT(V2ERR("[\"6\",\"6\",\"t\",\"e\",\"\xff\"]"), SB_CODEC_EJSON);
    CHECK_INT(V2ERR("[\"6\",\"6\",\"t\",\"e\"]"), SB_CODEC_ESHAPE);
    CHECK(strstr(e.msg, "5") != NULL);
    CHECK_INT(V2ERR("[\"6\",\"6\",\"t\",\"e\",{},{}]"), SB_CODEC_ESHAPE);
    CHECK_INT(V2ERR("[]"), SB_CODEC_ESHAPE);
    CHECK_INT(V2ERR("{\"topic\":\"t\"}"), SB_CODEC_ESHAPE);
    CHECK_INT(V2ERR("\"x\""), SB_CODEC_ESHAPE);
    CHECK_INT(V2ERR("[6,\"6\",\"t\",\"e\",{}]"), SB_CODEC_EREF);
    CHECK_INT(e.pos, 1);
    CHECK(strstr(e.msg, "join_ref") != NULL);
    CHECK_INT(V2ERR("[\"6\",6,\"t\",\"e\",{}]"), SB_CODEC_EREF);
    CHECK_INT(e.pos, 5);
    CHECK_INT(V2ERR("[null,true,\"t\",\"e\",{}]"), SB_CODEC_EREF);
    CHECK_INT(V2ERR("[null,{},\"t\",\"e\",{}]"), SB_CODEC_EREF);
    CHECK_INT(V2ERR("[null,null,null,\"e\",{}]"), SB_CODEC_EFIELD);
    CHECK_INT(V2ERR("[null,null,\"t\",1,{}]"), SB_CODEC_EFIELD);
    CHECK_INT(sb_phx_decode_v2("[null,null,\"t\",\"e\",{\"a\":[]}]", 28, 2,
                               &m, &e), SB_CODEC_EJSON);
    CHECK(strstr(e.msg, "deep") != NULL);
    CHECK_INT(sb_phx_decode_v2("[null,null,\"t\",\"e\",{\"a\":[]}]", 28, 3,
                               &m, &e), 0);
    sb_phx_msg_free(&m);
}

/* Escaped fields go to the store; the store must not move under them. */
static void test_decode_escaped(check_ctx *t)
{
    const char *s = "[\"\\u0061\",\"\\u0062\",\"\\u0063\",\"\\u0064\",{}]";
    sb_phx_msg m;

    if (!CHECK(sb_phx_decode_v2(s, strlen(s), 0, &m, NULL) == 0))
        return;
    CHECK_SPAN(m.join_ref, "a");
    CHECK_SPAN(m.ref, "b");
    CHECK_SPAN(m.topic, "c");
    CHECK_SPAN(m.event, "d");
    sb_phx_msg_free(&m);
    sb_phx_msg_free(&m);  /* harmless twice */
}

static void test_decode_v1(check_ctx *t)
{
    const char *s = "{\"topic\":\"room:lobby\",\"event\":\"phx_join\","
                    "\"payload\":{},\"ref\":\"1\",\"join_ref\":\"1\"}";
    sb_phx_msg m;
    sb_codec_err e;

    CHECK_INT(sb_phx_decode_v1(s, strlen(s), 0, &m, &e), 0);
    CHECK_SPAN(m.join_ref, "1");
    CHECK_SPAN(m.ref, "1");
    CHECK_SPAN(m.topic, "room:lobby");
    CHECK_SPAN(m.event, "phx_join");
    CHECK_SPAN(m.payload, "{}");
    CHECK(m.payload_object);
    sb_phx_msg_free(&m);

    s = "{\"ref\":null,\"payload\":[],\"event\":\"e\",\"topic\":\"t\"}";
    CHECK_INT(sb_phx_decode_v1(s, strlen(s), 0, &m, &e), 0);
    CHECK(m.join_ref.p == NULL && m.ref.p == NULL && !m.payload_object);
    sb_phx_msg_free(&m);

    s = "{\"topic\":\"t\",\"event\":\"e\",\"payload\":{}}";
    CHECK_INT(sb_phx_decode_v1(s, strlen(s), 0, &m, &e), SB_CODEC_ESHAPE);
    CHECK(strstr(e.msg, "ref") != NULL);
    s = "{\"topic\":\"t\",\"event\":\"e\",\"ref\":null}";
    CHECK_INT(sb_phx_decode_v1(s, strlen(s), 0, &m, &e), SB_CODEC_ESHAPE);
    s = "{\"topic\":\"t\",\"event\":\"e\",\"payload\":{},\"ref\":5}";
    CHECK_INT(sb_phx_decode_v1(s, strlen(s), 0, &m, &e), SB_CODEC_EREF);
    CHECK_INT(e.pos, (long long)strlen(s) - 2);
    s = "{\"topic\":\"t\",\"event\":\"e\",\"payload\":{},\"ref\":null,"
        "\"join_ref\":1}";
    CHECK_INT(sb_phx_decode_v1(s, strlen(s), 0, &m, &e), SB_CODEC_EREF);
    s = "{\"topic\":1,\"event\":\"e\",\"payload\":{},\"ref\":null}";
    CHECK_INT(sb_phx_decode_v1(s, strlen(s), 0, &m, &e), SB_CODEC_EFIELD);
    CHECK_INT(sb_phx_decode_v1("[]", 2, 0, &m, &e), SB_CODEC_ESHAPE);
    CHECK_INT(sb_phx_decode_v1("{", 1, 0, &m, &e), SB_CODEC_EJSON);
}

static void test_decode_binary(check_ctx *t)
{
    static const unsigned char push[] =
        "\x00\x01\x02\x0a\x06" "6" "11" "room:lobby" "upload" "\xde\xad";
    static const unsigned char nojr[] = "\x00\x00\x01\x01\x01" "rte";
    sb_phx_msg m;
    sb_codec_err e;
    unsigned char big[5 + 255 + 4];

    CHECK_INT(sb_phx_decode_binary(push, sizeof push - 1, &m, &e), 0);
    CHECK(m.binary);
    CHECK_SPAN(m.join_ref, "6");
    CHECK_SPAN(m.ref, "11");
    CHECK_SPAN(m.topic, "room:lobby");
    CHECK_SPAN(m.event, "upload");
    CHECK_SPAN(m.payload, "\xde\xad");
    sb_phx_msg_free(&m);

    CHECK_INT(sb_phx_decode_binary(nojr, sizeof nojr - 1, &m, &e), 0);
    CHECK(m.join_ref.p == NULL);
    CHECK_SPAN(m.ref, "r");
    CHECK(m.payload.n == 0);
    /* every truncation of the captured frame before the payload fails */
    {
        size_t cut;
        int ok = 1;

        for (cut = 0; cut < 5 + 1 + 2 + 10 + 6; cut++)
            ok &= sb_phx_decode_binary(push, cut, &m, &e) == SB_CODEC_ETRUNC;
        CHECK(ok);
    }
    CHECK_INT(sb_phx_decode_binary(push, 5 + 1 + 2 + 10 + 6, &m, &e), 0);
    CHECK_INT(sb_phx_decode_binary((const unsigned char *)"\x01\0\0\0\0", 5,
                                   &m, &e), SB_CODEC_EKIND);
    CHECK_INT(sb_phx_decode_binary((const unsigned char *)"\x02\0\0", 3, &m,
                                   &e), SB_CODEC_ETRUNC);
    CHECK_INT(sb_phx_decode_binary((const unsigned char *)
                                   "\x00\x00\x00\x01\x01" "\xff" "e", 7,
                                   &m, &e), SB_CODEC_EFIELD);
    CHECK_INT(e.pos, 5);
    CHECK_INT(sb_phx_decode_binary((const unsigned char *)
                                   "\x00\x01\x00\x01\x01" "\xc3" "te", 8,
                                   &m, &e), SB_CODEC_EFIELD);
    memset(big, 'x', sizeof big);
    big[0] = 0;
    big[1] = 255;
    big[2] = big[3] = big[4] = 1;
    CHECK_INT(sb_phx_decode_binary(big, sizeof big - 1, &m, &e), 0);
    CHECK_INT(m.join_ref.n, 255);
    CHECK_INT(sb_phx_decode_binary(big, sizeof big - 2, &m, &e),
              SB_CODEC_ETRUNC);
}

/* Every S> text frame of docs/protocols.md#phoenix-example-session. */
static void test_encode_v2_vectors(check_ctx *t)
{
    sb_buf b;

    sb_buf_init(&b, 0);
#define REPLY(jr, ref, topic, st, resp, want)                                \
    do {                                                                     \
        sb_buf_reset(&b);                                                    \
        CHECK_INT(sb_phx_v2_reply(&b, jr, ref, S(topic), S(st), resp), 0);   \
        CHECK_BUF(&b, want);                                                 \
    } while (0)
    REPLY(S("6"), S("6"), "room:lobby", "ok", S("{\"welcome\":true}"),
          "[\"6\",\"6\",\"room:lobby\",\"phx_reply\",{\"status\":\"ok\","
          "\"response\":{\"welcome\":true}}]");
    REPLY(S("6"), S("10"), "room:lobby", "ok", S("{}"),
          "[\"6\",\"10\",\"room:lobby\",\"phx_reply\",{\"status\":\"ok\","
          "\"response\":{}}]");
    REPLY(S("9"), S("9"), "room:secret", "error",
          S("{\"reason\":\"unauthorized\"}"),
          "[\"9\",\"9\",\"room:secret\",\"phx_reply\",{\"status\":\"error\","
          "\"response\":{\"reason\":\"unauthorized\"}}]");
    REPLY(S("13"), S("13"), "room:secret", "error",
          S("{\"reason\":\"unauthorized\"}"),
          "[\"13\",\"13\",\"room:secret\",\"phx_reply\",{\"status\":\"error\","
          "\"response\":{\"reason\":\"unauthorized\"}}]");
    REPLY(S("13"), S("17"), "room:secret", "ok", NOSPAN,
          "[\"13\",\"17\",\"room:secret\",\"phx_reply\",{\"status\":\"ok\","
          "\"response\":{}}]");
    REPLY(NOSPAN, S("6"), "nope:1", "error",
          S("{\"reason\":\"unmatched topic\"}"),
          "[null,\"6\",\"nope:1\",\"phx_reply\",{\"status\":\"error\","
          "\"response\":{\"reason\":\"unmatched topic\"}}]");
    REPLY(NOSPAN, S("12"), "phoenix", "ok", S("{}"),
          "[null,\"12\",\"phoenix\",\"phx_reply\",{\"status\":\"ok\","
          "\"response\":{}}]");
    REPLY(S("6"), S("15"), "room:lobby", "ok", S("{}"),
          "[\"6\",\"15\",\"room:lobby\",\"phx_reply\",{\"status\":\"ok\","
          "\"response\":{}}]");
    REPLY(S("6"), S("9"), "room:dup", "ok", S("{}"),
          "[\"6\",\"9\",\"room:dup\",\"phx_reply\",{\"status\":\"ok\","
          "\"response\":{}}]");
    REPLY(S("10"), S("10"), "room:dup", "ok", S("{\"welcome\":true}"),
          "[\"10\",\"10\",\"room:dup\",\"phx_reply\",{\"status\":\"ok\","
          "\"response\":{\"welcome\":true}}]");
    REPLY(S("9"), S("9"), "room:c", "ok", S("{\"welcome\":true}"),
          "[\"9\",\"9\",\"room:c\",\"phx_reply\",{\"status\":\"ok\","
          "\"response\":{\"welcome\":true}}]");
    REPLY(S("9"), S("10"), "room:c", "ok", S("{}"),
          "[\"9\",\"10\",\"room:c\",\"phx_reply\",{\"status\":\"ok\","
          "\"response\":{}}]");
#undef REPLY

    sb_buf_reset(&b);
    CHECK_INT(sb_phx_v2_push(&b, S("6"), S("room:lobby"), S("presence_state"),
                             S("{\"alice\":{\"metas\":[{\"phx_ref\":"
                               "\"F000000000000000\",\"online_at\":"
                               "1700000000}]}}")), 0);
    CHECK_BUF(&b, "[\"6\",null,\"room:lobby\",\"presence_state\",{\"alice\":"
                  "{\"metas\":[{\"phx_ref\":\"F000000000000000\","
                  "\"online_at\":1700000000}]}}]");
    sb_buf_reset(&b);
    CHECK_INT(sb_phx_v2_broadcast(&b, S("room:lobby"), S("presence_diff"),
                                  S("{\"joins\":{\"bob\":{\"metas\":[{"
                                    "\"phx_ref\":\"F000000000000001\","
                                    "\"online_at\":1700000001}]}},"
                                    "\"leaves\":{}}")), 0);
    CHECK_BUF(&b, "[null,null,\"room:lobby\",\"presence_diff\",{\"joins\":"
                  "{\"bob\":{\"metas\":[{\"phx_ref\":\"F000000000000001\","
                  "\"online_at\":1700000001}]}},\"leaves\":{}}]");
    sb_buf_reset(&b);
    sb_phx_v2_broadcast(&b, S("room:lobby"), S("new_msg"),
                        S("{\"body\":\"hi\"}"));
    CHECK_BUF(&b, "[null,null,\"room:lobby\",\"new_msg\",{\"body\":\"hi\"}]");
    sb_buf_reset(&b);
    sb_phx_v2_broadcast(&b, S("room:lobby"), S("presence_diff"),
                        S("{\"joins\":{\"alice\":{\"metas\":[{\"phx_ref\":"
                          "\"A3\",\"phx_ref_prev\":\"A1\",\"status\":"
                          "\"busy\"}]}},\"leaves\":{\"alice\":{\"metas\":"
                          "[{\"phx_ref\":\"A1\",\"status\":\"online\"}]}}}"));
    CHECK_BUF(&b, "[null,null,\"room:lobby\",\"presence_diff\",{\"joins\":"
                  "{\"alice\":{\"metas\":[{\"phx_ref\":\"A3\","
                  "\"phx_ref_prev\":\"A1\",\"status\":\"busy\"}]}},"
                  "\"leaves\":{\"alice\":{\"metas\":[{\"phx_ref\":\"A1\","
                  "\"status\":\"online\"}]}}}]");

    sb_buf_reset(&b);
    CHECK_INT(sb_phx_v2_close(&b, S("6"), S("room:lobby"), 0, S("{}")), 0);
    CHECK_BUF(&b, "[\"6\",\"6\",\"room:lobby\",\"phx_close\",{}]");
    sb_buf_reset(&b);
    sb_phx_v2_close(&b, S("6"), S("room:dup"), 0, NOSPAN);
    CHECK_BUF(&b, "[\"6\",\"6\",\"room:dup\",\"phx_close\",{}]");
    sb_buf_reset(&b);
    sb_phx_v2_close(&b, S("6"), S("room:c"), 1,
                    S("{\"reason\":\"channel_crash\"}"));
    CHECK_BUF(&b, "[\"6\",\"6\",\"room:c\",\"phx_error\","
                  "{\"reason\":\"channel_crash\"}]");
    sb_buf_reset(&b);
    sb_phx_v2_close(&b, S("9"), S("room:c"), 0, S("{}"));
    CHECK_BUF(&b, "[\"9\",\"9\",\"room:c\",\"phx_close\",{}]");
    sb_buf_free(&b);
}

/* Refs are echoed as the exact strings received, escapes included. */
static void test_echo_roundtrip(check_ctx *t)
{
    const char *in = "[\"j\\\"1\",\"0012\",\"room:\\u00e9\",\"e\",{}]";
    sb_phx_msg m;
    sb_buf b;

    sb_buf_init(&b, 0);
    if (!CHECK(sb_phx_decode_v2(in, strlen(in), 0, &m, NULL) == 0))
        return;
    sb_phx_v2_reply(&b, m.join_ref, m.ref, m.topic, S("ok"), NOSPAN);
    CHECK_BUF(&b, "[\"j\\\"1\",\"0012\",\"room:\xc3\xa9\",\"phx_reply\","
                  "{\"status\":\"ok\",\"response\":{}}]");
    sb_phx_msg_free(&m);
    sb_buf_free(&b);
}

/* LongPoll carries each V2 frame as a JSON string (captured;
 * docs/protocols.md#longpoll). */
static void test_longpoll_vector(check_ctx *t)
{
    sb_buf f, b;

    sb_buf_init(&f, 0);
    sb_buf_init(&b, 0);
    sb_phx_v2_reply(&f, S("4"), S("4"), S("room:lp"), S("ok"), S("{}"));
    sb_buf_adds(&b, "{\"status\":200,\"token\":\"T\",\"messages\":[");
    sb_buf_add_json_string(&b, (const char *)sb_buf_data(&f), f.len);
    sb_buf_adds(&b, "]}");
    CHECK_BUF(&b, "{\"status\":200,\"token\":\"T\",\"messages\":[\"[\\\"4\\\","
                  "\\\"4\\\",\\\"room:lp\\\",\\\"phx_reply\\\",{\\\"status\\\":"
                  "\\\"ok\\\",\\\"response\\\":{}}]\"]}");
    sb_buf_free(&f);
    sb_buf_free(&b);
}

static void test_encode_v1(check_ctx *t)
{
    sb_buf b;

    sb_buf_init(&b, 0);
    CHECK_INT(sb_phx_v1_reply(&b, S("1"), S("room:lobby"), S("ok"), S("{}")),
              0);
    CHECK_BUF(&b, "{\"topic\":\"room:lobby\",\"event\":\"phx_reply\","
                  "\"payload\":{\"status\":\"ok\",\"response\":{}},"
                  "\"ref\":\"1\"}");
    sb_buf_reset(&b);
    CHECK_INT(sb_phx_v1_push(&b, S("room:lobby"), S("new_msg"),
                             S("{\"body\":\"hi\"}")), 0);
    CHECK_BUF(&b, "{\"topic\":\"room:lobby\",\"event\":\"new_msg\","
                  "\"payload\":{\"body\":\"hi\"},\"ref\":null}");
    sb_buf_reset(&b);
    sb_phx_v1_close(&b, S("3"), S("t"), 0, NOSPAN);
    CHECK_BUF(&b, "{\"topic\":\"t\",\"event\":\"phx_close\",\"payload\":{},"
                  "\"ref\":\"3\"}");
    sb_buf_reset(&b);
    sb_phx_v1_close(&b, S("3"), S("t"), 1, S("{}"));
    CHECK_BUF(&b, "{\"topic\":\"t\",\"event\":\"phx_error\",\"payload\":{},"
                  "\"ref\":\"3\"}");
    sb_buf_reset(&b);
    sb_phx_v1_message(&b, S("t"), S("e"), S("[]"), S("r"));
    CHECK_BUF(&b, "{\"topic\":\"t\",\"event\":\"e\",\"payload\":[],"
                  "\"ref\":\"r\"}");
    sb_buf_free(&b);
}

/* The three server binary frames of docs/protocols.md#binary-frames, and the
 * 255-byte limit. */
static void test_encode_binary(check_ctx *t)
{
    char longs[SB_PHX_BIN_FIELD_MAX + 1];
    sb_span lng = { longs, sizeof longs };
    sb_buf b;

    memset(longs, 'x', sizeof longs);
    sb_buf_init(&b, 0);
    CHECK_INT(sb_phx_bin_reply(&b, S("6"), S("11"), S("room:lobby"), S("ok"),
                               "\xde\xad", 2), 0);
    CHECK_BUF(&b, "\x01\x01\x02\x0a\x02" "6" "11" "room:lobby" "ok"
                  "\xde\xad");
    sb_buf_reset(&b);
    CHECK_INT(sb_phx_bin_push(&b, S("6"), S("room:lobby"), S("bin_push"),
                              "\x01\x02\x03", 3), 0);
    CHECK_BUF(&b, "\x00\x01\x0a\x08" "6" "room:lobby" "bin_push"
                  "\x01\x02\x03");
    sb_buf_reset(&b);
    CHECK_INT(sb_phx_bin_broadcast(&b, S("room:lobby"), S("bin_bcast"),
                                   "\x09\x09", 2), 0);
    CHECK_BUF(&b, "\x02\x0a\x09" "room:lobby" "bin_bcast" "\x09\x09");
    sb_buf_reset(&b);
    CHECK_INT(sb_phx_bin_push(&b, NOSPAN, S("t"), S("e"), NULL, 0), 0);
    CHECK_BUF(&b, "\x00\x00\x01\x01" "te");

    sb_buf_reset(&b);
    CHECK_INT(sb_phx_bin_push(&b, S("6"), lng, S("e"), "x", 1),
              SB_CODEC_ETOOLONG);
    CHECK_INT(sb_phx_bin_reply(&b, S("6"), lng, S("t"), S("ok"), "x", 1),
              SB_CODEC_ETOOLONG);
    CHECK_INT(sb_phx_bin_reply(&b, S("6"), S("1"), S("t"), lng, "x", 1),
              SB_CODEC_ETOOLONG);
    CHECK_INT(sb_phx_bin_broadcast(&b, S("t"), lng, "x", 1),
              SB_CODEC_ETOOLONG);
    CHECK_INT(b.len, 0);  /* refused frames write nothing */
    lng.n = SB_PHX_BIN_FIELD_MAX;
    CHECK_INT(sb_phx_bin_broadcast(&b, lng, S("e"), "", 0), 0);
    CHECK_INT(b.len, 3 + 255 + 1);
    CHECK_INT(sb_buf_data(&b)[1], 255);
    sb_buf_free(&b);
}

int main(void)
{
    check_ctx ctx = { "test_proto_phoenix", 0, 0 }, *t = &ctx;

    test_decode_captured(t);
    test_decode_errors(t);
    test_decode_escaped(t);
    test_decode_v1(t);
    test_decode_binary(t);
    test_encode_v2_vectors(t);
    test_echo_roundtrip(t);
    test_longpoll_vector(t);
    test_encode_v1(t);
    test_encode_binary(t);
    return check_report(t);
}
