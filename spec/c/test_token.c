/* token.c: base64url, HMAC-SHA256 and HS256 JWT sign/verify. */
#include "check.h"
#include "codec/token.h"

static void test_b64url(check_ctx *t)
{
    sb_buf b;

    sb_buf_init(&b, 0);
    sb_b64url_encode(&b, "f", 1);
    CHECK_BUF(&b, "Zg");
    sb_buf_reset(&b);
    sb_b64url_encode(&b, "foob", 4);
    CHECK_BUF(&b, "Zm9vYg");
    sb_buf_reset(&b);
    sb_b64url_encode(&b, "\xfb\xff\xfe", 3);
    CHECK_BUF(&b, "-__-");
    sb_buf_reset(&b);
    CHECK_INT(sb_b64url_decode("Zm9vYmFy", 8, &b), 0);
    CHECK_BUF(&b, "foobar");
    sb_buf_reset(&b);
    CHECK_INT(sb_b64url_decode("-__-", 4, &b), 0);
    CHECK_BUF(&b, "\xfb\xff\xfe");
    sb_buf_reset(&b);
    CHECK_INT(sb_b64url_decode("", 0, &b), 0);
    CHECK_INT(b.len, 0);
    /* refused: padding, the standard alphabet's + and /, 4k+1 lengths,
     * non-zero left-over bits (a second spelling of "f") */
    CHECK_INT(sb_b64url_decode("Zg==", 4, &b), -1);
    CHECK_INT(sb_b64url_decode("+/+/", 4, &b), -1);
    CHECK_INT(sb_b64url_decode("Zm9vY", 5, &b), -1);
    CHECK_INT(sb_b64url_decode("Zh", 2, &b), -1);
    CHECK_INT(sb_b64url_decode("Zm\0v", 4, &b), -1);
    CHECK_INT(b.len, 0);
    sb_buf_free(&b);
}

/* RFC 4231 test case 2 */
static void test_hmac(check_ctx *t)
{
    unsigned char mac[SB_HMAC_SHA256_LEN];

    CHECK_INT(sb_hmac_sha256("Jefe", 4, "what do ya want for nothing?", 28,
                             mac), 0);
    CHECK_MEM(mac, sizeof mac,
        "\x5b\xdc\xc1\x46\xbf\x60\x75\x4e\x6a\x04\x24\x26\x08\x95\x75\xc7"
        "\x5a\x00\x3f\x08\x9d\x27\x39\x83\x9d\xec\x58\xb9\x64\xec\x38\x43");
}

/* The jwt.io HS256 example, made by another implementation. */
#define JWTIO "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkw" \
              "IiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ.SflKxwRJSM" \
              "eKKF2QT4fwpMeJf36POk6yJV_adQssw5c"
#define SECRET "your-256-bit-secret"
#define CLAIMS "{\"sub\":\"1234567890\",\"name\":\"John Doe\",\"iat\":1516239022}"

static int verify(const char *tok, const char *secret, sb_buf *claims,
                  const char **why)
{
    sb_buf_reset(claims);
    return sb_jwt_verify(tok, strlen(tok), secret, strlen(secret), claims,
                         why);
}

static void test_jwt(check_ctx *t)
{
    sb_buf b, c;
    const char *why = NULL;

    sb_buf_init(&b, 0);
    sb_buf_init(&c, 0);
    CHECK_INT(verify(JWTIO, SECRET, &c, &why), 0);
    CHECK_BUF(&c, CLAIMS);
    /* signing the same claims reproduces the same token byte for byte */
    CHECK_INT(sb_jwt_sign(&b, CLAIMS, sizeof CLAIMS - 1, SECRET,
                          sizeof SECRET - 1), 0);
    CHECK_BUF(&b, JWTIO);

    CHECK_INT(verify(JWTIO, "wrong", &c, &why), SB_TOKEN_ESIG);
    CHECK(strcmp(why, "bad signature") == 0);
    CHECK_INT(c.len, 0);
    /* payload changed ("John Doe" -> "John Doa"): signature no longer fits */
    CHECK_INT(verify("eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0"
                     "NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9hIiwiaWF0IjoxNTE2MjM5MD"
                     "IyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c",
                     SECRET, &c, &why), SB_TOKEN_ESIG);
    /* alg none ({"alg":"none","typ":"JWT"}) with an empty signature */
    CHECK_INT(verify("eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiJ4In0.",
                     SECRET, &c, &why), SB_TOKEN_EALG);
    /* alg HS512 ({"alg":"HS512"}) */
    CHECK_INT(verify("eyJhbGciOiJIUzUxMiJ9.eyJzdWIiOiJ4In0.SflKxwRJSMeKKF2Q"
                     "T4fwpMeJf36POk6yJV_adQssw5c", SECRET, &c, &why),
              SB_TOKEN_EALG);
    /* shapes */
    CHECK_INT(verify("", SECRET, &c, &why), SB_TOKEN_EMALFORMED);
    CHECK_INT(verify("a.b", SECRET, &c, &why), SB_TOKEN_EMALFORMED);
    CHECK_INT(verify("a.b.c.d", SECRET, &c, &why), SB_TOKEN_EMALFORMED);
    CHECK_INT(verify("!!.b.c", SECRET, &c, &why), SB_TOKEN_EMALFORMED);
    CHECK(strcmp(why, "malformed token") == 0);
    /* a padded signature is a second spelling: refused */
    sb_buf_reset(&b);
    sb_buf_adds(&b, JWTIO "=");
    CHECK_INT(verify((const char *)sb_buf_data(&b), SECRET, &c, &why),
              SB_TOKEN_EMALFORMED);
    sb_buf_free(&b);
    sb_buf_free(&c);
}

int main(void)
{
    check_ctx ctx = { "test_token", 0, 0 }, *t = &ctx;

    test_b64url(t);
    test_hmac(t);
    test_jwt(t);
    return check_report(t);
}
