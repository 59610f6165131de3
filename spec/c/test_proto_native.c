/* Native (itty-sockets) codec: every captured vector of
 * docs/protocols.md#native-example-session, the 0.9 presence forms, and
 * malformed client frames. */
#include "check.h"
#include "protocols/native/proto_native.h"

#define DECODE(lit, m, e) sb_native_decode((lit), sizeof(lit) - 1, 0, (m), (e))

static void test_decode_plain(check_ctx *t)
{
    sb_native_in m;

    CHECK_INT(DECODE("{\"type\":\"chat\",\"text\":\"hello\"}", &m, NULL), 0);
    CHECK(!m.direct && m.to.p == NULL);
    CHECK_SPAN(m.json, "{\"type\":\"chat\",\"text\":\"hello\"}");
    CHECK_INT(DECODE("\"plain string\"", &m, NULL), 0);
    CHECK_SPAN(m.json, "\"plain string\"");
    CHECK_INT(DECODE("13", &m, NULL), 0);
    CHECK_SPAN(m.json, "13");
    CHECK_INT(DECODE("[1,2]", &m, NULL), 0);
    CHECK_SPAN(m.json, "[1,2]");
}

static void test_decode_direct(check_ctx *t)
{
    sb_native_in m;

    CHECK_INT(DECODE("\x1Fu00002\x1F{\"secret\":1}", &m, NULL), 0);
    CHECK(m.direct);
    CHECK_SPAN(m.to, "u00002");
    CHECK_SPAN(m.json, "{\"secret\":1}");
    CHECK_INT(DECODE("\x1Fnobody\x1F\"x\"", &m, NULL), 0);
    CHECK_SPAN(m.to, "nobody");
    CHECK_SPAN(m.json, "\"x\"");
    CHECK_INT(DECODE("@@u00002@@{\"secret\":1}", &m, NULL), 0);
    CHECK(m.direct);
    CHECK_SPAN(m.to, "u00002");
    CHECK_SPAN(m.json, "{\"secret\":1}");
    CHECK_INT(DECODE("@@a@b@@[]", &m, NULL), 0);
    CHECK_SPAN(m.to, "a@b");
}

static void test_decode_errors(check_ctx *t)
{
    sb_native_in m;
    sb_codec_err e;

    CHECK_INT(DECODE("undefined", &m, &e), SB_CODEC_EJSON);
    CHECK_INT(e.code, SB_CODEC_EJSON);
    CHECK_INT(e.pos, 0);
    CHECK(e.msg != NULL);
    CHECK_INT(DECODE("", &m, &e), SB_CODEC_EJSON);
    CHECK_INT(DECODE("{\"a\":}", &m, &e), SB_CODEC_EJSON);
    CHECK_INT(e.pos, 5);
    CHECK_INT(DECODE("\x1Fu1\x1F{bad", &m, &e), SB_CODEC_EJSON);
    CHECK_INT(e.pos, 5);  /* offset in the frame, not in the JSON */
    CHECK_INT(DECODE("\x1Fu1\x1F", &m, &e), SB_CODEC_EJSON);
    CHECK_INT(DECODE("\"\xc3\x28\"", &m, &e), SB_CODEC_EJSON);
    CHECK_INT(sb_native_decode("[[[1]]]", 7, 2, &m, &e), SB_CODEC_EJSON);
    CHECK_INT(sb_native_decode("[[[1]]]", 7, 3, &m, &e), 0);

    CHECK_INT(DECODE("\x1Fu00002{\"secret\":1}", &m, &e), SB_CODEC_EDM);
    CHECK_INT(e.code, SB_CODEC_EDM);
    CHECK_INT(DECODE("\x1F", &m, &e), SB_CODEC_EDM);
    CHECK_INT(DECODE("\x1F\x1F{}", &m, &e), SB_CODEC_EDM);
    CHECK_INT(DECODE("\x1F" "a\nb\x1F{}", &m, &e), SB_CODEC_EDM);
    CHECK_INT(DECODE("\x1F\xff\x1F{}", &m, &e), SB_CODEC_EDM);
    CHECK_INT(DECODE("@@\xc3@@{}", &m, &e), SB_CODEC_EDM);
    CHECK_INT(DECODE("\x1F\xc3\xa9\x1F{}", &m, &e), 0);
    CHECK_INT(DECODE("@@u00002{}", &m, &e), SB_CODEC_EDM);
    CHECK_INT(DECODE("@@@@{}", &m, &e), SB_CODEC_EDM);
    CHECK_INT(DECODE("@@", &m, &e), SB_CODEC_EDM);
    CHECK_INT(DECODE("@@u@", &m, &e), SB_CODEC_EDM);
    CHECK_INT(DECODE("@x@@1", &m, &e), SB_CODEC_EJSON);
}

