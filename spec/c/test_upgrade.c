/* The request-head parser and the WebSocket handshake helpers (net/upgrade.h). */
#include "check.h"
#include "net/upgrade.h"

#include <stdlib.h>

static const sb_head_limits lim = { 8192, 4096 };

#define UPGRADE                                                          \
    "GET /ws/chat?room=a%20b&x=1+2 HTTP/1.1\r\n"                         \
    "Host: example.com\r\n"                                              \
    "Upgrade: websocket\r\n"                                             \
    "Connection: keep-alive, Upgrade\r\n"                                \
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"                    \
    "Sec-WebSocket-Version: 13\r\n"                                      \
    "Sec-WebSocket-Protocol: chat, superchat\r\n"                        \
    "\r\n"

/* Parses a literal; returns what sb_head_parse did. */
static int parse(const char *s, sb_head *h)
{
    return sb_head_parse(s, strlen(s), &lim, h);
}

/* Parses, expects a refusal, and that nothing is held. */
static int refused(const char *s)
{
    sb_head h;
    int r = parse(s, &h);

    if (h.mem)
        r = 1;
    sb_head_free(&h);
    return r;
}

static void test_byte_by_byte(check_ctx *t)
{
    const char *s = UPGRADE "first frame bytes";
    size_t n = sizeof UPGRADE - 1, i;
    sb_head h;
    int early = 0;

    for (i = 0; i < n; i++) {
        if (sb_head_parse(s, i, &lim, &h) != 0 || h.mem)
            early++;
        sb_head_free(&h);
    }
    CHECK_INT(early, 0);
    CHECK_INT(sb_head_parse(s, n, &lim, &h), n);
    CHECK_INT(sb_head_is_upgrade(&h), 1);
    sb_head_free(&h);
    /* bytes after the head do not change its length */
    CHECK_INT(sb_head_parse(s, strlen(s), &lim, &h), n);
    sb_head_free(&h);
    CHECK(h.mem == NULL);
    sb_head_free(&h);   /* twice is harmless */
}

static void test_fields(check_ctx *t)
{
    sb_head h;

    CHECK_INT(parse(UPGRADE, &h), sizeof UPGRADE - 1);
    CHECK(strcmp(sb_head_method(&h), "GET") == 0);
    CHECK(strcmp(sb_head_path(&h), "/ws/chat") == 0);
    CHECK(strcmp(sb_head_target(&h), "/ws/chat?room=a%20b&x=1+2") == 0);
    CHECK_INT(sb_head_url_len(&h), 25);
    CHECK_INT(sb_head_minor(&h), 1);
    CHECK(strcmp(sb_head_header(&h, "HOST"), "example.com") == 0);
    CHECK(strcmp(sb_head_header(&h, "sec-websocket-version"), "13") == 0);
    CHECK(sb_head_header(&h, "Hos") == NULL);
    CHECK(sb_head_header(&h, "Hostx") == NULL);
    CHECK(sb_head_header(&h, "Origin") == NULL);
    sb_head_free(&h);
}

static void test_path_decoding(check_ctx *t)
{
    sb_head h;

    CHECK(parse("GET /c/my%20room%3Ax+y%2f HTTP/1.0\r\n\r\n", &h) > 0);
    CHECK(strcmp(sb_head_path(&h), "/c/my room:x+y/") == 0);
    CHECK_INT(sb_head_minor(&h), 0);
    CHECK_INT(sb_head_nargs(&h), 0);
    sb_head_free(&h);
    CHECK(parse("GET /%C3%A9t%c3%a9#frag HTTP/1.1\r\n\r\n", &h) > 0);
    CHECK(strcmp(sb_head_path(&h), "/\xc3\xa9t\xc3\xa9") == 0);
    sb_head_free(&h);
    CHECK(parse("GET http://Example.com:80/a%2Bb?k=v HTTP/1.1\r\n\r\n", &h) > 0);
    CHECK(strcmp(sb_head_path(&h), "/a+b") == 0);
    CHECK_INT(sb_head_nargs(&h), 1);
    sb_head_free(&h);
    CHECK(parse("GET ws://host?k HTTP/1.1\r\n\r\n", &h) > 0);
    CHECK(strcmp(sb_head_path(&h), "/") == 0);
    CHECK(strcmp(sb_head_target(&h), "ws://host?k") == 0);
    CHECK_INT(sb_head_nargs(&h), 1);
    sb_head_free(&h);
    CHECK_INT(refused("GET /a%00b HTTP/1.1\r\n\r\n"), SB_HEAD_EBAD);
    CHECK_INT(refused("GET /a%0 HTTP/1.1\r\n\r\n"), SB_HEAD_EBAD);
    CHECK_INT(refused("GET /a%zz HTTP/1.1\r\n\r\n"), SB_HEAD_EBAD);
    CHECK_INT(refused("GET /a% HTTP/1.1\r\n\r\n"), SB_HEAD_EBAD);
    CHECK_INT(refused("OPTIONS * HTTP/1.1\r\n\r\n"), SB_HEAD_EBAD);
    CHECK_INT(refused("CONNECT host:443 HTTP/1.1\r\n\r\n"), SB_HEAD_EBAD);
    CHECK_INT(refused("GET http:///x HTTP/1.1\r\n\r\n"), SB_HEAD_EBAD);
}

