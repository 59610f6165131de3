/* What a request says -- its path, query arguments, headers and peer --
 * read from lws's header table or from the head the own transport parsed
 * (upgrade.h).  lws 4.1 hands query arguments over as one URI_ARGS
 * fragment per `key=value`, already percent- and '+'-decoded; the own
 * parser decodes them the same way. */
#include "server.h"
#include "upgrade.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

sb_reqsrc sb_reqsrc_lws(struct lws *wsi)
{
    sb_reqsrc r;

    r.wsi = wsi;
    r.head = NULL;
    r.peer = NULL;
    r.fd = wsi ? lws_get_socket_fd(wsi) : -1;
    return r;
}

const char *sb_request_peer(const sb_reqsrc *r, char *buf, size_t len)
{
    if (!len)
        return buf;
    buf[0] = '\0';
    if (r->head)
        snprintf(buf, len, "%s", r->peer ? r->peer : "");
    else
        lws_get_peer_simple(r->wsi, buf, len);
    buf[len - 1] = '\0';
    /* only the IPv4-mapped form ::ffff:a.b.c.d, not ::ffff:1 etc. */
    if (strncasecmp(buf, "::ffff:", 7) == 0 && strchr(buf + 7, '.') && !strchr(buf + 7, ':'))
        memmove(buf, buf + 7, strlen(buf + 7) + 1);
    return buf;
}

/* sb_request_arg for our own head: the same shape as lws's. */
static int sb_head_request_arg(const struct sb_head *h, int idx, char *out, int outlen,
                               const char **value)
{
    const char *k, *v;
    size_t kl, vl;

    if (!sb_head_arg(h, idx, &k, &kl, &v, &vl))
        return -1;
    if (kl + vl + 1 >= (size_t)outlen) {
        out[0] = '\0';
        *value = out;
        return 0;
    }
    memcpy(out, k, kl);
    out[kl] = '\0';
    memcpy(out + kl + 1, v, vl);
    out[kl + 1 + vl] = '\0';
    *value = out + kl + 1;
    return (int)(kl + vl + 1);
}

int sb_request_arg(const sb_reqsrc *r, int idx, char *out, int outlen,
                   const char **value)
{
    struct lws *wsi = r->wsi;
    int n;
    char *eq;

    if (r->head)
        return sb_head_request_arg(r->head, idx, out, outlen, value);
    n = lws_hdr_fragment_length(wsi, WSI_TOKEN_HTTP_URI_ARGS, idx);

    if (n >= outlen) {
        /* skipped, not the end of the walk (lws_hdr_copy_fragment answers
         * "too long" and "no such arg" alike with -1) */
        out[0] = '\0';
        *value = out;
        return 0;
    }
    n = lws_hdr_copy_fragment(wsi, out, outlen, WSI_TOKEN_HTTP_URI_ARGS, idx);
    if (n < 0)
        return -1;
    if (n == 1 && out[0] == '/') {
        /* lws 4.1 makes every URI start with '/', and so turns an empty
         * last component (a trailing '&', which phoenix.js's LongPoll
         * always sends, or a bare '?') into "/": empty, so skipped */
        out[0] = '\0';
        *value = out;
        return 0;
    }
    eq = strchr(out, '=');
    *value = eq ? eq + 1 : out + n;
    if (eq)
        *eq = '\0';
    return n;
}

const char *sb_request_get(const sb_reqsrc *r, const char *key, char *buf, int len)
{
    const char *v, *found = NULL;
    char tmp[4096];   /* lws keeps at most 4096 bytes of headers and URI */
    int i;

    for (i = 0; sb_request_arg(r, i, tmp, sizeof tmp, &v) >= 0; i++) {
        if (strcmp(tmp, key) != 0)
            continue;
        found = buf;
        if ((int)strlen(v) < len)
            strcpy(buf, v);
        else
            buf[0] = '\0';   /* too long: present, but never cut */
    }
    return found;
}

/* The first query key given twice, or NULL (copied to dup).  Keys ending
 * in "[]" are lists and may repeat.  Why refuse: "last value wins" lets
 * `token=bad&token=good` get past a proxy or log that read the first one,
 * and an app hook sees only one of them. */
const char *sb_request_repeated(const sb_reqsrc *r, char *dup, size_t duplen)
{
    char seen[4096], tmp[4096];
    size_t used = 0, n, off;
    const char *v;
    int i;

    for (i = 0; sb_request_arg(r, i, tmp, sizeof tmp, &v) >= 0; i++) {
        n = strlen(tmp);
        if (n == 0 || (n >= 2 && tmp[n - 2] == '[' && tmp[n - 1] == ']'))
            continue;
        for (off = 0; off < used; off += strlen(seen + off) + 1) {
            if (strcmp(seen + off, tmp) == 0) {
                snprintf(dup, duplen, "%s", tmp);
                return dup;
            }
        }
        if (used + n + 1 > sizeof seen)
            break;   /* lws keeps 4096 bytes of URI: cannot happen */
        memcpy(seen + used, tmp, n + 1);
        used += n + 1;
    }
    return NULL;
}

/* The header names of the lws tokens that are read from a request. */
static const char *sb_token_name(enum lws_token_indexes tok)
{
    switch (tok) {
    case WSI_TOKEN_HOST: return "host";
    case WSI_TOKEN_ORIGIN: return "origin";
    case WSI_TOKEN_HTTP_USER_AGENT: return "user-agent";
    case WSI_TOKEN_HTTP_COOKIE: return "cookie";
    case WSI_TOKEN_HTTP_AUTHORIZATION: return "authorization";
    case WSI_TOKEN_PROTOCOL: return "sec-websocket-protocol";
    case WSI_TOKEN_X_FORWARDED_FOR: return "x-forwarded-for";
    case WSI_TOKEN_HTTP_ACCEPT: return "accept";
    default: return NULL;
    }
}

int sb_request_header(const sb_reqsrc *r, enum lws_token_indexes tok, char *buf, int len)
{
    const char *v, *name;
    size_t n;

    if (len < 1)
        return -1;
    buf[0] = '\0';
    if (!r->head) {
        int got = lws_hdr_copy(r->wsi, buf, len, tok);
        if (got < 0)
            buf[0] = '\0';
        return got > 0 ? got : (got == 0 ? 0 : -1);
    }
    if (tok == WSI_TOKEN_GET_URI)
        v = sb_head_path(r->head);
    else
        v = (name = sb_token_name(tok)) ? sb_head_header(r->head, name) : NULL;
    if (!v || (n = strlen(v)) >= (size_t)len)
        return -1;
    memcpy(buf, v, n + 1);
    return (int)n;
}
