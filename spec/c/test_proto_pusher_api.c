/* proto_pusher_api.c: routes, the string to sign, and the verdicts, with
 * the worked example of Pusher's HTTP API documentation (key, secret,
 * body and timestamp of that example; its signature da4548...). */
#include "check.h"
#include "protocols/pusher_api/proto_pusher_api.h"

#define KEY "278d425bdf160c739803"
#define SECRET "7ad3773142a6692b25b8"
#define BODY "{\"name\":\"foo\",\"channels\":[\"project-3\"],\"data\":\"{\\\"some\\\":\\\"data\\\"}\"}"
#define MD5 "ec365a775a4cd0599faeb73354201b6f"
#define SIG "da454824c97ba181a32ccc17a72625ba02771f50b50e1e7430e47a1f3f457e6c"
#define NOW 1353088179.0

static void test_route(check_ctx *t)
{
    sb_span app = NOSPAN, rest = NOSPAN;

    CHECK_INT(sb_pusher_api_route(S("/apps/3/events"), &app, &rest), SB_PUSHER_APP);
    CHECK_SPAN(app, "3");
    CHECK_SPAN(rest, "/events");
    CHECK_INT(sb_pusher_api_route(S("/apps/3"), &app, &rest), SB_PUSHER_APP);
    CHECK_SPAN(app, "3");
    CHECK_INT(rest.n, 0);
    CHECK_INT(sb_pusher_api_route(S("/apps/x/channels/presence-a/users"), &app, &rest), SB_PUSHER_APP);
    CHECK_SPAN(rest, "/channels/presence-a/users");
    CHECK_INT(sb_pusher_api_route(S("/apps/"), &app, &rest), SB_PUSHER_NOT_OURS);
    CHECK_INT(sb_pusher_api_route(S("/apps//events"), &app, &rest), SB_PUSHER_NOT_OURS);
    CHECK_INT(sb_pusher_api_route(S("/appsx/3"), &app, &rest), SB_PUSHER_NOT_OURS);
    CHECK_INT(sb_pusher_api_route(S("/app/KEY"), &app, &rest), SB_PUSHER_NOT_OURS);
    CHECK_INT(sb_pusher_api_route(NOSPAN, &app, &rest), SB_PUSHER_NOT_OURS);
}

/* The example request, its parameters given out of order. */
static void example(sb_pusher_request *r, sb_pusher_param *p, const char *sig)
{
    p[0] = (sb_pusher_param){ S("body_md5"), S(MD5) };
    p[1] = (sb_pusher_param){ S("auth_version"), S("1.0") };
    p[2] = (sb_pusher_param){ S("auth_key"), S(KEY) };
    p[3] = (sb_pusher_param){ S("auth_timestamp"), S("1353088179") };
    p[4] = (sb_pusher_param){ S("auth_signature"), sb_span_str(sig) };
    r->method = S("POST");
    r->path = S("/apps/3/events");
    r->params = p;
    r->nparams = 5;
    r->body = S(BODY);
}

static void test_string_to_sign(check_ctx *t)
{
    sb_pusher_param p[8];
    sb_pusher_request r;
    sb_buf b;

    sb_buf_init(&b, 0);
    example(&r, p, SIG);
    CHECK_INT(sb_pusher_string_to_sign(&b, &r), 0);
    CHECK_BUF(&b, "POST\n/apps/3/events\nauth_key=" KEY "&auth_timestamp=1353088179"
                  "&auth_version=1.0&body_md5=" MD5);
    /* keys are lowercased (and sorted as such); values are not */
    sb_buf_reset(&b);
    p[5] = (sb_pusher_param){ S("Info"), S("User_Count") };
    r.nparams = 6;
    CHECK_INT(sb_pusher_string_to_sign(&b, &r), 0);
    CHECK_BUF(&b, "POST\n/apps/3/events\nauth_key=" KEY "&auth_timestamp=1353088179"
                  "&auth_version=1.0&body_md5=" MD5 "&info=User_Count");
    /* a key given twice, whatever its case, has no one string */
    sb_buf_reset(&b);
    p[5] = (sb_pusher_param){ S("AUTH_KEY"), S("other") };
    CHECK_INT(sb_pusher_string_to_sign(&b, &r), -1);
    CHECK_INT(b.len, 0);
    sb_buf_free(&b);
}

static int verdict(const sb_pusher_request *r, double now, sb_buf *why)
{
    sb_buf_reset(why);
    return sb_pusher_verify(r, S(KEY), S(SECRET), now, why);
}