/* The arguments as "k=v;" for one comparison. */
static void args_of(const sb_head *h, sb_buf *out)
{
    const char *k, *v;
    size_t kn, vn;
    int i;

    sb_buf_reset(out);
    for (i = 0; sb_head_arg(h, i, &k, &kn, &v, &vn); i++) {
        sb_buf_add(out, k, kn);
        sb_buf_addc(out, '=');
        sb_buf_add(out, v, vn);
        sb_buf_addc(out, ';');
    }
}

static void test_args(check_ctx *t)
{
    sb_head h;
    sb_buf b;
    const char *k = NULL, *v = NULL;

    sb_buf_init(&b, 0);
    CHECK(parse(UPGRADE, &h) > 0);
    args_of(&h, &b);
    CHECK_BUF(&b, "room=a b;x=1 2;");
    CHECK_INT(sb_head_nargs(&h), 2);
    CHECK_INT(sb_head_arg(&h, 2, &k, NULL, &v, NULL), 0);
    CHECK_INT(sb_head_arg(&h, -1, &k, NULL, &v, NULL), 0);
    CHECK_INT(sb_head_arg(&h, 1, &k, NULL, &v, NULL), 1);
    CHECK(strcmp(k, "x") == 0 && strcmp(v, "1 2") == 0);
    sb_head_free(&h);

    CHECK(parse("GET /?&a=1&&b=2&k&k2=&=v&a%3D%26=%2B%3d& HTTP/1.1\r\n\r\n",
                &h) > 0);
    args_of(&h, &b);
    CHECK_BUF(&b, "a=1;b=2;k=;k2=;=v;a=&=+=;");
    CHECK_INT(sb_head_nargs(&h), 6);
    sb_head_free(&h);

    CHECK(parse("GET /p? HTTP/1.1\r\n\r\n", &h) > 0);
    CHECK_INT(sb_head_nargs(&h), 0);
    CHECK(strcmp(sb_head_path(&h), "/p") == 0);
    sb_head_free(&h);
    CHECK(parse("GET /p?&&& HTTP/1.1\r\n\r\n", &h) > 0);
    CHECK_INT(sb_head_nargs(&h), 0);
    sb_head_free(&h);
    CHECK(parse("GET /p?a=1#b=2 HTTP/1.1\r\n\r\n", &h) > 0);
    args_of(&h, &b);
    CHECK_BUF(&b, "a=1;");
    sb_head_free(&h);

    CHECK_INT(refused("GET /?token%00x=1 HTTP/1.1\r\n\r\n"), SB_HEAD_EBAD);
    CHECK_INT(refused("GET /?a=%00 HTTP/1.1\r\n\r\n"), SB_HEAD_EBAD);
    CHECK_INT(refused("GET /?a=%4 HTTP/1.1\r\n\r\n"), SB_HEAD_EBAD);
    sb_buf_free(&b);
}

