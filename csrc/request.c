/* Query arguments of a request, as lws 4.1 hands them over: one URI_ARGS
 * fragment per `key=value`, already percent- and '+'-decoded. */
#include "server.h"

#include <string.h>

int sb_request_arg(struct lws *wsi, int idx, char *out, int outlen,
                   const char **value)
{
    int n = lws_hdr_copy_fragment(wsi, out, outlen, WSI_TOKEN_HTTP_URI_ARGS, idx);
    char *eq;

    if (n < 0)
        return -1;
    eq = strchr(out, '=');
    *value = eq ? eq + 1 : out + n;
    if (eq)
        *eq = '\0';
    return n;
}

const char *sb_request_get(struct lws *wsi, const char *key, char *buf, int len)
{
    const char *v, *found = NULL;
    char tmp[1024];
    int i;

    for (i = 0; sb_request_arg(wsi, i, tmp, sizeof tmp, &v) >= 0; i++) {
        if (strcmp(tmp, key) == 0 && (int)strlen(v) < len) {
            strcpy(buf, v);
            found = buf;
        }
    }
    return found;
}
