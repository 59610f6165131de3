/* Query arguments of a request, as lws 4.1 hands them over: one URI_ARGS
 * fragment per `key=value`, already percent- and '+'-decoded. */
#include "server.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

const char *sb_request_peer(struct lws *wsi, char *buf, size_t len)
{
    if (!len)
        return buf;
    buf[0] = '\0';
    lws_get_peer_simple(wsi, buf, len);
    buf[len - 1] = '\0';
    /* only the IPv4-mapped form ::ffff:a.b.c.d, not ::ffff:1 etc. */
    if (strncasecmp(buf, "::ffff:", 7) == 0 && strchr(buf + 7, '.') && !strchr(buf + 7, ':'))
        memmove(buf, buf + 7, strlen(buf + 7) + 1);
    return buf;
}

int sb_request_arg(struct lws *wsi, int idx, char *out, int outlen,
                   const char **value)
{
    int n = lws_hdr_fragment_length(wsi, WSI_TOKEN_HTTP_URI_ARGS, idx);
    char *eq;

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

const char *sb_request_get(struct lws *wsi, const char *key, char *buf, int len)
{
    const char *v, *found = NULL;
    char tmp[4096];   /* lws keeps at most 4096 bytes of headers and URI */
    int i;

    for (i = 0; sb_request_arg(wsi, i, tmp, sizeof tmp, &v) >= 0; i++) {
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
const char *sb_request_repeated(struct lws *wsi, char *dup, size_t duplen)
{
    char seen[4096], tmp[4096];
    size_t used = 0, n, off;
    const char *v;
    int i;

    for (i = 0; sb_request_arg(wsi, i, tmp, sizeof tmp, &v) >= 0; i++) {
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