static void test_headers(check_ctx *t)
{
    sb_head h;

    CHECK(parse("GET / HTTP/1.1\r\n"
                "Accept: a\r\n"
                "X-Empty:\r\n"
                "Cookie: a=1\r\n"
                "accept:  \t b \t \r\n"
                "COOKIE:b=2\r\n"
                "X-Sp:   \r\n"
                "ACCEPT: c\r\n"
                "\r\n",
                &h) > 0);
    CHECK(strcmp(sb_head_header(&h, "Accept"), "a, b, c") == 0);
    CHECK(strcmp(sb_head_header(&h, "cookie"), "a=1; b=2") == 0);
    CHECK(strcmp(sb_head_header(&h, "x-empty"), "") == 0);
    CHECK(strcmp(sb_head_header(&h, "x-sp"), "") == 0);
    CHECK_INT(h.nhdr, 4);
    sb_head_free(&h);

    /* bare LF line ends, and empty lines before the request line */
    CHECK_INT(parse("\r\n\nGET /lf HTTP/1.1\nHost: h\n\n", &h), 29);
    CHECK(strcmp(sb_head_path(&h), "/lf") == 0);
    CHECK(strcmp(sb_head_header(&h, "host"), "h") == 0);
    sb_head_free(&h);
    CHECK_INT(parse("GET / HTTP/1.1\r\nA: b\n\r\n", &h), 23);
    sb_head_free(&h);
    /* obs-text passes through */
    CHECK(parse("GET / HTTP/1.1\r\nX: caf\xc3\xa9 \x80\r\n\r\n", &h) > 0);
    CHECK(strcmp(sb_head_header(&h, "x"), "caf\xc3\xa9 \x80") == 0);
    sb_head_free(&h);
}

static void test_refusals(check_ctx *t)
{
    static const char nul[] = "GET / HTTP/1.1\r\nX: a\0b\r\n\r\n";
    sb_buf b;
    sb_head h;
    int i;

    /* 400 */
    CHECK_INT(refused("GET / HTTP/1.1\r\nX: a\r\n folded\r\n\r\n"), SB_HEAD_EBAD);
    CHECK_INT(refused("GET / HTTP/1.1\r\nX: a\r\n\tfolded\r\n\r\n"), SB_HEAD_EBAD);
    CHECK_INT(refused("GET / HTTP/1.1\r\nBad Name: a\r\n\r\n"), SB_HEAD_EBAD);
    CHECK_INT(refused("GET / HTTP/1.1\r\nName : a\r\n\r\n"), SB_HEAD_EBAD);
    CHECK_INT(refused("GET / HTTP/1.1\r\n: a\r\n\r\n"), SB_HEAD_EBAD);
    CHECK_INT(refused("GET / HTTP/1.1\r\nNoColon\r\n\r\n"), SB_HEAD_EBAD);
    CHECK_INT(refused("GET / HTTP/1.1\r\nX\x01: a\r\n\r\n"), SB_HEAD_EBAD);
    CHECK_INT(refused("GET / HTTP/1.1\r\nX: a\x01\r\n\r\n"), SB_HEAD_EBAD);
    CHECK_INT(refused("GET / HTTP/1.1\r\nX: a\rb\r\n\r\n"), SB_HEAD_EBAD);
    CHECK_INT(refused("GET / HTTP/1.1\r\n\r\r\n\r\n"), SB_HEAD_EBAD);
    CHECK_INT(sb_head_parse(nul, sizeof nul - 1, &lim, &h), SB_HEAD_EBAD);
    sb_head_free(&h);
    CHECK_INT(refused("GET  / HTTP/1.1\r\n\r\n"), SB_HEAD_EBAD);
    CHECK_INT(refused("GET /  HTTP/1.1\r\n\r\n"), SB_HEAD_EBAD);
    CHECK_INT(refused("GET / HTTP/1.1 \r\n\r\n"), SB_HEAD_EBAD);
    CHECK_INT(refused("GET /\r\n\r\n"), SB_HEAD_EBAD);
    CHECK_INT(refused("GET\r\n\r\n"), SB_HEAD_EBAD);
    CHECK_INT(refused("GET / http/1.1\r\n\r\n"), SB_HEAD_EBAD);
    CHECK_INT(refused("GET / HTTP/1.10\r\n\r\n"), SB_HEAD_EBAD);
    CHECK_INT(refused("GET / HTTP/1.\r\n\r\n"), SB_HEAD_EBAD);
    CHECK_INT(refused("G(T / HTTP/1.1\r\n\r\n"), SB_HEAD_EBAD);
    CHECK_INT(refused("GET /a\x7f HTTP/1.1\r\n\r\n"), SB_HEAD_EBAD);
    /* known to be no HTTP before the head is complete: a TLS hello */
    CHECK_INT(refused("\x16\x03\x01\x02"), SB_HEAD_EBAD);
    CHECK_INT(refused("GET / HTTX"), SB_HEAD_EBAD);

    /* 505, also as soon as the major version is seen */
    CHECK_INT(refused("GET / HTTP/2.0\r\n\r\n"), SB_HEAD_EVERSION);
    CHECK_INT(refused("GET / HTTP/0.9\r\n\r\n"), SB_HEAD_EVERSION);
    CHECK_INT(refused("PRI * HTTP/2"), SB_HEAD_EVERSION);

    sb_buf_init(&b, 0);
    /* 414: the target alone, also before the line is complete */
    sb_buf_adds(&b, "GET /");
    for (i = 0; i < 4095; i++)
        sb_buf_addc(&b, 'a');
    sb_buf_adds(&b, " HTTP/1.1\r\n\r\n");
    CHECK(sb_head_parse((char *)sb_buf_data(&b), b.len, &lim, &h) > 0);
    CHECK_INT(sb_head_url_len(&h), 4096);
    sb_head_free(&h);
    CHECK_INT(sb_head_parse((char *)sb_buf_data(&b), 5 + 4095, &lim, &h), 0);
    sb_buf_reset(&b);
    sb_buf_adds(&b, "GET /");
    for (i = 0; i < 4096; i++)
        sb_buf_addc(&b, 'a');
    CHECK_INT(sb_head_parse((char *)sb_buf_data(&b), b.len, &lim, &h),
              SB_HEAD_EURL);
    sb_buf_adds(&b, " HTTP/1.1\r\n\r\n");
    CHECK_INT(sb_head_parse((char *)sb_buf_data(&b), b.len, &lim, &h),
              SB_HEAD_EURL);

    /* 431: too long incomplete, too long complete, too many headers */
    sb_buf_reset(&b);
    sb_buf_adds(&b, "GET / HTTP/1.1\r\n");
    while (b.len < 8192)
        sb_buf_adds(&b, "X: y\r\n");
    CHECK_INT(sb_head_parse((char *)sb_buf_data(&b), 8192, &lim, &h), 0);
    CHECK_INT(sb_head_parse((char *)sb_buf_data(&b), 8193, &lim, &h),
              SB_HEAD_EBIG);
    sb_buf_adds(&b, "\r\n");
    CHECK_INT(sb_head_parse((char *)sb_buf_data(&b), b.len, &lim, &h),
              SB_HEAD_EBIG);
    sb_buf_reset(&b);
    sb_buf_adds(&b, "GET / HTTP/1.1\r\n");
    for (i = 0; i < SB_HEAD_MAX_HEADERS; i++)
        sb_buf_adds(&b, "X: y\r\n");
    sb_buf_adds(&b, "\r\n");
    CHECK(sb_head_parse((char *)sb_buf_data(&b), b.len, &lim, &h) > 0);
    CHECK(strncmp(sb_head_header(&h, "x"), "y, y, y", 7) == 0);
    CHECK_INT(strlen(sb_head_header(&h, "x")), 3 * 64 - 2);
    sb_head_free(&h);
    b.len -= 2;
    sb_buf_adds(&b, "X: y\r\n\r\n");
    CHECK_INT(sb_head_parse((char *)sb_buf_data(&b), b.len, &lim, &h),
              SB_HEAD_EBIG);
    CHECK(h.mem == NULL);
    sb_buf_free(&b);
}

