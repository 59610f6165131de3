/* Plain HTTP: files from the server's static directory, and the short
 * status answers every route uses.  Nothing here knows about channels. */
#include "http_static.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/buf.h"

/* Files up to this size are read and sent in one write from the request
 * callback (see sb_http_file_inline); what the socket does not take at
 * once lws keeps in memory until the peer reads it, so this bounds what a
 * peer that stops reading can hold.  Larger files are streamed from disk
 * by lws (and a request pipelined after one of those meets the lws bug
 * described at sb_http_file_inline). */
#define SB_STATIC_INLINE (1024 * 1024)

/* lws 4.1's status lines carry a phrase for only some codes ("HTTP/1.1
 * 202 " with nothing after it, likewise 204, 429, 431), and some clients
 * and proxies show the phrase to people; so every status line the server
 * writes comes from this table (RFC 9110 section 15 names). */
const char *sb_http_reason(unsigned int code)
{
    static const struct { unsigned short code; const char *text; } t[] = {
        { 100, "Continue" }, { 101, "Switching Protocols" }, { 200, "OK" },
        { 201, "Created" }, { 202, "Accepted" }, { 204, "No Content" },
        { 206, "Partial Content" }, { 301, "Moved Permanently" }, { 302, "Found" },
        { 303, "See Other" }, { 304, "Not Modified" }, { 307, "Temporary Redirect" },
        { 308, "Permanent Redirect" }, { 400, "Bad Request" }, { 401, "Unauthorized" },
        { 402, "Payment Required" }, { 403, "Forbidden" }, { 404, "Not Found" },
        { 405, "Method Not Allowed" }, { 406, "Not Acceptable" },
        { 408, "Request Timeout" }, { 409, "Conflict" }, { 410, "Gone" },
        { 411, "Length Required" }, { 412, "Precondition Failed" },
        { 413, "Content Too Large" }, { 414, "URI Too Long" },
        { 415, "Unsupported Media Type" }, { 416, "Range Not Satisfiable" },
        { 417, "Expectation Failed" }, { 421, "Misdirected Request" },
        { 422, "Unprocessable Content" }, { 425, "Too Early" },
        { 426, "Upgrade Required" }, { 428, "Precondition Required" },
        { 429, "Too Many Requests" }, { 431, "Request Header Fields Too Large" },
        { 451, "Unavailable For Legal Reasons" }, { 500, "Internal Server Error" },
        { 501, "Not Implemented" }, { 502, "Bad Gateway" },
        { 503, "Service Unavailable" }, { 504, "Gateway Timeout" },
        { 505, "HTTP Version Not Supported" } };
    static const char *const cls[] = { "Informational", "Success", "Redirection",
                                       "Client Error", "Server Error" };
    size_t i;

    for (i = 0; i < sizeof t / sizeof t[0]; i++)
        if (t[i].code == code)
            return t[i].text;
    return code >= 100 && code < 600 ? cls[code / 100 - 1] : "Unknown";
}

int sb_http_head(struct lws *wsi, unsigned int code, const char *type, size_t len,
                 unsigned char **p, unsigned char *end)
{
    char line[80];
    int n = snprintf(line, sizeof line, "HTTP/1.1 %u %s", code, sb_http_reason(code));

    if (lws_add_http_header_by_name(wsi, NULL, (const unsigned char *)line, n, p, end))
        return -1;
    if (type && lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_CONTENT_TYPE,
                                             (const unsigned char *)type,
                                             (int)strlen(type), p, end))
        return -1;
    return lws_add_http_header_content_length(wsi, len, p, end) ? -1 : 0;
}

void sb_http_error_body(sb_buf *b, const char *text)
{
    sb_buf_adds(b, "{\"error\":");
    sb_buf_add_json_string(b, text, strlen(text));
    sb_buf_addc(b, '}');
}

/* Answers with a status and the body in b (LWS_PRE headroom; freed
 * here) and finishes the transaction; returns what the lws callback
 * should return. */
static int sb_http_answer(struct lws *wsi, unsigned int code, const char *type, sb_buf *b)
{
    unsigned char hdr[LWS_PRE + 512], *start = hdr + LWS_PRE, *p = start,
                  *end = hdr + sizeof hdr - 1;
    int rc = -1;

    if (!b->oom && !sb_http_head(wsi, code, type, b->len, &p, end) &&
        !lws_finalize_write_http_header(wsi, start, &p, end) &&
        lws_write(wsi, sb_buf_data(b), b->len, LWS_WRITE_HTTP_FINAL) >= (int)b->len)
        rc = 0;
    sb_buf_free(b);
    if (rc)
        return -1;
    return lws_http_transaction_completed(wsi) ? -1 : 0;
}

