/* Plain HTTP: files from the server's static directory, and the short
 * status answers every route uses.  Nothing here knows about channels. */
#include "http_static.h"

#include <string.h>
#include <sys/stat.h>

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

int sb_http_static(const char *static_dir, struct lws *wsi, const char *path)
{
    char full[1024];
    struct stat st;
    int n;

    if (!static_dir)
        return sb_http_status(wsi, HTTP_STATUS_NOT_FOUND, "not found");
    if (strstr(path, "..") || path[0] != '/')
        return sb_http_status(wsi, HTTP_STATUS_FORBIDDEN, "forbidden");
    n = snprintf(full, sizeof full, "%s%s%s", static_dir, path,
                 path[strlen(path) - 1] == '/' ? "index.html" : "");
    if (n <= 0 || (size_t)n >= sizeof full || stat(full, &st) || !S_ISREG(st.st_mode))
        return sb_http_status(wsi, HTTP_STATUS_NOT_FOUND, "not found");
    n = lws_serve_http_file(wsi, full, sb_mime_of(full), NULL, 0);
    if (n < 0 || (n > 0 && lws_http_transaction_completed(wsi)))
        return -1;
    return 0;
}
