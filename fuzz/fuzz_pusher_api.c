/* The Pusher HTTP API's request rules (proto_pusher_api.c) with any
 * bytes: a path, up to SB_PUSHER_MAX_PARAMS + 2 parameters and a body.
 *
 * Input layout: byte 0 is the number of parameters, byte 1 the path's
 * length (modulo what is left); the rest is split at '\n' bytes into
 * key, value, key, value, ... and the last piece is the body.  Checked:
 * spans of a route point inside the path, the string to sign starts with
 * the method and path, and a verdict is one of the three with a reason
 * for every refusal. */
#include "fuzz.h"

#include "protocols/pusher_api/proto_pusher_api.h"

static void check_route(sb_span path)
{
    sb_span app = { NULL, 0 }, rest = { NULL, 0 };

    if (sb_pusher_api_route(path, &app, &rest) != SB_PUSHER_APP)
        return;
    FUZZ_CHECK(app.n > 0 && app.p == path.p + 6 && !memchr(app.p, '/', app.n));
    FUZZ_CHECK(rest.p == app.p + app.n && rest.p + rest.n == path.p + path.n);
}

/* The next piece up to '\n' (or the end). */
static sb_span piece(const char **p, const char *end)
{
    const char *nl = memchr(*p, '\n', (size_t)(end - *p));
    sb_span s = sb_span_of(*p, (size_t)((nl ? nl : end) - *p));

    *p = nl ? nl + 1 : end;
    return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    sb_pusher_param params[SB_PUSHER_MAX_PARAMS + 2];
    sb_pusher_request r;
    char *s = fuzz_copy(data, size);
    const char *p, *end;
    size_t n, i;
    sb_buf b;
    int v;

    if (!s)
        return 0;
    if (size < 2) {
        free(s);
        return 0;
    }
    p = s + 2;
    end = s + size;
    r.method = sb_span_of("POST", 4);
    r.path = sb_span_of(p, data[1] % (size - 1));
    check_route(r.path);
    p += r.path.n;
    n = data[0] % (SB_PUSHER_MAX_PARAMS + 3);
    for (i = 0; i < n; i++) {
        params[i].key = piece(&p, end);
        params[i].value = piece(&p, end);
    }
    r.params = params;
    r.nparams = n;
    r.body = sb_span_of(p, (size_t)(end - p));
    sb_buf_init(&b, 0);
    if (sb_pusher_string_to_sign(&b, &r) == 0)
        FUZZ_CHECK(b.len >= 6 + r.path.n && memcmp(sb_buf_data(&b), "POST\n", 5) == 0);
    else
        FUZZ_CHECK(b.len == 0);
    sb_buf_reset(&b);
    v = sb_pusher_verify(&r, sb_span_of("key", 3), sb_span_of("secret", 6), 1e9, &b);
    FUZZ_CHECK(v == SB_PUSHER_OK || v == SB_PUSHER_EBAD || v == SB_PUSHER_EAUTH);
    FUZZ_CHECK((v == SB_PUSHER_OK) == (b.len == 0));
    sb_buf_free(&b);
    free(s);
    return 0;
}
