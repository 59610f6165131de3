/* The request-head parser of upgrade.h.  Two steps: a scan of the
 * caller's bytes that checks everything and records offsets on the
 * stack, then one allocation that copies the head and holds the decoded
 * path, query arguments and joined repeated headers.  The copy keeps the
 * offsets of the scan, so nothing is searched twice. */
#include "upgrade.h"

#include <stdlib.h>
#include <string.h>

typedef struct head_field {
    size_t name, nlen, value, vlen;   /* offsets into the head */
    int first;                        /* index of the first of its name */
} head_field;

/* What the scan found, by offset into the caller's buffer. */
typedef struct head_scan {
    size_t start;          /* the request line, after any empty lines */
    size_t len;            /* the whole head */
    size_t mlen, t, tlen;  /* method (at start), target */
    size_t path, plen;     /* raw path inside the target; plen 0: "/" */
    size_t query, qlen;    /* raw query without its '?' */
    int minor;
    int n;
    head_field f[SB_HEAD_MAX_HEADERS];
} head_scan;

/* RFC 9110 tchar: what a method or a header name is made of. */
static int is_tchar(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || (c && strchr("!#$%&'*+-.^_`|~", c));
}

/* A request target byte: visible ASCII, and bytes >= 0x80 that some
 * clients send unencoded. */
static int is_target_char(unsigned char c)
{
    return c > 0x20 && c != 0x7f;
}

/* A header value byte: visible, space, tab or obs-text; never NUL, CR,
 * LF or another control character. */
static int is_value_char(unsigned char c)
{
    return c == '\t' || (c >= 0x20 && c != 0x7f);
}

static int is_ows(char c)
{
    return c == ' ' || c == '\t';
}

/* Skips empty lines before the request line (RFC 9112 section 2.2 asks
 * a server to, for clients that end a body with an extra CRLF). */
static size_t skip_empty_lines(const char *b, size_t len)
{
    size_t i = 0;

    for (;;) {
        if (i < len && b[i] == '\n')
            i++;
        else if (i + 1 < len && b[i] == '\r' && b[i + 1] == '\n')
            i += 2;
        else
            return i;
    }
}

/* The length through the first empty line after from, or 0 if there is
 * none yet.  A line may end in a bare LF. */
static size_t find_end(const char *b, size_t from, size_t len)
{
    const char *lf;

    while (from < len && (lf = memchr(b + from, '\n', len - from))) {
        from = (size_t)(lf - b) + 1;
        if (from < len && b[from] == '\n')
            return from + 1;
        if (from + 1 < len && b[from] == '\r' && b[from + 1] == '\n')
            return from + 2;
    }
    return 0;
}

/* Checks "HTTP/1.x" or, when !complete, a prefix of one, so a client
 * speaking something else is refused without waiting for more. */
static int scan_version(const char *v, size_t n, int complete, int *minor)
{
    static const char pat[] = "HTTP/9.9";   /* 9: any digit */
    size_t i;

    if (n > 8)
        return SB_HEAD_EBAD;
    for (i = 0; i < n; i++)
        if (pat[i] == '9' ? v[i] < '0' || v[i] > '9' : v[i] != pat[i])
            return SB_HEAD_EBAD;
    if (n > 5 && v[5] != '1')
        return SB_HEAD_EVERSION;
    if (!complete)
        return 0;
    if (n < 8)
        return SB_HEAD_EBAD;
    *minor = v[7] - '0';
    return 0;
}

/* Checks the request line (b[sc->start..eol), without its line end), or
 * when !complete as much of it as has arrived.  0, or a refusal. */
static int scan_request_line(const char *b, size_t eol, int complete,
                             const sb_head_limits *lim, head_scan *sc)
{
    size_t i = sc->start;

    while (i < eol && is_tchar((unsigned char)b[i]))
        i++;
    if (i < eol && (i == sc->start || b[i] != ' '))
        return SB_HEAD_EBAD;
    sc->mlen = i - sc->start;
    sc->t = ++i;
    while (i < eol && is_target_char((unsigned char)b[i]))
        i++;
    sc->tlen = i - sc->t;
    if (sc->tlen > lim->max_url)
        return SB_HEAD_EURL;
    if (i >= eol)
        return complete ? SB_HEAD_EBAD : 0;
    if (sc->tlen == 0 || b[i] != ' ')
        return SB_HEAD_EBAD;
    return scan_version(b + i + 1, eol - i - 1, complete, &sc->minor);
}

/* The length of "http://" and the like at the start of an absolute-form
 * target, or 0. */
