/* A JSON scanner: validates RFC 8259 text and points into it.
 *
 * Nothing here builds a tree.  Codecs need to check a frame, find a few
 * values in it and pass the rest through unchanged, so the results are spans
 * into the caller's bytes.  Inputs are (pointer, length) and never need a
 * NUL terminator; no function reads outside [s, s + n).  Nesting is tracked
 * with a fixed bitset instead of recursion, so hostile input cannot grow
 * the C stack. */
#ifndef SB_JSON_H
#define SB_JSON_H

#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"

/* Hard ceiling for every depth limit (arrays + objects open at once). */
#define SB_JSON_MAX_DEPTH 1024

typedef struct sb_span {
    const char *p;
    size_t n;
} sb_span;

/* Spans from a C string (NULL stays absent) and from pointer + length. */
sb_span sb_span_str(const char *s);
sb_span sb_span_of(const char *s, size_t n);
/* Value of one hex digit, or -1 (shared by the JSON and URL decoders). */
int sb_hex_digit(char c);

typedef struct sb_json_err {
    size_t pos;       /* byte offset of the problem */
    const char *msg;  /* static text */
} sb_json_err;

typedef enum {
    SB_JSON_BAD = 0,
    SB_JSON_NULL,
    SB_JSON_FALSE,
    SB_JSON_TRUE,
    SB_JSON_NUMBER,
    SB_JSON_STRING,
    SB_JSON_ARRAY,
    SB_JSON_OBJECT
} sb_json_type;

/* Depth arguments: at most max_depth containers open at once, so 1 allows
 * [1,2] but not [[1]].  max_depth <= 0 or above SB_JSON_MAX_DEPTH means
 * SB_JSON_MAX_DEPTH. */

/* Returns 0 if s is exactly one JSON value (with optional surrounding
 * whitespace), -1 otherwise with err (may be NULL) filled. */
int sb_json_check(const char *s, size_t n, int max_depth, sb_json_err *err);
/* Validates one value starting at *pos (leading whitespace skipped) and
 * moves *pos just past it.  For scanners that embed JSON in other text. */
int sb_json_value(const char *s, size_t n, size_t *pos, int max_depth,
                  sb_json_err *err);
/* Type of a value span, judged by its first non-space byte; the span is
 * assumed valid (from the functions above). */
sb_json_type sb_json_type_of(const char *s, size_t n);

/* Splits a top-level array into element spans (trimmed).  Stores at most
 * max spans in items but counts them all in *count.  Returns 0, or -1 when
 * s is not valid JSON or not an array. */
int sb_json_array(const char *s, size_t n, int max_depth, sb_span *items,
                  size_t max, size_t *count, sb_json_err *err);
/* Finds key in a top-level object.  Returns 1 and the value span (trimmed)
 * when present (the LAST occurrence, as JSON.parse does), 0 when absent,
 * -1 when s is not valid JSON or not an object. */
int sb_json_object_get(const char *s, size_t n, int max_depth,
                       const char *key, size_t keylen, sb_span *val,
                       sb_json_err *err);

/* For a string token (with its quotes): if it holds no escape, sets *out to
 * the bytes between the quotes and returns 1 (no copy needed); else 0. */
int sb_json_string_plain(const char *s, size_t n, sb_span *out);
/* Appends the decoded contents of a string token to out.  \uXXXX escapes
 * become UTF-8, surrogate pairs are joined and lone surrogates become
 * U+FFFD, so the result is always valid UTF-8.  Returns 0, -1 on a
 * malformed token (out then keeps its old length) or on out of memory. */
int sb_json_unescape(const char *s, size_t n, sb_buf *out);
/* 1 if the string token decodes to exactly key[0..keylen). */
int sb_json_string_eq(const char *s, size_t n, const char *key,
                      size_t keylen);

/* Integer number token -> int64; -1 for fractions, exponents, overflow or
 * anything that is not a JSON number. */
int sb_json_int64(const char *s, size_t n, int64_t *v);
/* Any number token -> double (strtod, so the C locale's '.' is assumed);
 * -1 if not a JSON number or longer than 127 bytes. */
int sb_json_double(const char *s, size_t n, double *v);

#endif
