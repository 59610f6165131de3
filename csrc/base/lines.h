/* Memory that starts on a cache line.
 *
 * malloc aligns to 16 bytes, so the fields a hot loop reads together
 * may straddle one line more than their size needs.  An object whose
 * first bytes are laid out for one walk (a server connection: what
 * every delivery and every end-of-turn write touches, net/server.h)
 * starts on a line boundary instead.  Free it with free(). */
#ifndef SB_LINES_H
#define SB_LINES_H

#include <stddef.h>

#define SB_CACHE_LINE 64

/* n zeroed bytes on a line boundary, or NULL when memory ran out. */
void *sb_calloc_lines(size_t n);

#endif
