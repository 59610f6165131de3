/* Delivery order of shared-history channels (see cluster_history.c).
 *
 * Numbered messages of a followed channel come from three places: the
 * subscription (other nodes' messages, in Redis order), the replies to
 * this node's own publishes (on the command connection, so they can
 * overtake the subscription) and fill reads.  Each goes into the
 * channel's sorted list of pending entries; the list is drained into the
 * hub while its head follows the cursor (the last message handed over),
 * so every connection sees offsets in order, each once.  A hole that
 * neither the subscription nor an own reply will close is read from the
 * stream; one the stream cannot close any more is skipped and counted.
 *
 * Handing a message to the hub runs Lua listeners, which may publish,
 * join or leave (and so free the channel's state): the drain looks the
 * channel up again after every message. */
#include "cluster_internal.h"
#include "base/str.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Pending entries kept per channel while a hole is being filled; beyond
 * this the hole is given up (counted as a gap). */
#define PENDING_MAX 4096

void sb_cl_entry_free(cl_entry *e)
{
    sb_msg_unref(e->m);
    free(e->em);
    memset(e, 0, sizeof *e);
}

/* An entry from the fields of an "n" message (f[0] = "sb1").  0, or -1
 * when memory ran out or the numbers are missing. */
int sb_cl_entry_from_fields(const char *ch, size_t chlen, const field *f,
                            cl_entry *out)
{
    const char *em;
    size_t emlen;

    memset(out, 0, sizeof *out);
    if (!(out->m = sb_cl_wire_msg(ch, chlen, &f[6], &em, &emlen)))
        return -1;
    out->m->epoch = sb_cl_field_u64(&f[4]);
    out->m->offset = sb_cl_field_u64(&f[5]);
    if (em && !(out->em = sb_memdup(em, emlen))) {
        sb_cl_entry_free(out);
        return -1;
    }
    out->emlen = emlen;
    if (!out->m->epoch || !out->m->offset || out->m->epoch >= (1ULL << 53)) {
        sb_cl_entry_free(out);
        return -1;
    }
    return 0;
}

int sb_cl_entry_from_payload(const char *ch, size_t chlen, const char *p,
                             size_t n, cl_entry *out)
{
    field f[FIELDS_MAX];

    if (sb_cl_wire_split(p, n, f, FIELDS_MAX) != 13 ||
        !sb_cl_field_is(&f[0], "sb1") || !sb_cl_field_is(&f[1], "n"))
        return -1;
    return sb_cl_entry_from_fields(ch, chlen, f, out);
}

/* 1 when (e1, o1) comes before (e2, o2). */
static int before(uint64_t e1, uint64_t o1, uint64_t e2, uint64_t o2)
{
    return e1 < e2 || (e1 == e2 && o1 < o2);
}

static int stale(const cl_channel *cc, const sb_msg *m)
{
    return cc->synced &&
           !before(cc->cur_epoch, cc->cur_off, m->epoch, m->offset);
}

static void pop_front(cl_channel *cc, cl_entry *out)
{
    *out = cc->pending[0];
    cc->npending--;
    cc->pending = cc->npending ? cc->pending + 1 : cc->pend_buf;
}

/* Makes room for one more entry at the end of the window: moves the window
 * back to the start of the buffer once the free space before it is at
 * least as large as the window (so each entry is moved O(1) times on
 * average), else grows the buffer.  0, or -1 when memory ran out. */
static int make_room(cl_channel *cc)
{
    size_t head = cc->pend_buf ? (size_t)(cc->pending - cc->pend_buf) : 0, cap;
    cl_entry *grown;

    if (head + cc->npending < cc->cappending)
        return 0;
    if (head && head >= cc->npending) {
        memmove(cc->pend_buf, cc->pending, cc->npending * sizeof *cc->pending);
        cc->pending = cc->pend_buf;
        return 0;
    }
    cap = cc->cappending ? cc->cappending * 2 : 8;
    if (!(grown = realloc(cc->pend_buf, cap * sizeof *grown)))
        return -1;
    cc->pend_buf = grown;
    cc->pending = grown + head;
    cc->cappending = cap;
    return 0;
}

void sb_cl_order_clear(cl_channel *cc)
{
    size_t i;

    for (i = 0; i < cc->npending; i++)
        sb_cl_entry_free(&cc->pending[i]);
    free(cc->pend_buf);
    cc->pending = cc->pend_buf = NULL;
    cc->npending = cc->cappending = 0;
}

/* Gives up the hole before the first pending entry: the cursor moves to
 * just before it (the hub's ring restarts there).  Returns how many
 * messages were skipped: none when the first entry is next already, or
 * stale (the cursor never moves back, and nothing is counted twice when
 * several inserts into a full list ask in a row). */
uint64_t sb_cl_order_skip(sb_cluster *cl, cl_channel *cc)
{
    const sb_msg *m;
    uint64_t lost;

    if (!cc->npending)
        return 0;
    m = cc->pending[0].m;
    if (m->epoch == cc->cur_epoch ? m->offset <= cc->cur_off + 1
                                  : m->epoch < cc->cur_epoch)
        return 0;
    lost = m->epoch == cc->cur_epoch && m->offset > cc->cur_off + 1
               ? m->offset - cc->cur_off - 1
               : m->offset - 1;
    cc->cur_epoch = m->epoch;
    cc->cur_off = m->offset - 1;
    cl->st.history_gaps += lost;
    return lost;
}

