/* The cluster's pending list after an outage (csrc/cluster/cluster_order.c):
 * k numbered messages wait behind a hole, the hole closes, one drain hands
 * all k + 1 to the hub.  Prints the median drain time of several runs per k;
 * built and run by bench/costs.sh against this tree and an older one.
 * The channel has no local connections, so the hub's part is a lookup and
 * the time is the list's own. */
#include "cluster/cluster_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define REPS 7

/* cluster_order.c's other neighbours, not reached here: the wire format
 * (only for entries read from Redis) and the fill reads (the spec sets
 * `filling`, so a hole waits instead of reading). */
int sb_cl_wire_split(const char *p, size_t n, field *f, int max)
{
    (void)p; (void)n; (void)f; (void)max;
    return -1;
}
uint64_t sb_cl_field_u64(const field *f)
{
    (void)f;
    return 0;
}
int sb_cl_field_is(const field *f, const char *s)
{
    (void)f; (void)s;
    return 0;
}
sb_msg *sb_cl_wire_msg(const char *ch, size_t chlen, const field *f,
                       const char **em, size_t *emlen)
{
    (void)ch; (void)chlen; (void)f; (void)em; (void)emlen;
    return NULL;
}
void sb_cl_hist_fill(sb_cluster *cl, cl_channel *cc)
{
    (void)cl; (void)cc;
}

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int insert(sb_cluster *cl, cl_channel *cc, uint64_t off)
{
    cl_entry e;

    memset(&e, 0, sizeof e);
    if (!(e.m = sb_msg_new("room", 4, NULL, 0, "{}", 2, NULL, 0, NULL, 0, 0)))
        return -1;
    e.m->epoch = 1;
    e.m->offset = off;
    sb_cl_order_insert(cl, cc, &e);
    return 0;
}

/* One outage of k messages; returns the drain's seconds, or -1. */
static double one_run(size_t k)
{
    sb_cluster cl;
    cl_channel *cc;
    double t0, t;
    size_t i;

    memset(&cl, 0, sizeof cl);
    if (!(cl.hub = sb_hub_new(NULL)))
        return -1;
    sb_map_init(&cl.channels, 1);
    if (!(cc = calloc(1, sizeof *cc + 5)))
        return -1;
    memcpy(cc->name, "room", 5);
    cc->len = 4;
    cc->active = cc->hist = cc->synced = cc->filling = 1;
    cc->cur_epoch = 1;
    if (sb_map_put(&cl.channels, "room", 4, cc) < 0)
        return -1;
    for (i = 0; i < k; i++)
        if (insert(&cl, cc, i + 2) < 0)
            return -1;
    sb_cl_order_drain(&cl, "room", 4);   /* stops at the hole */
    if (cc->npending != k || insert(&cl, cc, 1) < 0)
        return -1;
    t0 = now_s();
    sb_cl_order_drain(&cl, "room", 4);
    t = now_s() - t0;
    if (cc->npending || cc->cur_off != k + 1)
        t = -1;
    sb_cl_order_clear(cc);
    free(cc);
    sb_map_clear(&cl.channels);
    sb_hub_free(cl.hub);
    return t;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    static const size_t ks[] = { 1000, 2000, 4000 };
    const char *label = argc > 1 ? argv[1] : "this";
    double t[REPS];
    size_t i;
    int r;

    for (i = 0; i < sizeof ks / sizeof ks[0]; i++) {
        for (r = 0; r < REPS; r++)
            if ((t[r] = one_run(ks[i])) < 0) {
                fprintf(stderr, "run failed at k=%zu\n", ks[i]);
                return 1;
            }
        qsort(t, REPS, sizeof t[0], cmp);
        printf("pending-drain %-6s k=%-5zu median %9.1f us\n", label, ks[i],
               t[REPS / 2] * 1e6);
    }
    return 0;
}
