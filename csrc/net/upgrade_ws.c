/* The WebSocket side of upgrade.h: is a parsed head a valid upgrade
 * (RFC 6455 section 4.2.1), the accept key, the subprotocol, and the
 * bytes of the 101 and of a refusal. */
#include "upgrade.h"

#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>

static unsigned char lower(unsigned char c)
{
    return c >= 'A' && c <= 'Z' ? (unsigned char)(c + 32) : c;
}

static int is_ows(char c)
{
    return c == ' ' || c == '\t';
}

/* Steps to the next comma-separated element of a header list: sets *el
 * and *n to it without surrounding whitespace and returns where the walk
 * goes on, or NULL at the end.  Empty elements come out with *n == 0. */
static const char *next_element(const char *p, const char **el, size_t *n)
{
    const char *comma, *e;

    if (!p || !*p)
        return NULL;
    comma = strchr(p, ',');
    e = comma ? comma : p + strlen(p);
    while (p < e && is_ows(*p))
        p++;
    *el = p;
    while (e > p && is_ows(e[-1]))
        e--;
    *n = (size_t)(e - p);
    return comma ? comma + 1 : p + strlen(p);
}

/* 1 if the list holds tok, compared case-insensitively (tokens like
 * "websocket" and "Upgrade" are, RFC 9110 section 7.8). */
static int has_token(const char *list, const char *tok)
{
    size_t tn = strlen(tok), n, i;
    const char *el;

    while ((list = next_element(list, &el, &n))) {
        for (i = 0; i < n && i < tn && lower((unsigned char)el[i]) ==
                                           lower((unsigned char)tok[i]);
             i++)
            ;
        if (n == tn && i == tn)
            return 1;
    }
    return 0;
}

static int is_b64_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
           (c >= '0' && c <= '9') || c == '+' || c == '/';
}

/* Base64 of 16 bytes: 22 characters and "==".  The unused low bits of
 * the last character are not checked, as in Node's ws. */
static int key_ok(const char *key)
{
    int i;

    if (!key || strlen(key) != 24 || key[22] != '=' || key[23] != '=')
        return 0;
    for (i = 0; i < 22; i++)
        if (!is_b64_char(key[i]))
            return 0;
    return 1;
}

/* 1 valid, 0 not an upgrade, or the status of a refusal (with *why). */
static int check_upgrade(const sb_head *h, const char **why)
{
    const char *up = sb_head_header(h, "upgrade"),
               *ver = sb_head_header(h, "sec-websocket-version"),
               *key = sb_head_header(h, "sec-websocket-key");

    *why = NULL;
    if (!h->mem || (!has_token(up, "websocket") && !ver && !key))
        return 0;
    if (strcmp(sb_head_method(h), "GET") != 0)
        *why = "a WebSocket upgrade must be a GET";
    else if (h->minor != 1)
        *why = "a WebSocket upgrade needs HTTP/1.1";
    else if (!has_token(up, "websocket"))
        *why = "Upgrade: websocket missing";
    else if (!has_token(sb_head_header(h, "connection"), "upgrade"))
        *why = "Connection: Upgrade missing";
    else if (!ver || strcmp(ver, "13") != 0)
        return *why = "Sec-WebSocket-Version must be 13", 426;
    else if (!key_ok(key))
        *why = "Sec-WebSocket-Key must be base64 of 16 bytes";
    return *why ? 400 : 1;
}

int sb_head_is_upgrade(const sb_head *h)
{
    const char *why;
    int r = check_upgrade(h, &why);

    return r <= 1 ? r : -1;
}

int sb_head_upgrade_refusal(const sb_head *h, const char **why)
{
    const char *w;
    int r = check_upgrade(h, &w);

    if (why)
        *why = w;
    return r <= 1 ? 0 : r;
}

/* Standard base64 with padding; out gets 4 * ceil(n / 3) characters and
 * a NUL. */
