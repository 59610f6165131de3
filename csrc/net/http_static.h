/* Plain HTTP answers of a server (http_static.c). */
#ifndef SB_HTTP_STATIC_H
#define SB_HTTP_STATIC_H

#include <libwebsockets.h>

/* Answers with a status and a short body and finishes the transaction;
 * returns what the lws callback should return. */
int sb_http_status(struct lws *wsi, unsigned int code, const char *body);
/* Serves path from below static_dir (NULL: 404), with its content type;
 * refuses ".." and anything not starting with "/" (403), and, unless
 * follow_links, anything whose real path (symlinks resolved) is outside
 * the real path of static_dir (404).  Returns what the lws callback
 * should return. */
int sb_http_static(const char *static_dir, int follow_links, struct lws *wsi,
                   const char *path);

#endif