/* An upgrade head with one line replaced (by name) or removed ("" as
 * the replacement) or added. */
static int upgrade_with(const char *from, const char *to, const char **why)
{
    char head[1024];
    const char *at = strstr(UPGRADE, from), *eol;
    sb_head h;
    int r, st;

    if (!at)
        return 99;
    eol = strstr(at, "\r\n") + 2;
    snprintf(head, sizeof head, "%.*s%s%s", (int)(at - UPGRADE), UPGRADE, to,
             eol);
    if (parse(head, &h) <= 0)
        return 98;
    r = sb_head_is_upgrade(&h);
    st = sb_head_upgrade_refusal(&h, why);
    sb_head_free(&h);
    return r == 1 ? 1 : r == 0 ? (st ? 97 : 0) : st;
}

static void test_is_upgrade(check_ctx *t)
{
    const char *why = "x";
    sb_head h;

    CHECK_INT(upgrade_with("Host", "Host: h\r\n", &why), 1);
    CHECK(why == NULL);
    CHECK_INT(upgrade_with("Upgrade:", "Upgrade: WebSocket\r\n", &why), 1);
    CHECK_INT(upgrade_with("Upgrade:", "upgrade: foo, websocket \r\n", &why), 1);
    CHECK_INT(upgrade_with("Connection", "Connection: UPGRADE\r\n", &why), 1);
    CHECK_INT(upgrade_with("Connection", "Connection: close\r\nConnection: upgrade\r\n", &why), 1);
    CHECK_INT(upgrade_with("Sec-WebSocket-Key", "Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAA==\r\n", &why), 1);

    CHECK_INT(upgrade_with("GET", "POST /ws HTTP/1.1\r\n", &why), 400);
    CHECK(why && strstr(why, "GET"));
    CHECK_INT(upgrade_with("GET", "GET /ws HTTP/1.0\r\n", &why), 400);
    CHECK_INT(upgrade_with("Upgrade:", "", &why), 400);
    CHECK_INT(upgrade_with("Upgrade:", "Upgrade: websocket2\r\n", &why), 400);
    CHECK_INT(upgrade_with("Connection", "Connection: keep-alive\r\n", &why), 400);
    CHECK(why && strstr(why, "Connection"));
    CHECK_INT(upgrade_with("Connection", "Connection: upgrades\r\n", &why), 400);
    CHECK_INT(upgrade_with("Sec-WebSocket-Version", "Sec-WebSocket-Version: 8\r\n", &why), 426);
    CHECK(why && strstr(why, "13"));
    CHECK_INT(upgrade_with("Sec-WebSocket-Version", "", &why), 426);
    CHECK_INT(upgrade_with("Sec-WebSocket-Version", "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Version: 13\r\n", &why), 426);
    CHECK_INT(upgrade_with("Sec-WebSocket-Key", "", &why), 400);
    CHECK(why && strstr(why, "Key"));
    CHECK_INT(upgrade_with("Sec-WebSocket-Key", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=\r\n", &why), 400);
    CHECK_INT(upgrade_with("Sec-WebSocket-Key", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZ===\r\n", &why), 400);
    CHECK_INT(upgrade_with("Sec-WebSocket-Key", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25j*Q==\r\n", &why), 400);
    CHECK_INT(upgrade_with("Sec-WebSocket-Key", "Sec-WebSocket-Key: a\r\nSec-WebSocket-Key: b\r\n", &why), 400);

    /* plain HTTP, including another upgrade (h2c) */
    CHECK(parse("GET /metrics HTTP/1.1\r\nHost: h\r\n\r\n", &h) > 0);
    CHECK_INT(sb_head_is_upgrade(&h), 0);
    CHECK_INT(sb_head_upgrade_refusal(&h, &why), 0);
    CHECK(why == NULL);
    sb_head_free(&h);
    CHECK(parse("GET / HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n", &h) > 0);
    CHECK_INT(sb_head_is_upgrade(&h), 0);
    sb_head_free(&h);
    CHECK_INT(sb_head_is_upgrade(&h), 0);   /* a freed head is none */
    CHECK_INT(upgrade_with("Sec-WebSocket-Version", "X: 1\r\n", &why), 426);
}

static void test_accept_key(check_ctx *t)
{
    char out[SB_WS_ACCEPT_LEN + 1];

    sb_ws_accept_key("dGhlIHNhbXBsZSBub25jZQ==", out);
    CHECK(strcmp(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=") == 0);
    CHECK_INT(strlen(out), SB_WS_ACCEPT_LEN);
    /* Node's ws test vector */
    sb_ws_accept_key("AAAAAAAAAAAAAAAAAAAAAA==", out);
    CHECK(strcmp(out, "ICX+Yqv66kxgM0FcWaLWlFLwTAI=") == 0);
}

static void test_subprotocol(check_ctx *t)
{
    static const char *const ours[] = { "superchat", "chat", NULL };
    static const char *const none[] = { NULL };
    static const char *const other[] = { "mqtt", NULL };
    sb_head h;

    CHECK(parse(UPGRADE, &h) > 0);
    /* the client's order wins */
    CHECK(sb_head_pick_subprotocol(&h, ours) == ours[1]);
    CHECK(sb_head_pick_subprotocol(&h, none) == NULL);
    CHECK(sb_head_pick_subprotocol(&h, other) == NULL);
    CHECK(sb_head_pick_subprotocol(&h, NULL) == NULL);
    sb_head_free(&h);
    CHECK(parse("GET / HTTP/1.1\r\nSec-WebSocket-Protocol: , Chat,\r\n"
                "Sec-WebSocket-Protocol:\tx ,  superchat  \r\n\r\n", &h) > 0);
    CHECK(sb_head_pick_subprotocol(&h, ours) == ours[0]);
    sb_head_free(&h);
    CHECK(parse("GET / HTTP/1.1\r\n\r\n", &h) > 0);
    CHECK(sb_head_pick_subprotocol(&h, ours) == NULL);
    sb_head_free(&h);
    CHECK(parse("GET / HTTP/1.1\r\nSec-WebSocket-Protocol: chats, cha\r\n\r\n", &h) > 0);
    CHECK(sb_head_pick_subprotocol(&h, ours) == NULL);
    sb_head_free(&h);
}

#define UP101                                                            \
    "HTTP/1.1 101 Switching Protocols\r\n"                                 \
    "Upgrade: websocket\r\n"                                               \
    "Connection: Upgrade\r\n"                                              \
    "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"

static void test_responses(check_ctx *t)
{
    char out[512];
    int n;

    n = sb_upgrade_response(out, sizeof out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=",
                            NULL, NULL);
    CHECK_MEM(out, (size_t)n, UP101 "\r\n");
    n = sb_upgrade_response(out, sizeof out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=",
                            "chat", "X-A: 1\r\nX-B: 2\r\n");
    CHECK_MEM(out, (size_t)n,
              UP101 "Sec-WebSocket-Protocol: chat\r\nX-A: 1\r\nX-B: 2\r\n\r\n");
    CHECK_INT(sb_upgrade_response(out, (size_t)n + 1, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=",
                                  "chat", "X-A: 1\r\nX-B: 2\r\n"), n);
    CHECK_INT(sb_upgrade_response(out, (size_t)n, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=",
                                  "chat", "X-A: 1\r\nX-B: 2\r\n"), -1);
    CHECK_INT(sb_upgrade_response(out, sizeof out, "k", NULL, "X-A: 1"), -1);
    CHECK_INT(sb_upgrade_response(out, sizeof out, NULL, NULL, NULL), -1);
    CHECK_INT(sb_upgrade_response(NULL, 0, "k", NULL, NULL), -1);

    n = sb_http_response(out, sizeof out, 426, NULL, "Sec-WebSocket-Version must be 13",
                         "Sec-WebSocket-Version: 13\r\n");
    CHECK_MEM(out, (size_t)n,
              "HTTP/1.1 426 Upgrade Required\r\n"
              "Connection: close\r\n"
              "Content-Type: text/plain\r\n"
              "Content-Length: 32\r\n"
              "Sec-WebSocket-Version: 13\r\n"
              "\r\n"
              "Sec-WebSocket-Version must be 13");
    n = sb_http_response(out, sizeof out, 431, NULL, NULL, NULL);
    CHECK_MEM(out, (size_t)n,
              "HTTP/1.1 431 Request Header Fields Too Large\r\n"
              "Connection: close\r\n"
              "Content-Type: text/plain\r\n"
              "Content-Length: 0\r\n"
              "\r\n");
    n = sb_http_response(out, sizeof out, 299, NULL, "x", "");
    CHECK_MEM(out, (size_t)n,
              "HTTP/1.1 299 Success\r\nConnection: close\r\nContent-Type: text/plain\r\n"
              "Content-Length: 1\r\n\r\nx");
    CHECK_INT(sb_http_response(out, 10, 400, NULL, "x", NULL), -1);
    CHECK_INT(sb_http_response(out, sizeof out, 99, NULL, "x", NULL), -1);
    CHECK_INT(sb_http_response(out, sizeof out, 600, NULL, "x", NULL), -1);
    CHECK_INT(sb_http_response(out, sizeof out, 400, NULL, "x", "\n"), -1);
    n = sb_http_response(out, sizeof out, 414, NULL, NULL, NULL);
    CHECK(n > 0 && strncmp(out, "HTTP/1.1 414 URI Too Long\r\n", 27) == 0);
    n = sb_http_response(out, sizeof out, 505, NULL, NULL, NULL);
    CHECK(n > 0 && strncmp(out, "HTTP/1.1 505 HTTP Version Not Supported\r\n", 41) == 0);
}

int main(void)
{
    check_ctx ctx = { "test_upgrade", 0, 0 }, *t = &ctx;

    test_byte_by_byte(t);
    test_fields(t);
    test_path_decoding(t);
    test_args(t);
    test_headers(t);
    test_refusals(t);
    test_is_upgrade(t);
    test_accept_key(t);
    test_subprotocol(t);
    test_responses(t);
    return check_report(t);
}