static void b64(const unsigned char *p, size_t n, char *out)
{
    static const char abc[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t i, o = 0;
    unsigned long v;

    for (i = 0; i < n; i += 3) {
        v = (unsigned long)p[i] << 16;
        if (i + 1 < n)
            v |= (unsigned long)p[i + 1] << 8;
        if (i + 2 < n)
            v |= p[i + 2];
        out[o++] = abc[(v >> 18) & 63];
        out[o++] = abc[(v >> 12) & 63];
        out[o++] = i + 1 < n ? abc[(v >> 6) & 63] : '=';
        out[o++] = i + 2 < n ? abc[v & 63] : '=';
    }
    out[o] = '\0';
}

void sb_ws_accept_key(const char *key, char out[SB_WS_ACCEPT_LEN + 1])
{
    static const char guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
    unsigned char d[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    int ok;

    out[0] = '\0';
    if (!ctx)
        return;
    ok = EVP_DigestInit_ex(ctx, EVP_sha1(), NULL) &&
         EVP_DigestUpdate(ctx, key ? key : "", key ? strlen(key) : 0) &&
         EVP_DigestUpdate(ctx, guid, sizeof guid - 1) &&
         EVP_DigestFinal_ex(ctx, d, &len) && len == 20;
    EVP_MD_CTX_free(ctx);
    if (ok)
        b64(d, 20, out);
}

const char *sb_head_pick_subprotocol(const sb_head *h,
                                     const char *const *ours)
{
    const char *list = sb_head_header(h, "sec-websocket-protocol"), *el;
    size_t n;
    int i;

    if (!ours)
        return NULL;
    while ((list = next_element(list, &el, &n)))
        for (i = 0; n && ours[i]; i++)
            if (strlen(ours[i]) == n && memcmp(ours[i], el, n) == 0)
                return ours[i];
    return NULL;
}

/* extra is NULL, empty, or header lines that end in CRLF. */
static int extra_ok(const char *extra)
{
    size_t n = extra ? strlen(extra) : 0;

    return n == 0 || (n >= 2 && extra[n - 2] == '\r' && extra[n - 1] == '\n');
}

/* snprintf's answer as ours: the length, or -1 when it did not fit. */
static int fitted(int n, size_t cap)
{
    return n < 0 || (size_t)n >= cap ? -1 : n;
}

int sb_upgrade_response(char *out, size_t cap, const char *accept,
                        const char *proto, const char *extra)
{
    if (!accept || !extra_ok(extra))
        return -1;
    return fitted(snprintf(out, cap,
                           "HTTP/1.1 101 Switching Protocols\r\n"
                           "Upgrade: websocket\r\n"
                           "Connection: Upgrade\r\n"
                           "Sec-WebSocket-Accept: %s\r\n"
                           "%s%s%s%s\r\n",
                           accept, proto ? "Sec-WebSocket-Protocol: " : "",
                           proto ? proto : "", proto ? "\r\n" : "",
                           extra ? extra : ""),
                  cap);
}

/* RFC 9110 section 15's phrases for the statuses a server sends, and the
 * class's name for others.  The same table as http_static.c's, which
 * needs lws: this file must build without it. */
static const char *reason_phrase(int status)
{
    switch (status) {
    case 100: return "Continue";
    case 101: return "Switching Protocols";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 304: return "Not Modified";
    case 307: return "Temporary Redirect";
    case 308: return "Permanent Redirect";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 410: return "Gone";
    case 411: return "Length Required";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 415: return "Unsupported Media Type";
    case 426: return "Upgrade Required";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
    default: break;
    }
    switch (status / 100) {
    case 1: return "Informational";
    case 2: return "Success";
    case 3: return "Redirection";
    case 4: return "Client Error";
    default: return "Server Error";
    }
}

int sb_http_response(char *out, size_t cap, int status, const char *ctype,
                     const char *body, const char *extra)
{
    if (status < 100 || status > 599 || !extra_ok(extra))
        return -1;
    body = body ? body : "";
    return fitted(snprintf(out, cap,
                           "HTTP/1.1 %d %s\r\n"
                           "Connection: close\r\n"
                           "Content-Type: %s\r\n"
                           "Content-Length: %zu\r\n"
                           "%s\r\n%s",
                           status, reason_phrase(status), ctype ? ctype : "text/plain",
                           strlen(body),
                           extra ? extra : "", body),
                  cap);
}
