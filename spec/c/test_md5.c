/* md5.c against the test suite of RFC 1321 (appendix A.5). */
#include "check.h"
#include "codec/md5.h"

#define CHECK_STR(got, want) \
    check_mem_at(t, (got), strlen(got), (want), strlen(want), #got " == " #want, \
                 __FILE__, __LINE__)

static void vector(check_ctx *t, const char *msg, const char *want)
{
    char out[SB_MD5_HEX_LEN + 1];

    CHECK_INT(sb_md5_hex(msg, strlen(msg), out), 0);
    CHECK_STR(out, want);
}

static void test_rfc1321(check_ctx *t)
{
    vector(t, "", "d41d8cd98f00b204e9800998ecf8427e");
    vector(t, "a", "0cc175b9c0f1b6a831c399e269772661");
    vector(t, "abc", "900150983cd24fb0d6963f7d28e17f72");
    vector(t, "message digest", "f96b697d7cb7938d525a2f31aaf161d0");
    vector(t, "abcdefghijklmnopqrstuvwxyz", "c3fcd3d76192e4007dfb496cca67e13b");
    vector(t, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
           "d174ab98d277d9f5a5611c2c9f419d9f");
    vector(t, "1234567890123456789012345678901234567890"
              "1234567890123456789012345678901234567890",
           "57edf4a22be3c955ac49da2e2107b67a");
}

/* The empty message may come as a NULL pointer (an absent body). */
static void test_null_empty(check_ctx *t)
{
    char out[SB_MD5_HEX_LEN + 1];

    CHECK_INT(sb_md5_hex(NULL, 0, out), 0);
    CHECK_STR(out, "d41d8cd98f00b204e9800998ecf8427e");
}

int main(void)
{
    check_ctx t = { "test_md5", 0, 0 };

    test_rfc1321(&t);
    test_null_empty(&t);
    return check_report(&t);
}
