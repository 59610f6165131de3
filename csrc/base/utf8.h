/* UTF-8 validation and encoding.
 *
 * Text frames must be valid UTF-8 (RFC 6455), so every string that reaches
 * a frame from outside (JSON strings, decoded query values) is checked here:
 * no overlong forms, no UTF-16 surrogates, nothing above U+10FFFF. */
#ifndef SB_UTF8_H
#define SB_UTF8_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

/* Length (1..4) of the valid sequence starting at s, or 0 if the bytes
 * there are not valid UTF-8 or the sequence is cut off by n. */
size_t sb_utf8_seq(const unsigned char *s, size_t n);
/* 1 if all n bytes are valid UTF-8. */
int sb_utf8_valid(const char *s, size_t n);
/* Writes code point cp (<= 0x10FFFF, not a surrogate) into out; returns
 * the byte count (1..4), or 0 for a value that has no UTF-8 form. */
size_t sb_utf8_put(uint32_t cp, unsigned char out[4]);

#endif
