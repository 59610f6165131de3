/* The request-head parser and the handshake helpers (net/upgrade.h).
 *
 * The first two input bytes pick the limits (small ones, so 414 and 431
 * are reached), the rest is the bytes read from a socket.  The result
 * must be 0, a length within the input and max_head, or one of the
 * refusals; a parsed head must answer consistently (path starts with '/',
 * every indexed header is found by its own name, arguments count up to
 * nargs); a prefix of a parsed head must still be "not complete", and
 * parsing just the head's bytes gives the same length. */
#include "fuzz.h"

#include "net/deflate.h"
#include "net/upgrade.h"

static int is_refusal(int r)
{
    return r == SB_HEAD_EBAD || r == SB_HEAD_EURL || r == SB_HEAD_EBIG ||
           r == SB_HEAD_EVERSION || r == SB_HEAD_ENOMEM;
}

static void check_fields(const sb_head *h)
{
    const char *k, *v, *path = sb_head_path(h);
    size_t kn, vn;
    int i;

    FUZZ_CHECK(h->mem != NULL);
    FUZZ_CHECK(path[0] == '/');
    FUZZ_CHECK(sb_head_method(h)[0] != '\0');
    FUZZ_CHECK(strlen(sb_head_target(h)) == sb_head_url_len(h));
    FUZZ_CHECK(sb_head_minor(h) >= 0 && sb_head_minor(h) <= 9);
    FUZZ_CHECK(h->nhdr >= 0 && h->nhdr <= SB_HEAD_MAX_HEADERS);
    for (i = 0; i < h->nhdr; i++)
        FUZZ_CHECK(sb_head_header(h, h->mem + h->hdr[2 * i]) ==
                   h->mem + h->hdr[2 * i + 1]);
    for (i = 0; sb_head_arg(h, i, &k, &kn, &v, &vn); i++)
        FUZZ_CHECK(strlen(k) == kn && strlen(v) == vn);
    FUZZ_CHECK(i == sb_head_nargs(h));
}

static void check_upgrade(const sb_head *h)
{
    static const char *const ours[] = { "chat", "superchat", "a", NULL };
    const char *why, *proto, *key;
    char accept[SB_WS_ACCEPT_LEN + 1], out[512];
    int up = sb_head_is_upgrade(h), st = sb_head_upgrade_refusal(h, &why);

    FUZZ_CHECK(up >= -1 && up <= 1);
    FUZZ_CHECK(up == -1 ? (st == 400 || st == 426) && why : st == 0 && !why);
    /* the extension offers face the internet too */
    FUZZ_CHECK(sb_pmd_offer_ok(sb_head_header(h, "sec-websocket-extensions")) <= 1);
    proto = sb_head_pick_subprotocol(h, ours);
    FUZZ_CHECK(!proto || proto == ours[0] || proto == ours[1] ||
               proto == ours[2]);
    if (up == -1)
        FUZZ_CHECK(sb_http_response(out, sizeof out, st, NULL, why,
                                    "Sec-WebSocket-Version: 13\r\n") > 0);
    if (up != 1)
        return;
    key = sb_head_header(h, "sec-websocket-key");
    FUZZ_CHECK(key && strlen(key) == 24);
    sb_ws_accept_key(key, accept);
    FUZZ_CHECK(strlen(accept) == SB_WS_ACCEPT_LEN);
    FUZZ_CHECK(sb_upgrade_response(out, sizeof out, accept, proto, NULL) > 0);
}

/* A prefix of a complete head is incomplete (or refused already, for a
 * request line that cannot be HTTP/1.x: never for one that parsed). */
static void check_prefixes(const char *s, size_t r, const sb_head_limits *lim)
{
    size_t cuts[3] = { r - 1, r / 2, r > 20 ? 20 : 0 };
    sb_head h;
    int i;

    for (i = 0; i < 3; i++) {
        FUZZ_CHECK(sb_head_parse(s, cuts[i], lim, &h) == 0);
        FUZZ_CHECK(h.mem == NULL);
    }
    FUZZ_CHECK(sb_head_parse(s, r, lim, &h) == (int)r);
    sb_head_free(&h);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    sb_head_limits lim;
    sb_head h;
    char *s;
    int r;

    if (size < 2)
        return 0;
    lim.max_head = 32 + (size_t)data[0] * 16;
    lim.max_url = 8 + (size_t)data[1] * 16;
    s = fuzz_copy(data + 2, size - 2);
    if (!s)
        return 0;
    r = sb_head_parse(s, size - 2, &lim, &h);
    FUZZ_CHECK(r == 0 || is_refusal(r) || (r > 0 && (size_t)r <= size - 2));
    if (r > 0) {
        FUZZ_CHECK((size_t)r <= lim.max_head);
        FUZZ_CHECK(sb_head_url_len(&h) <= lim.max_url);
        check_fields(&h);
        check_upgrade(&h);
        sb_head_free(&h);
        FUZZ_CHECK(h.mem == NULL);
        check_prefixes(s, (size_t)r, &lim);
    } else {
        FUZZ_CHECK(h.mem == NULL);
        if (r == 0)
            FUZZ_CHECK(size - 2 <= lim.max_head);
    }
    free(s);
    return 0;
}
