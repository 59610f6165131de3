/* Message ids: a hub position written as "<epoch>-<offset>" (decimal).
 * Every protocol that lets a client resume (SSE Last-Event-ID, native
 * ?since=) speaks this one format, so it sits below them all. */
#ifndef SB_MSGID_H
#define SB_MSGID_H

#include <stdint.h>

#include "base/buf.h"
#include "codec.h"

/* Longest resume position kept; ours ("<u64>-<u64>") are at most 41. */
#define SB_MSGID_MAX 64

/* Appends <epoch>-<offset>; 0, or SB_CODEC_ENOMEM when b ran out. */
int sb_msgid_format(sb_buf *b, uint64_t epoch, uint64_t offset);
/* Strict inverse of sb_msgid_format: digits '-' digits, no sign, space,
 * leading zero or overflow.  Returns 0 or SB_CODEC_EID. */
int sb_msgid_parse(const char *s, size_t n, uint64_t *epoch, uint64_t *offset);

#endif
