/* Signed tokens: sb_b64url_decode and sb_jwt_verify on hostile input.
 *
 * base64url is strict, so accepted text must encode back to exactly the
 * same characters.  Verifying random bytes must never succeed; and input
 * that is a JSON object, signed as claims, must verify back to the same
 * claims (and fail with any other secret). */
#include "fuzz.h"

#include "codec/json.h"
#include "codec/token.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = fuzz_copy(data, size);
    sb_buf a, b, c;
    const char *why = NULL;
    int r;

    if (!s)
        return 0;
    sb_buf_init(&a, 0);
    sb_buf_init(&b, 0);
    sb_buf_init(&c, 0);
    if (sb_b64url_decode(s, size, &a) == 0) {
        sb_b64url_encode(&b, sb_buf_data(&a), a.len);
        FUZZ_CHECK(fuzz_same(sb_buf_data(&b), b.len, s, size));
    } else {
        FUZZ_CHECK(a.len == 0);
    }
    /* a forged token cannot verify under a secret the input never saw */
    r = sb_jwt_verify(s, size, "fuzz-secret", 11, &c, &why);
    FUZZ_CHECK(r != SB_TOKEN_OK);
    FUZZ_CHECK(why != NULL && c.len == 0);
    if (sb_json_check(s, size, 64, NULL) == 0 &&
        sb_json_type_of(s, size) == SB_JSON_OBJECT) {
        sb_buf_reset(&b);
        FUZZ_CHECK(sb_jwt_sign(&b, s, size, "k", 1) == 0);
        sb_buf_addc(&b, '\0');
        FUZZ_CHECK(sb_jwt_verify((const char *)sb_buf_data(&b), b.len - 1,
                                 "k", 1, &c, &why) == 0);
        FUZZ_CHECK(fuzz_same(sb_buf_data(&c), c.len, s, size));
        sb_buf_reset(&c);
        FUZZ_CHECK(sb_jwt_verify((const char *)sb_buf_data(&b), b.len - 1,
                                 "K", 1, &c, &why) == SB_TOKEN_ESIG);
    }
    sb_buf_free(&a);
    sb_buf_free(&b);
    sb_buf_free(&c);
    free(s);
    return 0;
}
