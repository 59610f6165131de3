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

int sb_http_status(struct lws *wsi, unsigned int code, const char *body)
{
    lws_return_http_status(wsi, code, body);
    return lws_http_transaction_completed(wsi) ? -1 : 0;
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
        return sb_http_status(wsi, HTTP_STATUS_NOT_FOUND, "not found");
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
        return sb_http_status(wsi, HTTP_STATUS_NOT_FOUND, "not found");
    if (strstr(path, "..") || path[0] != '/')
        return sb_http_status(wsi, HTTP_STATUS_FORBIDDEN, "forbidden");
    n = snprintf(full, sizeof full, "%s%s%s", static_dir, path,
                 path[strlen(path) - 1] == '/' ? "index.html" : "");
    if (n <= 0 || (size_t)n >= sizeof full)
        return sb_http_status(wsi, HTTP_STATUS_NOT_FOUND, "not found");
    /* a symlink (or a link in the path) to somewhere outside the root is
     * answered like a file that is not there: 404, so a scan cannot tell
     * a planted link from nothing.  The resolved path is what gets opened,
     * so a link swapped in after this check is not followed either. */
    if (!follow_links) {
        if (!realpath(static_dir, root) || !realpath(full, real) ||
            !sb_path_inside(root, real))
            return sb_http_status(wsi, HTTP_STATUS_NOT_FOUND, "not found");
        file = real;
    }
    if (stat(file, &st) || !S_ISREG(st.st_mode))
        return sb_http_status(wsi, HTTP_STATUS_NOT_FOUND, "not found");
    if (st.st_size <= SB_STATIC_INLINE)
        return sb_http_file_inline(wsi, file, (size_t)st.st_size, sb_mime_of(full));
    n = lws_serve_http_file(wsi, file, sb_mime_of(full), NULL, 0);
    if (n < 0 || (n > 0 && lws_http_transaction_completed(wsi)))
        return -1;
    return 0;
}
