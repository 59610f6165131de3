/* Owned copies of byte strings. */
#ifndef SB_STR_H
#define SB_STR_H

#include <stddef.h>

/* A malloc'd copy of the n bytes at p with a NUL after them, so a copy of
 * a span is also a C string; p may be NULL when n is 0.  NULL when memory
 * ran out. */
char *sb_memdup(const void *p, size_t n);

#endif
