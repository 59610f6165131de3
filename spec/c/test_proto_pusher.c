/* The Pusher wire (proto_pusher.c, docs/pusher.md#the-wire): client
 * frames with data as an object or as a string holding one, the payload
 * of a client event, presence channel_data, and the frames the server
 * sends (data a JSON string, pusher:error's an object). */
#include "check.h"
#include "protocols/pusher/proto_pusher.h"

static void test_decode(check_ctx *t)
{
    sb_pusher_msg m;
    sb_codec_err e;
    static const char ping[] = "{\"event\":\"pusher:ping\",\"data\":{}}";

    CHECK_INT(sb_pusher_decode(ping, sizeof ping - 1, 8, &m, &e), 0);
    CHECK_SPAN(m.event, "pusher:ping");
    CHECK(m.channel.p == NULL);
    CHECK_SPAN(m.data, "{}");
    sb_pusher_msg_free(&m);
    {
        static const char f[] = "{\"event\":\"client-\\u0041\",\"channel\":\"private-x\",\"data\":[1,2]}";
        CHECK_INT(sb_pusher_decode(f, sizeof f - 1, 8, &m, &e), 0);
        CHECK_SPAN(m.event, "client-A");
        CHECK_SPAN(m.channel, "private-x");
        CHECK_SPAN(m.data, "[1,2]");
        sb_pusher_msg_free(&m);
    }
    CHECK_INT(sb_pusher_decode("{\"event\":1}", 11, 8, &m, &e), SB_CODEC_EFIELD);
    CHECK_INT(sb_pusher_decode("{\"data\":1}", 10, 8, &m, &e), SB_CODEC_ESHAPE);
    CHECK_INT(sb_pusher_decode("[]", 2, 8, &m, &e), SB_CODEC_ESHAPE);
    CHECK_INT(sb_pusher_decode("{\"event\":", 9, 8, &m, &e), SB_CODEC_EJSON);
    CHECK_INT(sb_pusher_decode("{\"event\":\"e\",\"channel\":null}", 28, 8, &m, &e),
              SB_CODEC_EFIELD);
}

static void test_subscribe(check_ctx *t)
{
    sb_pusher_sub s;
    sb_codec_err e;

    CHECK_INT(sb_pusher_decode_subscribe(S("{\"channel\":\"news\",\"auth\":\"k:ab\"}"), 8, &s, &e), 0);
    CHECK_SPAN(s.channel, "news");
    CHECK_SPAN(s.auth, "k:ab");
    CHECK(s.channel_data.p == NULL);
    sb_pusher_sub_free(&s);
    /* data as a string holding the object, escapes inside escapes */
    CHECK_INT(sb_pusher_decode_subscribe(
                  S("\"{\\\"channel\\\":\\\"presence-a\\\",\\\"channel_data\\\":"
                    "\\\"{\\\\\\\"user_id\\\\\\\":\\\\\\\"u1\\\\\\\"}\\\"}\""), 8, &s, &e), 0);
    CHECK_SPAN(s.channel, "presence-a");
    CHECK_SPAN(s.channel_data, "{\"user_id\":\"u1\"}");
    sb_pusher_sub_free(&s);
    CHECK_INT(sb_pusher_decode_subscribe(S("{}"), 8, &s, &e), SB_CODEC_ESHAPE);
    CHECK_INT(sb_pusher_decode_subscribe(NOSPAN, 8, &s, &e), SB_CODEC_ESHAPE);
    CHECK_INT(sb_pusher_decode_subscribe(S("\"nope\""), 8, &s, &e), SB_CODEC_EJSON);
    CHECK_INT(sb_pusher_decode_subscribe(S("{\"channel\":1}"), 8, &s, &e), SB_CODEC_EFIELD);
    CHECK_INT(sb_pusher_decode_subscribe(S("{\"channel\":\"a\",\"auth\":[]}"), 8, &s, &e),
              SB_CODEC_EFIELD);
}