int sb_http_status(struct lws *wsi, unsigned int code, const char *text)
{
    sb_buf b;

    sb_buf_init(&b, LWS_PRE);
    sb_http_error_body(&b, text);
    return sb_http_answer(wsi, code, "application/json", &b);
}

/* The page a browser shows a person for a static route's refusal:
 * self-contained (the style is inline, so the page asks for nothing the
 * server may not have), and saying nothing of the request (no path echoed
 * back, nothing to escape). */
static void sb_http_error_page(sb_buf *b, unsigned int code, const char *text)
{
    sb_buf_adds(b, "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                   "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
                   "<title>");
    sb_buf_add_u64(b, code);
    sb_buf_addc(b, ' ');
    sb_buf_adds(b, sb_http_reason(code));
    sb_buf_adds(b, "</title><style>"
                   "body{margin:0;min-height:100vh;display:flex;align-items:center;"
                   "justify-content:center;font:16px/1.5 system-ui,sans-serif;color:#222;"
                   "background:#f4f4f6}"
                   "main{background:#fff;padding:28px 40px;border-radius:8px;"
                   "box-shadow:0 1px 4px rgba(0,0,0,.15);text-align:center;max-width:26em;"
                   "margin:16px}"
                   "h1{margin:0;font-size:56px;line-height:1.1;color:#2d3142}"
                   "h2{margin:4px 0 12px;font-size:18px;font-weight:600;color:#4f5d75}"
                   "p{margin:0 0 8px;color:#555}a{color:#4f5d75}"
                   "</style></head><body><main><h1>");
    sb_buf_add_u64(b, code);
    sb_buf_adds(b, "</h1><h2>");
    sb_buf_adds(b, sb_http_reason(code));
    sb_buf_adds(b, "</h2><p>");
    sb_buf_adds(b, text);
    sb_buf_adds(b, "</p><p><a href=\"/\">Start page</a></p></main></body></html>\n");
}

/* Whether the request's Accept header lists text/html: a browser that
 * shows the answer to a person, rather than a client reading JSON. */
static int sb_wants_html(struct lws *wsi)
{
    char accept[1024];

    return lws_hdr_copy(wsi, accept, sizeof accept, WSI_TOKEN_HTTP_ACCEPT) > 0 &&
           strstr(accept, "text/html") != NULL;
}

/* A static route's refusal: the page above for browsers, else the JSON
 * every other refusal has ({"error": json_text}).  Returns what the lws
 * callback should return. */
static int sb_http_static_refusal(struct lws *wsi, unsigned int code,
                                  const char *json_text, const char *page_text)
{
    sb_buf b;

    if (!sb_wants_html(wsi))
        return sb_http_status(wsi, code, json_text);
    sb_buf_init(&b, LWS_PRE);
    sb_http_error_page(&b, code, page_text);
    return sb_http_answer(wsi, code, "text/html; charset=utf-8", &b);
}

static int sb_http_not_found(struct lws *wsi)
{
    return sb_http_static_refusal(wsi, HTTP_STATUS_NOT_FOUND, "not found",
                                  "There is no page or file at this address.");
}

/* Called from FILTER_PROTOCOL_CONNECTION, where the request is still
 * HTTP and lws closes once the filter says no: the whole answer goes in
 * one write, as lws_return_http_status does it there, but as JSON (the
 * shape every other refusal has) instead of lws's HTML page, with the
 * reason also in a header -- lws's WebSocket client never reads a
 * refusal's body, and switchboard's own client reports the header. */
size_t sb_http_header_value(const char *text, char *out, size_t len)
{
    size_t i, n = 0;

    for (i = 0; text[i] && n + 1 < len; i++)
        if ((unsigned char)text[i] >= 0x20 && (unsigned char)text[i] < 0x7f)
            out[n++] = text[i];
    out[n] = '\0';
    return n;
}

int sb_http_refuse(struct lws *wsi, unsigned int code, const char *text)
{
    unsigned char out[LWS_PRE + 1024], *start = out + LWS_PRE, *p = start,
                  *end = out + sizeof out - 1;
    char hv[128];
    size_t n = sb_http_header_value(text, hv, sizeof hv);
    sb_buf b;
    int rc = -1;

    sb_buf_init(&b, 0);
    sb_http_error_body(&b, text);
    if (!b.oom && !sb_http_head(wsi, code, "application/json", b.len, &p, end) &&
        (!n || !lws_add_http_header_by_name(wsi, (const unsigned char *)"x-switchboard-error:",
                                            (const unsigned char *)hv, (int)n, &p, end)) &&
        !lws_finalize_http_header(wsi, &p, end) && b.len <= (size_t)(end - p)) {
        memcpy(p, sb_buf_data(&b), b.len);
        p += b.len;
        rc = lws_write(wsi, start, (size_t)(p - start), LWS_WRITE_HTTP) < (int)(p - start) ? -1 : 0;
    }
    sb_buf_free(&b);
    return rc;
}

