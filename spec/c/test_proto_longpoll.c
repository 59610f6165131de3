/* LongPoll codec: the answers' bodies, tokens, POST batches and their
 * base64 (docs/protocols.md#longpoll). */
#include "check.h"
#include "protocols/phoenix/proto_longpoll.h"
#include "protocols/phoenix/proto_phoenix.h"

static void test_token(check_ctx *t)
{
    unsigned char rnd[SB_LP_TOKEN_BYTES];
    char tok[SB_LP_TOKEN_LEN + 1];
    size_t i;

    for (i = 0; i < sizeof rnd; i++)
        rnd[i] = (unsigned char)(i * 37 + 250);
    sb_lp_token(rnd, tok);
    /* what Python's base64.urlsafe_b64encode gives for the same bytes */
    CHECK_MEM(tok, strlen(tok), "-h9EaY6z2P0iR2yRttsAJUpv");
    memset(rnd, 0xff, sizeof rnd);
    sb_lp_token(rnd, tok);
    CHECK_MEM(tok, strlen(tok), "________________________");
}

/* The captured answer of docs/protocols.md#longpoll: each message is a
 * string holding one V2 array. */
static void test_poll_body(check_ctx *t)
{
    sb_buf f, b;

    sb_buf_init(&f, 0);
    sb_buf_init(&b, 0);
    sb_phx_v2_reply(&f, S("4"), S("4"), S("room:lp"), S("ok"), S("{}"));
    sb_lp_poll_begin(&b, 200, S("T"));
    sb_lp_poll_add(&b, sb_span_of((const char *)sb_buf_data(&f), f.len));
    CHECK_INT(sb_lp_poll_end(&b, NOSPAN), 0);
    CHECK_BUF(&b, "{\"status\":200,\"token\":\"T\",\"messages\":[\"[\\\"4\\\","
                  "\\\"4\\\",\\\"room:lp\\\",\\\"phx_reply\\\",{\\\"status\\\":"
                  "\\\"ok\\\",\\\"response\\\":{}}]\"]}");
    sb_buf_reset(&b);
    sb_lp_poll_begin(&b, 200, S("T"));
    sb_lp_poll_add(&b, S("[1]"));
    sb_lp_poll_add(&b, S("[\"\n\"]"));
    sb_lp_poll_end(&b, NOSPAN);
    CHECK_BUF(&b, "{\"status\":200,\"token\":\"T\",\"messages\":[\"[1]\",\"[\\\"\\n\\\"]\"]}");
    sb_buf_reset(&b);
    sb_lp_poll_begin(&b, 204, S("T"));
    sb_lp_poll_end(&b, NOSPAN);
    CHECK_BUF(&b, "{\"status\":204,\"token\":\"T\",\"messages\":[]}");
    sb_buf_reset(&b);
    sb_lp_poll_begin(&b, 410, NOSPAN);
    sb_lp_poll_end(&b, S("gone"));
    CHECK_BUF(&b, "{\"status\":410,\"token\":null,\"messages\":[],\"error\":\"gone\"}");
    sb_buf_free(&f);
    sb_buf_free(&b);
}

static void test_status(check_ctx *t)
{
    sb_buf b;

    sb_buf_init(&b, 0);
    CHECK_INT(sb_lp_status(&b, 200, NOSPAN), 0);
    CHECK_BUF(&b, "{\"status\":200}");
    sb_buf_reset(&b);
    sb_lp_status(&b, 413, S("body over \"1\" byte"));
    CHECK_BUF(&b, "{\"status\":413,\"error\":\"body over \\\"1\\\" byte\"}");
    sb_buf_free(&b);
}

static void test_batch(check_ctx *t)
{
    static const char body[] = "[1]\n[\"a\"]\r\n\n\r\n3q0=\n";
    size_t pos = 0;
    sb_span m;

    CHECK(sb_lp_is_batch("application/x-ndjson"));
    CHECK(sb_lp_is_batch("Application/X-NDJSON; charset=utf-8"));
    CHECK(!sb_lp_is_batch("application/x-ndjsonx"));
    CHECK(!sb_lp_is_batch("application/json"));
    CHECK(!sb_lp_is_batch(NULL));
    CHECK_INT(sb_lp_next_message(body, sizeof body - 1, &pos, &m), 1);
    CHECK_SPAN(m, "[1]");
    CHECK(sb_lp_is_text(m));
    CHECK_INT(sb_lp_next_message(body, sizeof body - 1, &pos, &m), 1);
    CHECK_SPAN(m, "[\"a\"]");
    CHECK_INT(sb_lp_next_message(body, sizeof body - 1, &pos, &m), 1);
    CHECK_SPAN(m, "3q0=");
    CHECK(!sb_lp_is_text(m));
    CHECK_INT(sb_lp_next_message(body, sizeof body - 1, &pos, &m), 0);
    pos = 0;
    CHECK_INT(sb_lp_next_message("x", 1, &pos, &m), 1);
    CHECK_SPAN(m, "x");
    pos = 0;
    CHECK_INT(sb_lp_next_message("\n\r\n", 3, &pos, &m), 0);
    CHECK(sb_lp_is_text(S("{\"topic\":\"t\"}")));
    CHECK(!sb_lp_is_text(S("")));
}

static void test_base64(check_ctx *t)
{
    sb_buf b;
    sb_codec_err e;

    sb_buf_init(&b, 0);
    CHECK_INT(sb_lp_b64_decode("3q0=", 4, &b, &e), 0);
    CHECK_BUF(&b, "\xde\xad");
    sb_buf_reset(&b);
    CHECK_INT(sb_lp_b64_decode("3q0", 3, &b, &e), 0);   /* padding optional */
    CHECK_BUF(&b, "\xde\xad");
    sb_buf_reset(&b);
    CHECK_INT(sb_lp_b64_decode("-_8=", 4, &b, &e), 0);  /* URL-safe too */
    CHECK_BUF(&b, "\xfb\xff");
    sb_buf_reset(&b);
    CHECK_INT(sb_lp_b64_decode("AAECAwQ=", 8, &b, &e), 0);
    CHECK_BUF(&b, "\x00\x01\x02\x03\x04");
    sb_buf_reset(&b);
    CHECK_INT(sb_lp_b64_decode("", 0, &b, &e), 0);
    CHECK_INT(b.len, 0);
    CHECK_INT(sb_lp_b64_decode("3q0==", 5, &b, &e), SB_CODEC_EFIELD);
    CHECK(strcmp(e.msg, "bad base64 padding") == 0);
    CHECK_INT(sb_lp_b64_decode("A===", 4, &b, &e), SB_CODEC_EFIELD);
    CHECK_INT(sb_lp_b64_decode("3q0=A", 5, &b, &e), SB_CODEC_EFIELD);
    CHECK_INT(e.pos, 3);
    CHECK_INT(sb_lp_b64_decode("3q0A3", 5, &b, &e), SB_CODEC_EFIELD);
    CHECK(strcmp(e.msg, "base64 cut short") == 0);
    CHECK_INT(sb_lp_b64_decode("not json", 8, &b, &e), SB_CODEC_EFIELD);
    CHECK_INT(e.pos, 3);
    CHECK(strcmp(e.msg, "not base64") == 0);
    CHECK_INT(b.len, 0);
    sb_buf_free(&b);
}

int main(void)
{
    check_ctx ctx = { "test_proto_longpoll", 0, 0 }, *t = &ctx;

    test_token(t);
    test_poll_body(t);
    test_status(t);
    test_batch(t);
    test_base64(t);
    return check_report(t);
}