static void test_payload(check_ctx *t)
{
    sb_buf b;
    sb_span p;

    sb_buf_init(&b, 0);
    CHECK_INT(sb_pusher_payload(S("{\"a\":1}"), 8, &b, &p), 0);
    CHECK_SPAN(p, "{\"a\":1}");
    CHECK_INT(sb_pusher_payload(S("\"{\\\"a\\\":1}\""), 8, &b, &p), 0);
    CHECK_SPAN(p, "{\"a\":1}");           /* a string of JSON: that JSON */
    CHECK_INT(sb_pusher_payload(S("\"42\""), 8, &b, &p), 0);
    CHECK_SPAN(p, "42");
    CHECK_INT(sb_pusher_payload(S("\"hi there\""), 8, &b, &p), 0);
    CHECK_SPAN(p, "\"hi there\"");        /* not JSON: the string itself */
    CHECK_INT(sb_pusher_payload(S("\"a\\nb\""), 8, &b, &p), 0);
    CHECK_SPAN(p, "\"a\\nb\"");
    CHECK_INT(sb_pusher_payload(S("\"\""), 8, &b, &p), 0);
    CHECK_SPAN(p, "\"\"");
    CHECK_INT(sb_pusher_payload(NOSPAN, 8, &b, &p), 0);
    CHECK_SPAN(p, "null");
    sb_buf_free(&b);
}

static void test_channel_data(check_ctx *t)
{
    sb_buf b;
    sb_span uid, info;
    sb_codec_err e;

    sb_buf_init(&b, 0);
    CHECK_INT(sb_pusher_channel_data(S("{\"user_id\":\"u\\u00e9\",\"user_info\":{\"n\":1}}"), 8, &b,
                                     &uid, &info, &e), 0);
    CHECK_SPAN(uid, "u\xc3\xa9");
    CHECK_SPAN(info, "{\"n\":1}");
    CHECK_INT(sb_pusher_channel_data(S("{\"user_id\":42}"), 8, &b, &uid, &info, &e), 0);
    CHECK_SPAN(uid, "42");
    CHECK(info.p == NULL);
    CHECK_INT(sb_pusher_channel_data(S("{\"user_info\":{}}"), 8, &b, &uid, &info, &e),
              SB_CODEC_ESHAPE);
    CHECK_INT(sb_pusher_channel_data(S("{\"user_id\":\"\"}"), 8, &b, &uid, &info, &e),
              SB_CODEC_EFIELD);
    CHECK_INT(sb_pusher_channel_data(S("{\"user_id\":true}"), 8, &b, &uid, &info, &e),
              SB_CODEC_EFIELD);
    CHECK_INT(sb_pusher_channel_data(S("nope"), 8, &b, &uid, &info, &e), SB_CODEC_EJSON);
    CHECK_INT(sb_pusher_channel_data(NOSPAN, 8, &b, &uid, &info, &e), SB_CODEC_EJSON);
    sb_buf_free(&b);
}

static void test_encode(check_ctx *t)
{
    sb_buf b;

    sb_buf_init(&b, 0);
    CHECK_INT(sb_pusher_message(&b, S("ev"), S("news"), S("{\"a\":\"b\"}"), NOSPAN), 0);
    CHECK_BUF(&b, "{\"event\":\"ev\",\"channel\":\"news\",\"data\":\"{\\\"a\\\":\\\"b\\\"}\"}");
    sb_buf_reset(&b);
    CHECK_INT(sb_pusher_message(&b, S("ev"), S("news"), S("\"plain\""), S("u1")), 0);
    CHECK_BUF(&b, "{\"event\":\"ev\",\"channel\":\"news\",\"data\":\"plain\",\"user_id\":\"u1\"}");
    sb_buf_reset(&b);
    CHECK_INT(sb_pusher_event(&b, S("pusher:pong"), NOSPAN, S("{}"), NOSPAN), 0);
    CHECK_BUF(&b, "{\"event\":\"pusher:pong\",\"data\":\"{}\"}");
    sb_buf_reset(&b);
    CHECK_INT(sb_pusher_error(&b, 4001, S("no \"app\"")), 0);
    CHECK_BUF(&b, "{\"event\":\"pusher:error\",\"data\":{\"code\":4001,\"message\":\"no \\\"app\\\"\"}}");
    sb_buf_reset(&b);
    CHECK_INT(sb_pusher_error(&b, 0, S("x")), 0);
    CHECK_BUF(&b, "{\"event\":\"pusher:error\",\"data\":{\"code\":null,\"message\":\"x\"}}");
    sb_buf_reset(&b);
    CHECK_INT(sb_pusher_established(&b, S("12.34"), 120), 0);
    CHECK_BUF(&b, "{\"event\":\"pusher:connection_established\",\"data\":"
                  "\"{\\\"socket_id\\\":\\\"12.34\\\",\\\"activity_timeout\\\":120}\"}");
    sb_buf_free(&b);
}

int main(void)
{
    check_ctx ctx = { "test_proto_pusher", 0, 0 }, *t = &ctx;

    test_decode(t);
    test_subscribe(t);
    test_payload(t);
    test_channel_data(t);
    test_encode(t);
    return check_report(t);
}