static const char *sb_mime_of(const char *path)
{
    static const char *const map[][2] = {
        { ".html", "text/html; charset=utf-8" }, { ".js", "text/javascript" },
        { ".mjs", "text/javascript" }, { ".css", "text/css" },
        { ".json", "application/json" }, { ".svg", "image/svg+xml" },
        { ".png", "image/png" }, { ".ico", "image/x-icon" },
        { ".txt", "text/plain; charset=utf-8" } };
    const char *dot = strrchr(path, '.');
    size_t i;

    for (i = 0; dot && i < sizeof map / sizeof map[0]; i++)
        if (strcmp(dot, map[i][0]) == 0)
            return map[i][1];
    return "application/octet-stream";
}

/* Reads all of fd (size bytes) after LWS_PRE bytes of headroom.  0 or -1. */
static int sb_read_file(int fd, size_t size, sb_buf *b)
{
    sb_buf_init(b, LWS_PRE);
    if (sb_buf_reserve(b, size))
        return -1;
    while (b->len < size) {
        ssize_t n = read(fd, sb_buf_data(b) + b->len, size - b->len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;   /* an error, or the file shrank: better no answer */
        b->len += (size_t)n;
    }
    return 0;
}

/* A small file as one complete response written from the request
 * callback, the way every other answer of the server is written.  lws
 * 4.1.6's own file serving (lws_serve_http_file) breaks keep-alive
 * pipelining: the request pipelined after the file got lws's "403" (it
 * parsed the stashed bytes from the wrong place) and the next one was
 * dropped.  Returns what the lws callback should return. */
static int sb_http_file_inline(struct lws *wsi, const char *file, size_t size,
                               const char *mime)
{
    unsigned char hdr[LWS_PRE + 512], *start = hdr + LWS_PRE, *p = start,
                  *end = hdr + sizeof hdr - 1;
    int fd = open(file, O_RDONLY | O_CLOEXEC), rc = -1;
    sb_buf b;

    if (fd < 0)
        return sb_http_not_found(wsi);
    if (sb_read_file(fd, size, &b) == 0 &&
        !lws_add_http_common_headers(wsi, HTTP_STATUS_OK, mime, size, &p, end) &&
        !lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_CACHE_CONTROL,
                                      (const unsigned char *)"no-store", 8, &p, end) &&
        !lws_finalize_write_http_header(wsi, start, &p, end) &&
        (!size || lws_write(wsi, sb_buf_data(&b), size, LWS_WRITE_HTTP_FINAL) >= (int)size))
        rc = lws_http_transaction_completed(wsi) ? -1 : 0;
    sb_buf_free(&b);
    close(fd);
    return rc;
}

/* Whether file (a resolved path) lies inside root (another). */
static int sb_path_inside(const char *root, const char *file)
{
    size_t n = strlen(root);

    if (n == 1 && root[0] == '/')
        return 1;
    return strncmp(file, root, n) == 0 && file[n] == '/';
}

int sb_http_static(const char *static_dir, int follow_links, struct lws *wsi,
                   const char *path)
{
    char full[1024], real[PATH_MAX], root[PATH_MAX];
    const char *file = full;
    struct stat st;
    int n;

    if (!static_dir)
        return sb_http_not_found(wsi);
    if (strstr(path, "..") || path[0] != '/')
        return sb_http_static_refusal(wsi, HTTP_STATUS_FORBIDDEN, "forbidden",
                                      "This address may not be served.");
    n = snprintf(full, sizeof full, "%s%s%s", static_dir, path,
                 path[strlen(path) - 1] == '/' ? "index.html" : "");
    if (n <= 0 || (size_t)n >= sizeof full)
        return sb_http_not_found(wsi);
    /* a symlink (or a link in the path) to somewhere outside the root is
     * answered like a file that is not there: 404, so a scan cannot tell
     * a planted link from nothing.  The resolved path is what gets opened,
     * so a link swapped in after this check is not followed either. */
    if (!follow_links) {
        if (!realpath(static_dir, root) || !realpath(full, real) ||
            !sb_path_inside(root, real))
            return sb_http_not_found(wsi);
        file = real;
    }
    if (stat(file, &st) || !S_ISREG(st.st_mode))
        return sb_http_not_found(wsi);
    if (st.st_size <= SB_STATIC_INLINE)
        return sb_http_file_inline(wsi, file, (size_t)st.st_size, sb_mime_of(full));
    n = lws_serve_http_file(wsi, file, sb_mime_of(full), NULL, 0);
    if (n < 0 || (n > 0 && lws_http_transaction_completed(wsi)))
        return -1;
    return 0;
}
