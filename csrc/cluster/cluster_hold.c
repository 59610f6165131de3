/* Publishes that wait for their channel's subscription (see cluster.h).
 *
 * A node announces its connections of a channel only once its
 * subscription to the channel is confirmed: a node that heard of a
 * connection can then answer it and be sure the answer reaches it.  Its
 * own publishes to the channel made meanwhile (one Redis round trip) wait
 * too, so that every node sees a member's join before its messages; local
 * fan-out does not wait (except for a shared history, whose numbers come
 * from Redis). */
#include "cluster_internal.h"

#include <stdlib.h>
#include <string.h>

#include "base/str.h"

int sb_cl_hold(cl_channel *cc, sb_msg *m, uint64_t except_id, const char *em,
               size_t emlen, int hist)
{
    cl_held *h = calloc(1, sizeof *h);

    if (!h)
        return -1;
    if (em && !(h->em = sb_memdup(em, emlen))) {
        free(h);
        return -1;
    }
    h->m = sb_msg_ref(m);
    h->except_id = except_id;
    h->emlen = emlen;
    h->hist = hist;
    if (!cc->held)
        cc->held_tail = &cc->held;
    *cc->held_tail = h;
    cc->held_tail = &h->next;
    return 0;
}

void sb_cl_publish_msg(sb_cluster *cl, const sb_msg *m, const char *em,
                       size_t emlen)
{
    sb_buf b;

    sb_buf_init(&b, 0);
    /* one allocation: the fields, their netstring heads and the head */
    sb_buf_reserve(&b, 128 + cl->node_len + m->event_len + m->payload_len +
                   m->from_len + m->alias_len + emlen);
    sb_cl_wire_head(cl, &b, "m");
    sb_cl_wire_msg_fields(&b, m, em, emlen);
    /* sibling workers first: they need no Redis (cluster_local.c) */
    if (sb_cl_local_publish(cl, m->channel, m->channel_len, &b)) {
        if (sb_redis_is_up(cl->r) &&
            sb_cl_publish_raw(cl, TAG_PUBLISH, m->channel, m->channel_len, &b) == 0)
            cl->st.published++;
        else
            cl->st.lost++;
    }
    sb_buf_free(&b);
}

/* A held message of a shared history that will not get a number: this
 * node's connections get it without one, like any publish Redis refused. */
static void deliver_unnumbered(sb_cluster *cl, cl_held *h)
{
    h->m->epoch = h->m->offset = 0;
    cl->st.unnumbered++;
    sb_hub_publish_at(cl->hub, h->m, h->except_id, h->em, h->emlen);
}

void sb_cl_release_held(sb_cluster *cl, cl_channel *cc, int send)
{
    /* taken off cc first: a delivery runs Lua, which may end the
     * following and free cc */
    cl_held *h, *list = cc->held;
    int rc;

    cc->held = NULL;
    cc->held_tail = NULL;
    while ((h = list) != NULL) {
        list = h->next;
        if (!send) {
            cl->st.lost++;
            if (h->hist)
                deliver_unnumbered(cl, h);
        } else if (h->hist) {
            rc = sb_cl_hist_publish(cl, h->m, h->except_id, h->em, h->emlen);
            if (rc != SB_PUBLISH_TAKEN)
                deliver_unnumbered(cl, h);
        } else {
            sb_cl_publish_msg(cl, h->m, h->em, h->emlen);
        }
        sb_msg_unref(h->m);
        free(h->em);
        free(h);
    }
}

void sb_cl_drop_held(cl_channel *cc)
{
    cl_held *h;

    while ((h = cc->held) != NULL) {
        cc->held = h->next;
        sb_msg_unref(h->m);
        free(h->em);
        free(h);
    }
    cc->held_tail = NULL;
}
