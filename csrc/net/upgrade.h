/* The request head of a plain ws:// connection, read by the server itself
 * before it decides who serves the socket: a WebSocket upgrade goes to our
 * own transport, anything else to lws with the bytes already read.
 *
 * No I/O here: sb_head_parse looks at the bytes read so far and says
 * "more", "done" or which HTTP status to refuse with; the handshake
 * helpers build the accept key and the 101 / error responses as bytes the
 * caller writes.  Parsing costs one allocation per complete head (a copy
 * of what the accessors return), none per header, so a storm of
 * handshakes stays cheap.  Everything faces the internet: fuzzed by
 * fuzz/fuzz_upgrade.c. */
#ifndef SB_UPGRADE_H
#define SB_UPGRADE_H

#include <stddef.h>
#include <stdint.h>

/* More header lines than this is -431, as a head that is too long. */
#define SB_HEAD_MAX_HEADERS 64
/* The Sec-WebSocket-Accept value: 28 characters and a NUL. */
#define SB_WS_ACCEPT_LEN 28

/* sb_head_parse's refusals: minus the HTTP status to answer with. */
enum {
    SB_HEAD_EBAD = -400,     /* malformed request line or header */
    SB_HEAD_ENOMEM = -500,   /* the copy of the head could not be made */
    SB_HEAD_EURL = -414,     /* request target over max_url */
    SB_HEAD_EBIG = -431,     /* head over max_head, or too many headers */
    SB_HEAD_EVERSION = -505  /* HTTP/<n>.x with n other than 1 */
};

typedef struct sb_head_limits {
    size_t max_head;   /* bytes from the first byte through the blank line */
    size_t max_url;    /* bytes of the request target as sent */
} sb_head_limits;

/* A parsed head.  Owns one block (mem): an index of headers and query
 * arguments, a copy of the head with NULs where names and values end, and
 * the decoded path and arguments.  Small enough to keep per connection;
 * all zero (mem NULL) when nothing was parsed, and sb_head_free is then a
 * no-op. */
typedef struct sb_head {
    char *mem;
    const uint32_t *hdr;   /* nhdr pairs (name, value): offsets into mem */
    const uint32_t *arg;   /* nargs pairs (key, value): offsets into mem */
    uint32_t method, target, path;
    uint32_t url_len;
    int nhdr;              /* distinct header names */
    int nargs;
    int minor;             /* the x of HTTP/1.x */
} sb_head;

/* Looks at the bytes read so far (buf[0..len)).  Returns 0 when the head
 * is not complete yet, the head's length in bytes (through the blank
 * line) once it is complete and was parsed into *h, or a negative
 * SB_HEAD_E* (minus an HTTP status).  A refusal comes as soon as the bytes
 * show it: a request line that cannot be HTTP/1.x (a TLS hello, HTTP/2's
 * preface) or a target over max_url before the head is complete, and -431
 * once len passes max_head without a complete head.  Empty lines before
 * the request line are skipped (and counted).  *h is overwritten (free a
 * previous head first) and holds nothing unless the return is positive.
 * lim must not be NULL. */
int sb_head_parse(const char *buf, size_t len, const sb_head_limits *lim,
                  sb_head *h);
void sb_head_free(sb_head *h);

const char *sb_head_method(const sb_head *h);
/* Percent-decoded, without the query or a fragment; always starts with
 * '/' ("/" for an absolute-form target without a path).  Not checked for
 * UTF-8 and not normalised (no dot-segment removal). */
const char *sb_head_path(const sb_head *h);
/* The request target as sent. */
const char *sb_head_target(const sb_head *h);
size_t sb_head_url_len(const sb_head *h);
/* 0 for HTTP/1.0, 1 for HTTP/1.1. */
int sb_head_minor(const sb_head *h);
/* A header's value, its name compared case-insensitively (ASCII); a
 * repeated header's values joined with ", " (Cookie's with "; "), in the
 * order sent.  NULL if absent. */
const char *sb_head_header(const sb_head *h, const char *name);
/* The idx-th query argument (from 0, in order), percent- and
 * '+'-decoded: 1 with key and value (value "" for "k" and "k="), 0 for
 * idx out of range.  Empty components ("a=1&&b=2", a trailing '&', a
 * bare '?') are skipped.  Any length pointer may be NULL. */
int sb_head_arg(const sb_head *h, int idx, const char **key, size_t *klen,
                const char **value, size_t *vlen);
int sb_head_nargs(const sb_head *h);

/* 1 for a valid WebSocket upgrade (GET, HTTP/1.1, Upgrade holds the token
 * "websocket", Connection the token "upgrade", both case-insensitive,
 * Sec-WebSocket-Version: 13, Sec-WebSocket-Key 22 base64 characters and
 * "=="); 0 when the request is not trying to be one (no websocket token
 * in Upgrade and no Sec-WebSocket-Key or -Version header); -1 when it
 * tries and fails: sb_head_upgrade_refusal says how to answer. */
int sb_head_is_upgrade(const sb_head *h);
/* For a head sb_head_is_upgrade answers -1 for: 426 when
 * Sec-WebSocket-Version is missing or not 13 (answer with
 * "Sec-WebSocket-Version: 13"), 400 for the rest; *why (when not NULL)
 * gets a short static reason for the body or a log.  0 otherwise. */
int sb_head_upgrade_refusal(const sb_head *h, const char **why);
/* The Sec-WebSocket-Accept value for a key (RFC 6455 section 4.2.2):
 * base64 of SHA-1 of the key and the protocol's GUID.  out is "" if
 * OpenSSL fails. */
void sb_ws_accept_key(const char *key, char out[SB_WS_ACCEPT_LEN + 1]);
/* The first of the client's comma-separated Sec-WebSocket-Protocol
 * offers (trimmed, compared exactly) that is in the NULL-terminated list
 * ours, as ours' own pointer; NULL when none matches or nothing was
 * offered.  The client's order wins: it lists what it prefers first. */
const char *sb_head_pick_subprotocol(const sb_head *h,
                                     const char *const *ours);
/* Writes the 101 response (Upgrade, Connection, Sec-WebSocket-Accept,
 * Sec-WebSocket-Protocol when proto is not NULL, then extra: raw header
 * lines each ending in "\r\n", may be NULL) and a NUL into out.  Returns
 * its length without the NUL, or -1 when cap is too small or extra does
 * not end in "\r\n". */
int sb_upgrade_response(char *out, size_t cap, const char *accept,
                        const char *proto, const char *extra);
/* A complete HTTP/1.1 response that closes the connection: status line
 * with the standard reason phrase (the class's name, "Client Error" and
 * so on, for one without), Connection: close, Content-Type: ctype
 * (NULL: text/plain), Content-Length, extra (as above), then body (NULL
 * is empty), and a NUL.  Returns the length, or -1 when it does not fit,
 * status is not 100..599 or extra is malformed. */
int sb_http_response(char *out, size_t cap, int status, const char *ctype,
                     const char *body, const char *extra);

#endif