static size_t scheme_len(const char *t, size_t n)
{
    static const char *const schemes[] = { "http://", "https://", "ws://",
                                           "wss://", NULL };
    size_t i, k, sl;

    for (i = 0; schemes[i]; i++) {
        sl = strlen(schemes[i]);
        for (k = 0; k < sl && k < n; k++)
            if ((t[k] | 0x20) != schemes[i][k])
                break;
        if (k == sl)
            return sl;
    }
    return 0;
}

/* Splits the target into path and query.  Origin form ("/p?q"), or the
 * absolute form a proxy-minded client may send ("http://host/p?q");
 * anything else ("*", "host:port") is refused.  A fragment is dropped. */
static int scan_target(const char *b, head_scan *sc)
{
    const char *t = b + sc->t;
    size_t n = sc->tlen, i = 0, skip = 0, p;

    if (t[0] != '/') {
        skip = scheme_len(t, n);
        if (!skip)
            return SB_HEAD_EBAD;
        for (i = skip; i < n && !strchr("/?#", t[i]); i++)
            ;
        if (i == skip)
            return SB_HEAD_EBAD;   /* no host */
    }
    for (p = i; i < n && t[i] != '?' && t[i] != '#'; i++)
        ;
    sc->path = sc->t + p;
    sc->plen = i - p;
    sc->query = sc->t + i + (i < n && t[i] == '?');
    if (i < n && t[i] == '?')
        for (i++; i < n && t[i] != '#'; i++)
            ;
    sc->qlen = sc->t + i - sc->query;
    return 0;
}

static unsigned char lower(unsigned char c)
{
    return c >= 'A' && c <= 'Z' ? (unsigned char)(c + 32) : c;
}

/* Case-insensitive (ASCII) equality of two byte ranges. */
static int same_name(const char *a, const char *b, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++)
        if (lower((unsigned char)a[i]) != lower((unsigned char)b[i]))
            return 0;
    return 1;
}

/* Records one header line b[pos..eol).  Continuation lines (obs-fold:
 * a line starting with a space or tab, so not with a name) are refused
 * rather than joined: RFC 9112 section 5.2 allows either, and
 * joining is where proxies and servers come to disagree. */
static int scan_header(const char *b, size_t pos, size_t eol, head_scan *sc)
{
    size_t i = pos, v, e, c;
    head_field *f;
    int k;

    while (i < eol && is_tchar((unsigned char)b[i]))
        i++;
    if (i == pos || i >= eol || b[i] != ':')
        return SB_HEAD_EBAD;
    if (sc->n == SB_HEAD_MAX_HEADERS)
        return SB_HEAD_EBIG;
    for (v = i + 1; v < eol && is_ows(b[v]); v++)
        ;
    for (e = eol; e > v && is_ows(b[e - 1]); e--)
        ;
    for (c = v; c < e; c++)
        if (!is_value_char((unsigned char)b[c]))
            return SB_HEAD_EBAD;
    f = &sc->f[sc->n];
    f->name = pos;
    f->nlen = i - pos;
    f->value = v;
    f->vlen = e - v;
    f->first = sc->n;
    for (k = 0; k < sc->n; k++)
        if (sc->f[k].nlen == f->nlen && sc->f[k].first == k &&
            same_name(b + sc->f[k].name, b + pos, f->nlen)) {
            f->first = k;
            break;
        }
    sc->n++;
    return 0;
}

/* Walks the header lines after the request line up to the empty one. */
static int scan_headers(const char *b, size_t pos, head_scan *sc)
{
    const char *lf;
    size_t eol;
    int r;

    for (;;) {
        lf = memchr(b + pos, '\n', sc->len - pos);
        eol = (size_t)(lf - b);
        if (eol > pos && b[eol - 1] == '\r')
            eol--;
        if (eol == pos)
            return 0;
        if ((r = scan_header(b, pos, eol, sc)) < 0)
            return r;
        pos = (size_t)(lf - b) + 1;
    }
}

/* The end of the first line at start (without CR LF) and whether it is
 * complete. */
static size_t first_line_end(const char *b, size_t start, size_t len,
                             int *complete)
{
    const char *lf = memchr(b + start, '\n', len - start);
    size_t eol = lf ? (size_t)(lf - b) : len;

    *complete = lf != NULL;
    if (eol > start && b[eol - 1] == '\r')
        eol--;
    return eol;
}

/* Everything but the copy: 0 when the head is not complete yet, its
 * length when it is and checks out, or a refusal. */
