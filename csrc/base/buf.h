/* Growable byte buffer used by every encoder.
 *
 * Encoders append into an sb_buf; a failed allocation sets `oom` and turns
 * every later append into a no-op, so a caller checks once at the end instead
 * of after each append.  `pre` bytes of headroom are kept in front of the data
 * so a finished buffer can become a WebSocket frame without copying. */
#ifndef SB_BUF_H
#define SB_BUF_H

#include <stddef.h>
#include <stdint.h>

typedef struct sb_buf {
    unsigned char *mem;  /* allocation: pre bytes of headroom, then data */
    size_t pre;          /* headroom in front of the data */
    size_t len;          /* bytes of data */
    size_t cap;          /* bytes of data that fit without growing */
    int oom;             /* set once an allocation failed */
} sb_buf;

void sb_buf_init(sb_buf *b, size_t pre);
void sb_buf_free(sb_buf *b);
void sb_buf_reset(sb_buf *b);
/* Data pointer (after the headroom); NULL while nothing was appended. */
unsigned char *sb_buf_data(const sb_buf *b);
int sb_buf_reserve(sb_buf *b, size_t extra);
void sb_buf_add(sb_buf *b, const void *p, size_t n);
void sb_buf_addc(sb_buf *b, char c);
void sb_buf_adds(sb_buf *b, const char *s);
void sb_buf_add_u64(sb_buf *b, uint64_t v);
void sb_buf_add_i64(sb_buf *b, int64_t v);
/* Appends s as a quoted JSON string, escaping what RFC 8259 requires. */
void sb_buf_add_json_string(sb_buf *b, const char *s, size_t n);

#endif