static void test_verify(check_ctx *t)
{
    sb_pusher_param p[SB_PUSHER_MAX_PARAMS + 2];
    sb_pusher_request r;
    sb_buf why;
    size_t i;

    sb_buf_init(&why, 0);
    example(&r, p, SIG);
    CHECK_INT(verdict(&r, NOW, &why), SB_PUSHER_OK);
    CHECK_INT(verdict(&r, NOW + 600, &why), SB_PUSHER_OK);
    CHECK_INT(verdict(&r, NOW + 601, &why), SB_PUSHER_EAUTH);
    CHECK_MEM(sb_buf_data(&why), 18, "Timestamp expired:");
    CHECK_INT(verdict(&r, NOW - 601, &why), SB_PUSHER_EAUTH);
    /* the body changed: the signature still holds, its MD5 does not */
    r.body = S("{\"name\":\"bar\"}");
    CHECK_INT(verdict(&r, NOW, &why), SB_PUSHER_EAUTH);
    CHECK_MEM(sb_buf_data(&why), 16, "Invalid body_md5");
    /* a body with no body_md5 */
    example(&r, p, SIG);
    p[0] = p[4];
    r.nparams = 4;
    CHECK_INT(verdict(&r, NOW, &why), SB_PUSHER_EAUTH);
    /* one hex digit off; the answer quotes what to sign, not the secret */
    example(&r, p, "da454824c97ba181a32ccc17a72625ba02771f50b50e1e7430e47a1f3f457e6d");
    CHECK_INT(verdict(&r, NOW, &why), SB_PUSHER_EAUTH);
    CHECK_MEM(sb_buf_data(&why), 17, "Invalid signature");
    CHECK(memmem(sb_buf_data(&why), why.len, "POST\\n/apps/3/events\\nauth_key=", 31) != NULL);
    CHECK(memmem(sb_buf_data(&why), why.len, SECRET, strlen(SECRET)) == NULL);
    /* another key, version, no timestamp */
    example(&r, p, SIG);
    p[2].value = S("278d425bdf160c739804");
    CHECK_INT(verdict(&r, NOW, &why), SB_PUSHER_EAUTH);
    CHECK_BUF(&why, "Unknown auth_key");
    example(&r, p, SIG);
    p[1].value = S("2.0");
    CHECK_INT(verdict(&r, NOW, &why), SB_PUSHER_EAUTH);
    example(&r, p, SIG);
    p[3].value = S("13530881x9");
    CHECK_INT(verdict(&r, NOW, &why), SB_PUSHER_EAUTH);
    /* a repeated or an extra unsigned parameter */
    example(&r, p, SIG);
    p[5] = (sb_pusher_param){ S("Body_MD5"), S(MD5) };
    r.nparams = 6;
    CHECK_INT(verdict(&r, NOW, &why), SB_PUSHER_EBAD);
    p[5] = (sb_pusher_param){ S("info"), S("user_count") };
    CHECK_INT(verdict(&r, NOW, &why), SB_PUSHER_EAUTH);
    for (i = 5; i < SB_PUSHER_MAX_PARAMS + 1; i++)
        p[i] = (sb_pusher_param){ S("x"), S("") };
    r.nparams = SB_PUSHER_MAX_PARAMS + 1;
    CHECK_INT(verdict(&r, NOW, &why), SB_PUSHER_EBAD);
    sb_buf_free(&why);
}

/* A GET: no body, no body_md5; the signature of Pusher's channel query. */
static void test_get(check_ctx *t)
{
    sb_pusher_param p[6] = {
        { S("auth_key"), S(KEY) }, { S("auth_timestamp"), S("1353088179") },
        { S("auth_version"), S("1.0") }, { S("info"), S("user_count") },
        { S("filter_by_prefix"), S("presence-") },
        { S("auth_signature"), S("16819168891cb5dfd72b5c7a5d3d602605b26c6ba1930033b5e2eeeb65010291") },
    };
    sb_pusher_request r = { S("GET"), S("/apps/3/channels"), p, 6, NOSPAN };
    sb_buf why;

    sb_buf_init(&why, 0);
    CHECK_INT(verdict(&r, NOW, &why), SB_PUSHER_OK);
    CHECK(sb_pusher_param_get(&r, "info") == &p[3]);
    CHECK(sb_pusher_param_get(&r, "socket_id") == NULL);
    r.method = S("POST");
    CHECK_INT(verdict(&r, NOW, &why), SB_PUSHER_EAUTH);
    sb_buf_free(&why);
}

int main(void)
{
    check_ctx t = { "test_proto_pusher_api", 0, 0 };

    test_route(&t);
    test_string_to_sign(&t);
    test_verify(&t);
    test_get(&t);
    return check_report(&t);
}