static void test_decode_long_uid(check_ctx *t)
{
    char s[SB_NATIVE_UID_MAX + 8];
    sb_native_in m;

    memset(s, 'a', sizeof s);
    s[0] = 0x1F;
    s[SB_NATIVE_UID_MAX + 1] = 0x1F;
    s[SB_NATIVE_UID_MAX + 2] = '1';
    CHECK_INT(sb_native_decode(s, SB_NATIVE_UID_MAX + 3, 0, &m, NULL), 0);
    CHECK_INT(m.to.n, SB_NATIVE_UID_MAX);
    s[SB_NATIVE_UID_MAX + 1] = 'a';
    s[SB_NATIVE_UID_MAX + 2] = 0x1F;
    s[SB_NATIVE_UID_MAX + 3] = '1';
    CHECK_INT(sb_native_decode(s, SB_NATIVE_UID_MAX + 4, 0, &m, NULL),
              SB_CODEC_EDM);
}

/* The captured 0.6.1 session of docs/protocols.md#native-example-session,
 * server side. */
static void test_vectors_27(check_ctx *t)
{
    sb_native_presence ev;
    sb_buf b;

    sb_buf_init(&b, 0);
    memset(&ev, 0, sizeof ev);
    ev.users = 1;
    ev.uid = S("u00001");
    ev.alias = S("alice");
    ev.date = 1795436111482;
    CHECK_INT(sb_native_presence_event(&b, &ev), 0);
    CHECK_BUF(&b, "{\"type\":\"join\",\"users\":1,\"uid\":\"u00001\","
                  "\"alias\":\"alice\",\"date\":1795436111482}");

    sb_buf_reset(&b);
    ev.users = 2;
    ev.uid = S("u00002");
    ev.alias = S("bob");
    ev.date = 1795436111568;
    CHECK_INT(sb_native_presence_event(&b, &ev), 0);
    CHECK_BUF(&b, "{\"type\":\"join\",\"users\":2,\"uid\":\"u00002\","
                  "\"alias\":\"bob\",\"date\":1795436111568}");

    sb_buf_reset(&b);
    CHECK_INT(sb_envelope_message(&b, S("u00002"), S("bob"), 1795436111571,
                                S("{\"type\":\"chat\",\"text\":\"hello\"}")),
              0);
    CHECK_BUF(&b, "{\"uid\":\"u00002\",\"alias\":\"bob\",\"date\":"
                  "1795436111571,\"message\":{\"type\":\"chat\",\"text\":"
                  "\"hello\"}}");
    sb_buf_reset(&b);
    sb_envelope_message(&b, S("u00002"), S("bob"), 1795436111574,
                      S("\"plain string\""));
    CHECK_BUF(&b, "{\"uid\":\"u00002\",\"alias\":\"bob\",\"date\":"
                  "1795436111574,\"message\":\"plain string\"}");
    sb_buf_reset(&b);
    sb_envelope_message(&b, S("u00002"), S("bob"), 1795436111575, S("13"));
    CHECK_BUF(&b, "{\"uid\":\"u00002\",\"alias\":\"bob\",\"date\":"
                  "1795436111575,\"message\":13}");
    sb_buf_reset(&b);
    sb_envelope_message(&b, S("u00002"), S("bob"), 1795436111576, S("[1,2]"));
    CHECK_BUF(&b, "{\"uid\":\"u00002\",\"alias\":\"bob\",\"date\":"
                  "1795436111576,\"message\":[1,2]}");
    sb_buf_reset(&b);
    sb_envelope_message(&b, S("u00001"), S("alice"), 1795436111720,
                      S("{\"secret\":1}"));
    CHECK_BUF(&b, "{\"uid\":\"u00001\",\"alias\":\"alice\",\"date\":"
                  "1795436111720,\"message\":{\"secret\":1}}");

    sb_buf_reset(&b);
    CHECK_INT(sb_native_error(&b, S("user nobody not found"), 1795436111721),
              0);
    CHECK_BUF(&b, "{\"type\":\"error\",\"message\":\"user nobody not found\","
                  "\"date\":1795436111721}");

    sb_buf_reset(&b);
    ev.leave = 1;
    ev.users = 1;
    ev.date = 1795436111877;
    CHECK_INT(sb_native_presence_event(&b, &ev), 0);
    CHECK_BUF(&b, "{\"type\":\"leave\",\"users\":1,\"uid\":\"u00002\","
                  "\"alias\":\"bob\",\"date\":1795436111877}");
    sb_buf_free(&b);
}

