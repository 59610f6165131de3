/* posix_memalign under -std=c99 */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200112L
#endif
#include "lines.h"

#include <stdlib.h>
#include <string.h>

void *sb_calloc_lines(size_t n)
{
    void *p = NULL;

    if (posix_memalign(&p, SB_CACHE_LINE, n ? n : 1) != 0)
        return NULL;
    memset(p, 0, n);
    return p;
}
