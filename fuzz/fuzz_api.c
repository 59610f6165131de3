/* The server API's request rules (proto_api.c) with any bytes: a path
 * under any prefix, and any Authorization and X-API-Key values.
 *
 * Input layout: byte 0 says which headers are present (bits 0-1); bytes
 * 1-2 are the lengths of the prefix and the path (modulo what is left);
 * the rest is split in two at its middle, Authorization then X-API-Key.
 * The verdicts are recomputed from the rules in proto_api.h, and every
 * span handed back must point inside the input it came from. */
#include "fuzz.h"

#include "protocols/api/proto_api.h"

static int inside(sb_span in, sb_span part)
{
    return part.p >= in.p && part.p + part.n <= in.p + in.n;
}

static int key_ok(sb_span k)
{
    size_t i;

    if (k.n == 0 || k.n > SB_API_KEY_MAX)
        return 0;
    for (i = 0; i < k.n; i++)
        if ((unsigned char)k.p[i] <= 0x20 || (unsigned char)k.p[i] >= 0x7f)
            return 0;
    return 1;
}

static void check_route(sb_span path, sb_span prefix)
{
    sb_span m = { NULL, 0 };
    int r = sb_api_route(path, prefix, &m);
    size_t i;

    if (path.n < prefix.n || memcmp(path.p, prefix.p, prefix.n) != 0) {
        FUZZ_CHECK(r == SB_API_NOT_OURS);
        return;
    }
    if (r != SB_API_METHOD)
        return;
    FUZZ_CHECK(inside(path, m) && m.p == path.p + prefix.n + 1);
    FUZZ_CHECK(m.n >= 1 && m.n <= SB_API_METHOD_MAX);
    for (i = 0; i < m.n; i++)
        FUZZ_CHECK((m.p[i] >= 'a' && m.p[i] <= 'z') || (m.p[i] >= '0' && m.p[i] <= '9') ||
                   m.p[i] == '_');
}

static void check_key(sb_span auth, sb_span xkey)
{
    sb_span k = { NULL, 0 };
    int r = sb_api_key(auth, xkey, &k);

    if (xkey.p) {
        FUZZ_CHECK(r == (key_ok(xkey) ? SB_API_KEY_OK : SB_API_KEY_BAD));
        return;
    }
    if (r == SB_API_KEY_OK) {
        FUZZ_CHECK(auth.p && inside(auth, k) && key_ok(k));
        return;
    }
    FUZZ_CHECK(r == SB_API_KEY_MISSING || r == SB_API_KEY_BAD);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = fuzz_copy(data, size);
    sb_span prefix, path, auth, xkey;
    size_t rest, half;
    const char *p;

    if (!s)
        return 0;
    if (size < 3) {
        free(s);
        return 0;
    }
    p = s + 3;
    rest = size - 3;
    prefix = sb_span_of(p, data[1] % (rest + 1));
    p += prefix.n;
    rest -= prefix.n;
    path = sb_span_of(p, data[2] % (rest + 1));
    p += path.n;
    rest -= path.n;
    check_route(path, prefix);
    half = rest / 2;
    auth = (data[0] & 1) ? sb_span_of(p, half) : sb_span_of(NULL, 0);
    xkey = (data[0] & 2) ? sb_span_of(p + half, rest - half) : sb_span_of(NULL, 0);
    check_key(auth, xkey);
    free(s);
    return 0;
}