static int scan(const char *b, size_t len, const sb_head_limits *lim,
                head_scan *sc)
{
    size_t eol;
    int r, complete;

    sc->start = skip_empty_lines(b, len);
    sc->len = find_end(b, sc->start, len);
    eol = first_line_end(b, sc->start, len, &complete);
    r = scan_request_line(b, eol, complete, lim, sc);
    if (r < 0)
        return r;
    if (sc->len > lim->max_head || (!sc->len && len > lim->max_head))
        return SB_HEAD_EBIG;
    if (!sc->len)
        return 0;
    if (sc->len > INT32_MAX / 4)
        return SB_HEAD_EBIG;   /* offsets are 32-bit; the int result too */
    if ((r = scan_target(b, sc)) < 0)
        return r;
    r = scan_headers(b, eol + (b[eol] == '\r' ? 2 : 1), sc);
    return r < 0 ? r : (int)sc->len;
}

/* An upper bound of the bytes the joined values of repeated headers
 * need: each repeat may start its group's copy. */
static size_t join_size(const head_scan *sc)
{
    size_t n = 0;
    int i;

    for (i = 0; i < sc->n; i++)
        if (sc->f[i].first != i)
            n += sc->f[sc->f[i].first].vlen + 1 + 2 + sc->f[i].vlen;
    return n;
}

static int distinct_names(const head_scan *sc)
{
    int i, n = 0;

    for (i = 0; i < sc->n; i++)
        n += sc->f[i].first == i;
    return n;
}

/* Query components that are not empty. */
static int count_args(const char *q, size_t n)
{
    size_t i;
    int k = 0;

    for (i = 0; i < n; i++)
        if (q[i] != '&' && (i == 0 || q[i - 1] == '&'))
            k++;
    return k;
}

