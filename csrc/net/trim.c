/* Memory back to the system after a storm: see trim.h. */
#include "trim.h"

#if defined(__GLIBC__)
#include <malloc.h>
#endif

/* A trim is worth it after a fall from at least this many connections
 * to a quarter of them or fewer. */
#define TRIM_PEAK 1024

static void sb_trim_now(sb_turn_hook *h)
{
    sb_trimmer *t = (sb_trimmer *)h;

    if (t->collect)
        t->collect(t->arg);
#if defined(__GLIBC__)
    malloc_trim(0);
#endif
}

void sb_trimmer_init(sb_trimmer *t, sb_loop *loop)
{
    t->hook.fn = sb_trim_now;
    t->hook.next = NULL;
    t->hook.armed = 0;
    t->loop = loop;
    t->peak = 0;
    t->collect = NULL;
    t->arg = NULL;
}

void sb_trimmer_free(sb_trimmer *t)
{
    sb_loop_turn_hook_cancel(t->loop, &t->hook);
}

void sb_trimmer_count(sb_trimmer *t, int conns)
{
    if (conns > t->peak) {
        t->peak = conns;
        return;
    }
    if (t->peak >= TRIM_PEAK && conns <= t->peak / 4) {
        t->peak = conns;
        sb_loop_at_turn_end(t->loop, &t->hook);
    }
}
