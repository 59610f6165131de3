/* Typed reads of the app's options (options.h); a NULL options table
 * reads as empty, so a server made from C alone gets every default. */
#include "options.h"

#include <stddef.h>

static int sb_options_get(const sb_options *o, const char *key, double *v)
{
    return o && o->number ? o->number(o, key, v) : 0;
}

double sb_options_size(const sb_options *o, const char *key, double def)
{
    double v;

    return sb_options_get(o, key, &v) > 0 && v > 0 ? v : def;
}

double sb_options_off(const sb_options *o, const char *key, double def)
{
    double v;
    int rc = sb_options_get(o, key, &v);

    if (rc == 0)
        return def;
    return rc < 0 || v <= 0 ? -1 : v;
}

int sb_options_false(const sb_options *o, const char *key)
{
    double v;

    return sb_options_get(o, key, &v) < 0;
}

const char *sb_options_string(const sb_options *o, const char *key)
{
    return o && o->string ? o->string(o, key) : NULL;
}

int sb_options_count(const sb_options *o, const char *key)
{
    return o && o->count ? o->count(o, key) : -1;
}

const char *sb_options_item(const sb_options *o, const char *key, int i)
{
    return o && o->item ? o->item(o, key, i) : NULL;
}