/* Hand-written variants of that session and the 0.9 forms of
 * docs/protocols.md#join-and-leave-frames. */
static void test_presence_variants(check_ctx *t)
{
    sb_native_user list[2];
    sb_native_presence ev;
    sb_buf b;

    sb_buf_init(&b, 0);
    memset(&ev, 0, sizeof ev);
    ev.users = 2;
    ev.date = 5;
    sb_native_presence_event(&b, &ev);
    CHECK_BUF(&b, "{\"type\":\"join\",\"users\":2,\"date\":5}");
    sb_buf_reset(&b);
    ev.leave = 1;
    ev.users = 1;
    sb_native_presence_event(&b, &ev);
    CHECK_BUF(&b, "{\"type\":\"leave\",\"users\":1,\"date\":5}");

    /* recommended self-join: count in users and total, uid, self */
    sb_buf_reset(&b);
    memset(&ev, 0, sizeof ev);
    ev.users = 3;
    ev.total = 1;
    ev.uid = S("u3");
    ev.alias = S("carol");
    ev.self = 1;
    ev.date = 7;
    sb_native_presence_event(&b, &ev);
    CHECK_BUF(&b, "{\"type\":\"join\",\"users\":3,\"total\":3,\"uid\":\"u3\","
                  "\"alias\":\"carol\",\"self\":true,\"date\":7}");

    /* list=true: users becomes the array of announced users */
    sb_buf_reset(&b);
    list[0].uid = S("u1");
    list[0].alias = S("al\"ice");
    list[0].self = 0;
    list[1].uid = S("u3");
    list[1].alias = NOSPAN;
    list[1].self = 1;
    ev.list = list;
    ev.nlist = 2;
    ev.alias = NOSPAN;
    ev.total = 0;
    sb_native_presence_event(&b, &ev);
    CHECK_BUF(&b, "{\"type\":\"join\",\"users\":[{\"uid\":\"u1\",\"alias\":"
                  "\"al\\\"ice\"},{\"uid\":\"u3\",\"self\":true}],\"total\":3,"
                  "\"uid\":\"u3\",\"self\":true,\"date\":7}");
    sb_buf_reset(&b);
    ev.nlist = 0;
    sb_native_presence_event(&b, &ev);
    CHECK_BUF(&b, "{\"type\":\"join\",\"users\":[],\"total\":3,"
                  "\"uid\":\"u3\",\"self\":true,\"date\":7}");
    sb_buf_free(&b);
}

static void test_other_encoders(check_ctx *t)
{
    sb_buf b;

    sb_buf_init(&b, 0);
    sb_envelope_message(&b, S("u1"), NOSPAN, -1, S("null"));
    CHECK_BUF(&b, "{\"uid\":\"u1\",\"date\":-1,\"message\":null}");
    sb_buf_reset(&b);
    CHECK_INT(sb_native_server_event(&b, S("presence"), S("{\"n\":1}"), 9),
              0);
    CHECK_BUF(&b, "{\"type\":\"presence\",\"message\":{\"n\":1},\"date\":9}");
    sb_buf_reset(&b);
    sb_native_error(&b, S("bad \"x\"\n"), 0);
    CHECK_BUF(&b, "{\"type\":\"error\",\"message\":\"bad \\\"x\\\"\\n\","
                  "\"date\":0}");
    sb_buf_reset(&b);
    b.oom = 1;  /* an earlier failed allocation is reported */
    CHECK_INT(sb_native_error(&b, S("x"), 0), SB_CODEC_ENOMEM);
    sb_buf_free(&b);
}

int main(void)
{
    check_ctx ctx = { "test_proto_native", 0, 0 }, *t = &ctx;

    test_decode_plain(t);
    test_decode_direct(t);
    test_decode_errors(t);
    test_decode_long_uid(t);
    test_vectors_27(t);
    test_presence_variants(t);
    test_other_encoders(t);
    return check_report(t);
}
