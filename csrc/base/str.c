#include "str.h"

#include <stdlib.h>
#include <string.h>

char *sb_memdup(const void *p, size_t n)
{
    char *s = malloc(n + 1);

    if (!s)
        return NULL;
    if (n)
        memcpy(s, p, n);
    s[n] = '\0';
    return s;
}