static int hex(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = (char)(c | 0x20);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Percent-decodes s[0..n) (with '+' as a space when plus) to out and a
 * NUL; returns the bytes written before the NUL, or -1 for a malformed
 * escape or a decoded NUL (which would cut the C string short: a key
 * "token%00x" must not read as "token"). */
static long decode(const char *s, size_t n, int plus, char *out)
{
    size_t i = 0, o = 0;
    int hi, lo;
    char c;

    while (i < n) {
        c = s[i++];
        if (c == '%') {
            if (n - i < 2 || (hi = hex(s[i])) < 0 || (lo = hex(s[i + 1])) < 0)
                return -1;
            c = (char)(hi * 16 + lo);
            i += 2;
        } else if (plus && c == '+') {
            c = ' ';
        }
        if (c == '\0')
            return -1;
        out[o++] = c;
    }
    out[o] = '\0';
    return (long)o;
}

/* Decodes one component q[0..n) (n > 0) as key NUL value NUL at *at,
 * recording both offsets in arg[0..1].  0, or -1 for a bad escape. */
static int fill_arg(const char *q, size_t n, char *mem, size_t *at,
                    uint32_t *arg)
{
    const char *eq = memchr(q, '=', n);
    size_t klen = eq ? (size_t)(eq - q) : n;
    long d;

    arg[0] = (uint32_t)*at;
    if ((d = decode(q, klen, 1, mem + *at)) < 0)
        return -1;
    *at += (size_t)d + 1;
    arg[1] = (uint32_t)*at;
    if ((d = decode(eq ? eq + 1 : q, eq ? n - klen - 1 : 0, 1, mem + *at)) < 0)
        return -1;
    *at += (size_t)d + 1;
    return 0;
}

/* Decodes the query's non-empty components, in order. */
static int fill_args(const char *q, size_t n, char *mem, size_t *at,
                     uint32_t *arg)
{
    const char *amp;
    size_t i = 0, len;
    int k = 0;

    while (i < n) {
        amp = memchr(q + i, '&', n - i);
        len = amp ? (size_t)(amp - q) - i : n - i;
        if (len && fill_arg(q + i, len, mem, at, arg + 2 * k++) < 0)
            return -1;
        i += len + 1;
    }
    return 0;
}

/* The separator of a repeated header's values: Cookie is the one request
 * header whose list is not comma-separated (RFC 6265 section 5.4). */
static const char *join_sep(const char *name, size_t n)
{
    return n == 6 && same_name(name, "cookie", 6) ? "; " : ", ";
}

/* Joins the values of header i's name at *at; returns their offset, or
 * the offset of i's own value (in the copy at raw) when it is alone. */
static size_t join_values(const head_scan *sc, int i, char *mem,
                          size_t raw, size_t *at)
{
    const head_field *f = sc->f;
    size_t start = *at;
    int j, joined = 0;

    for (j = i + 1; j < sc->n; j++) {
        if (f[j].first != i)
            continue;
        if (!joined++) {
            memcpy(mem + *at, mem + raw + f[i].value, f[i].vlen);
            *at += f[i].vlen;
        }
        memcpy(mem + *at, join_sep(mem + raw + f[i].name, f[i].nlen), 2);
        memcpy(mem + *at + 2, mem + raw + f[j].value, f[j].vlen);
        *at += 2 + f[j].vlen;
    }
    if (!joined)
        return raw + f[i].value;
    mem[(*at)++] = '\0';
    return start;
}

/* Ends the names and values in the copy and indexes one entry per
 * distinct name. */
static void fill_headers(const head_scan *sc, char *mem, size_t raw,
                         size_t *at, uint32_t *hdr)
{
    const head_field *f = sc->f;
    int i, n = 0;

    for (i = 0; i < sc->n; i++) {
        mem[raw + f[i].name + f[i].nlen] = '\0';
        mem[raw + f[i].value + f[i].vlen] = '\0';
    }
    for (i = 0; i < sc->n; i++) {
        if (f[i].first != i)
            continue;
        hdr[2 * n] = (uint32_t)(raw + f[i].name);
        hdr[2 * n + 1] = (uint32_t)join_values(sc, i, mem, raw, at);
        n++;
    }
}

/* Makes the one block of a scanned head: [header index][argument index]
 * [copy of the head][decoded path, arguments, joined values].  0, or a
 * refusal. */
static int build(const char *b, const head_scan *sc, sb_head *h)
{
    int nhdr = distinct_names(sc), nargs = count_args(b + sc->query, sc->qlen);
    size_t raw = 2 * sizeof(uint32_t) * (size_t)(nhdr + nargs), dec, at;
    char *mem;

    dec = raw + sc->len + 1;
    mem = malloc(dec + sc->plen + 2 + sc->qlen + 2 * (size_t)nargs + 1 +
                 join_size(sc));
    if (!mem)
        return SB_HEAD_ENOMEM;
    memcpy(mem + raw, b, sc->len);
    mem[raw + sc->len] = '\0';
    mem[raw + sc->start + sc->mlen] = '\0';
    mem[raw + sc->t + sc->tlen] = '\0';
    at = dec;
    if (sc->plen == 0)
        memcpy(mem + at, "/", 2);
    else if (decode(b + sc->path, sc->plen, 0, mem + at) < 0)
        goto bad;
    at += strlen(mem + at) + 1;
    if (fill_args(b + sc->query, sc->qlen, mem, &at,
                  (uint32_t *)(void *)mem + 2 * nhdr) < 0)
        goto bad;
    fill_headers(sc, mem, raw, &at, (uint32_t *)(void *)mem);
    h->mem = mem;
    h->hdr = (const uint32_t *)(void *)mem;
    h->arg = h->hdr + 2 * nhdr;
    h->method = (uint32_t)(raw + sc->start);
    h->target = (uint32_t)(raw + sc->t);
    h->path = (uint32_t)dec;
    h->url_len = (uint32_t)sc->tlen;
    h->nhdr = nhdr;
    h->nargs = nargs;
    h->minor = sc->minor;
    return 0;
bad:
    free(mem);
    return SB_HEAD_EBAD;
}

int sb_head_parse(const char *buf, size_t len, const sb_head_limits *lim,
                  sb_head *h)
{
    head_scan sc;
    int r, e;

    memset(h, 0, sizeof *h);
    sc.n = 0;
    sc.minor = 0;
    r = scan(buf, len, lim, &sc);
    if (r <= 0)
        return r;
    e = build(buf, &sc, h);
    return e < 0 ? e : r;
}

void sb_head_free(sb_head *h)
{
    free(h->mem);
    memset(h, 0, sizeof *h);
}

const char *sb_head_method(const sb_head *h)
{
    return h->mem ? h->mem + h->method : "";
}

const char *sb_head_path(const sb_head *h)
{
    return h->mem ? h->mem + h->path : "/";
}

const char *sb_head_target(const sb_head *h)
{
    return h->mem ? h->mem + h->target : "";
}

size_t sb_head_url_len(const sb_head *h)
{
    return h->url_len;
}

int sb_head_minor(const sb_head *h)
{
    return h->minor;
}

const char *sb_head_header(const sb_head *h, const char *name)
{
    size_t n = strlen(name);
    const char *p;
    int i;

    for (i = 0; i < h->nhdr; i++) {
        p = h->mem + h->hdr[2 * i];
        if (same_name(p, name, n) && p[n] == '\0')
            return h->mem + h->hdr[2 * i + 1];
    }
    return NULL;
}

int sb_head_arg(const sb_head *h, int idx, const char **key, size_t *klen,
                const char **value, size_t *vlen)
{
    const char *k, *v;

    if (idx < 0 || idx >= h->nargs)
        return 0;
    k = h->mem + h->arg[2 * idx];
    v = h->mem + h->arg[2 * idx + 1];
    if (key)
        *key = k;
    if (klen)
        *klen = strlen(k);
    if (value)
        *value = v;
    if (vlen)
        *vlen = strlen(v);
    return 1;
}

int sb_head_nargs(const sb_head *h)
{
    return h->nargs;
}
