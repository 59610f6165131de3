/* The Phoenix authToken: phoenix.js (authToken option) sends it as a
 * WebSocket subprotocol `base64url.bearer.phx.<base64url(token)>` next to
 * `phoenix`, because browsers cannot set headers on a WebSocket. */
#include "ws_phoenix.h"

#include <stdlib.h>
#include <string.h>

/* Longest authToken kept (decoded bytes). */
#define SB_PHX_TOKEN_MAX 4096

/* Standard or URL base64, padding optional; -1 on a bad character. */
static int sb_b64_decode(const char *s, size_t n, char *out, size_t *outlen)
{
    unsigned acc = 0;
    int bits = 0;
    size_t i, o = 0;

    for (i = 0; i < n; i++) {
        int v;
        char ch = s[i];
        if (ch >= 'A' && ch <= 'Z') v = ch - 'A';
        else if (ch >= 'a' && ch <= 'z') v = ch - 'a' + 26;
        else if (ch >= '0' && ch <= '9') v = ch - '0' + 52;
        else if (ch == '+' || ch == '-') v = 62;
        else if (ch == '/' || ch == '_') v = 63;
        else if (ch == '=') break;
        else return -1;
        acc = (acc << 6) | (unsigned)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (char)((acc >> bits) & 0xff);
        }
    }
    *outlen = o;
    return 0;
}

int sb_phx_read_token(const sb_reqsrc *r, char **token, size_t *len)
{
    static const char prefix[] = "base64url.bearer.phx.";
    char hdr[SB_PHX_TOKEN_MAX * 2];
    char *tok, *save = NULL;

    *token = NULL;
    *len = 0;
    if (sb_request_header(r, WSI_TOKEN_PROTOCOL, hdr, sizeof hdr) <= 0)
        return 0;
    for (tok = strtok_r(hdr, ", ", &save); tok; tok = strtok_r(NULL, ", ", &save)) {
        size_t n, tlen = strlen(tok);
        if (tlen < sizeof prefix - 1 || strncmp(tok, prefix, sizeof prefix - 1))
            continue;
        *token = malloc(tlen);
        if (!*token)
            return -1;
        if (sb_b64_decode(tok + sizeof prefix - 1, tlen - (sizeof prefix - 1), *token, &n))
            return -1;
        (*token)[n] = '\0';
        *len = n;
        return 0;
    }
    return 0;
}