/* Takes e (its references move to the list); drops it when it is stale
 * or there already. */
void sb_cl_order_insert(sb_cluster *cl, cl_channel *cc, cl_entry *e)
{
    size_t i;
    const sb_msg *m = e->m;

    if (stale(cc, m)) {
        sb_cl_entry_free(e);
        return;
    }
    i = cc->npending;
    while (i > 0 && before(m->epoch, m->offset, cc->pending[i - 1].m->epoch,
                           cc->pending[i - 1].m->offset))
        i--;
    if (i > 0 && cc->pending[i - 1].m->epoch == m->epoch &&
        cc->pending[i - 1].m->offset == m->offset) {
        sb_cl_entry_free(e);
        return;
    }
    if (cc->npending >= PENDING_MAX) {
        /* a hole that stays open this long is not going to close: give
         * it up (the caller's drain then hands the rest over), or drop
         * the oldest while the baseline has not come */
        cl_entry old;
        if (cc->synced) {
            sb_cl_order_skip(cl, cc);
        } else {
            pop_front(cc, &old);
            sb_cl_entry_free(&old);
            cl->st.history_gaps++;
            if (i > 0)
                i--;
        }
    }
    if (make_room(cc)) {
        cl->st.history_gaps++;
        sb_cl_entry_free(e);
        return;
    }
    memmove(cc->pending + i + 1, cc->pending + i,
            (cc->npending - i) * sizeof *cc->pending);
    cc->pending[i] = *e;
    cc->npending++;
    memset(e, 0, sizeof *e);
}

/* The hole before the first pending entry: wait when this node's own
 * replies still to come can close it, else read it from the stream. */
static void hole(sb_cluster *cl, cl_channel *cc)
{
    const sb_msg *m = cc->pending[0].m;
    uint64_t missing = m->offset - cc->cur_off - 1;

    if (cc->filling || missing <= (uint64_t)cc->own_inflight)
        return;
    sb_cl_hist_fill(cl, cc);
}

/* One step of a walk over a channel's pending entries (walk_pending):
 * takes care of the first entry; returns 1 to go on, 0 to stop. */
typedef int (*pending_step)(sb_cluster *cl, cl_channel *cc, const char *name,
                            size_t len);

/* Steps through the pending entries of the channel called name until the
 * list is empty or step says stop.  A step hands an entry to the hub,
 * which runs Lua that may leave the channel and free its state, name
 * included: the walk keeps a copy of the name and looks the channel up
 * again before each step.  Draining and flushing both walk this way. */
static void walk_pending(sb_cluster *cl, const char *name, size_t len,
                         pending_step step)
{
    char copy[SB_CHANNEL_MAX];
    cl_channel *cc;

    if (len > sizeof copy)
        return;
    memcpy(copy, name, len);
    while ((cc = sb_map_get(&cl->channels, copy, len)) != NULL && cc->npending)
        if (!step(cl, cc, copy, len))
            return;
}

/* A drain step: the first entry goes to the hub when it follows the
 * cursor, a stale one is dropped, a hole stops the drain (and is filled). */
static int drain_step(sb_cluster *cl, cl_channel *cc, const char *name,
                      size_t len)
{
    cl_entry e;

    if (!cc->active || !cc->hist || !cc->synced || cc->draining)
        return 0;
    if (cc->pending[0].m->epoch > cc->cur_epoch) {
        /* a new incarnation of the channel: offsets start again */
        cc->cur_epoch = cc->pending[0].m->epoch;
        cc->cur_off = 0;
    }
    if (stale(cc, cc->pending[0].m)) {
        pop_front(cc, &e);
        sb_cl_entry_free(&e);
        return 1;
    }
    if (cc->pending[0].m->offset != cc->cur_off + 1) {
        hole(cl, cc);
        return 0;
    }
    pop_front(cc, &e);
    cc->cur_off = e.m->offset;
    cc->draining = 1;
    sb_hub_publish_at(cl->hub, e.m, e.except_conn, e.em, e.emlen);
    sb_cl_entry_free(&e);
    if ((cc = sb_map_get(&cl->channels, name, len)) != NULL)
        cc->draining = 0;
    return 1;
}

/* Hands every pending entry that follows the cursor to the hub. */
void sb_cl_order_drain(sb_cluster *cl, const char *name, size_t len)
{
    walk_pending(cl, name, len, drain_step);
}

/* A flush step: the first entry goes to the hub without its id. */
static int flush_step(sb_cluster *cl, cl_channel *cc, const char *name,
                      size_t len)
{
    cl_entry e;

    (void)name;
    (void)len;
    pop_front(cc, &e);
    e.m->epoch = e.m->offset = 0;
    cl->st.unnumbered++;
    sb_hub_publish_at(cl->hub, e.m, e.except_conn, e.em, e.emlen);
    sb_cl_entry_free(&e);
    return 1;
}

/* The link is going down: what waits for a hole still reaches this
 * node's connections, but without ids (they would skip the hole). */
void sb_cl_order_flush(sb_cluster *cl, const char *name, size_t len)
{
    walk_pending(cl, name, len, flush_step);
}
