/* The client's permessage-deflate offers (RFC 7692 section 5, 7.1), as
 * Sec-WebSocket-Extensions lists them (RFC 6455 section 9.1):
 *
 *   extension = token *( ";" param ), param = token [ "=" (token | quoted-string) ]
 *
 * Offers come in the client's order of preference; the first one this
 * server can honour wins.  An offer with a syntax error, an unknown or
 * repeated parameter or a bad value is skipped, never the handshake:
 * the client then talks without compression.  No allocation, no I/O:
 * the header faces the internet. */
#include "deflate.h"

#include <string.h>

/* The longest parameter value we look at ("15" is the longest valid). */
#define SB_PMD_VALUE_MAX 8

typedef struct offer {
    int server_nct, client_nct, server_bits, client_bits;
    int bad;
} offer;

static int is_ows(char c)
{
    return c == ' ' || c == '\t';
}

/* RFC 9110 tchar. */
static int is_tchar(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static const char *skip_ows(const char *p)
{
    while (is_ows(*p))
        p++;
    return p;
}

/* A token at p: its length (0: none). */
static size_t token_len(const char *p)
{
    size_t n = 0;

    while (is_tchar(p[n]))
        n++;
    return n;
}

/* A token or quoted-string value at *pp, unescaped into v (at most
 * SB_PMD_VALUE_MAX bytes and a NUL); moves *pp past it.  -1 when there is
 * none, the quotes do not close or it is too long to be one we accept. */
static int read_value(const char **pp, char v[SB_PMD_VALUE_MAX + 1])
{
    const char *p = *pp;
    size_t n = 0;

    if (*p != '"') {
        size_t t = token_len(p);
        if (!t || t > SB_PMD_VALUE_MAX)
            return -1;
        memcpy(v, p, t);
        v[t] = '\0';
        *pp = p + t;
        return 0;
    }
    for (p++; *p && *p != '"'; p++) {
        if (*p == '\\' && p[1])
            p++;
        if (n == SB_PMD_VALUE_MAX)
            return -1;
        v[n++] = *p;
    }
    if (*p != '"')
        return -1;
    v[n] = '\0';
    *pp = p + 1;
    return 0;
}

/* A window size: "8" .. "15" exactly (RFC 7692 7.1.2.1: no leading
 * zero, no sign); -1 for anything else. */
static int window_bits(const char *v)
{
    if (v[0] >= '8' && v[0] <= '9' && !v[1])
        return v[0] - '0';
    if (v[0] == '1' && v[1] >= '0' && v[1] <= '5' && !v[2])
        return 10 + (v[1] - '0');
    return -1;
}

/* Applies one parameter (value NULL when it had none) to o. */
static void apply_param(offer *o, const char *name, size_t n, const char *value)
{
#define IS(s) (n == sizeof(s) - 1 && memcmp(name, s, n) == 0)
    if (IS("server_no_context_takeover") && !value && !o->server_nct) {
        o->server_nct = 1;
    } else if (IS("client_no_context_takeover") && !value && !o->client_nct) {
        o->client_nct = 1;
    } else if (IS("server_max_window_bits") && value && !o->server_bits) {
        o->server_bits = window_bits(value);
    } else if (IS("client_max_window_bits") && !o->client_bits) {
        /* without a value: the client could take a smaller window; we
         * need none (the inflater takes any window up to 15) */
        o->client_bits = value ? window_bits(value) : 15;
    } else {
        o->bad = 1;   /* unknown, repeated, or a value where none goes */
    }
#undef IS
    if (o->server_bits < 0 || o->client_bits < 0)
        o->bad = 1;
}

/* The parameters of one offer, from p (just after its name) to its end;
 * returns where the offer ends (at ',' or the NUL). */
static const char *read_params(const char *p, offer *o)
{
    char v[SB_PMD_VALUE_MAX + 1];

    while (!o->bad) {
        const char *name;
        size_t n;

        p = skip_ows(p);
        if (*p != ';')
            break;
        p = skip_ows(p + 1);
        name = p;
        if (!(n = token_len(p))) {
            o->bad = 1;
            break;
        }
        p = skip_ows(p + n);
        if (*p == '=') {
            p = skip_ows(p + 1);
            if (read_value(&p, v)) {
                o->bad = 1;
                break;
            }
            apply_param(o, name, n, v);
        } else {
            apply_param(o, name, n, NULL);
        }
    }
    if (*p && *p != ',')
        o->bad = 1;
    return p;
}

/* From a bad offer on to the comma that ends it (quotes respected). */
static const char *skip_offer(const char *p)
{
    int quoted = 0;

    for (; *p && (quoted || *p != ','); p++) {
        if (*p == '\\' && quoted && p[1])
            p++;
        else if (*p == '"')
            quoted = !quoted;
    }
    return p;
}

/* An offer we can honour: ours is window 15 both ways, no context
 * takeover; a client that wants the server's window smaller than 15 is
 * declined (one parameter set, one compressed copy per frame). */
static int acceptable(const offer *o)
{
    return !o->bad && (!o->server_bits || o->server_bits == 15);
}

int sb_pmd_offer_ok(const char *p)
{
    static const char name[] = "permessage-deflate";

    while (p && *p) {
        offer o;
        size_t n;

        memset(&o, 0, sizeof o);
        p = skip_ows(p);
        n = token_len(p);
        if (!n) {
            o.bad = *p != ',';   /* an empty element is allowed */
        } else {
            int ours = n == sizeof name - 1 && memcmp(p, name, n) == 0;
            p = read_params(p + n, &o);
            if (ours && acceptable(&o))
                return 1;
        }
        if (o.bad)
            p = skip_offer(p);
        if (*p == ',')
            p++;
    }
    return 0;
}
