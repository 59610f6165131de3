/* Typing flags and direct messages across nodes (see cluster.h).
 *
 * Typing: every sb_hub_set_typing made on a node goes out as a "t"
 * message on the channel; the other nodes set the flag with
 * sb_hub_remote_typing, which expires it after their own typing_ttl like
 * a local one (a set refreshes it everywhere), so a lost "clear" cannot
 * leave a flag behind.  Nothing is re-sent after an outage: typing is
 * short-lived by nature.
 *
 * Direct messages: a native direct message for a member that is present
 * only on other nodes goes out as a "d" message; every node that has
 * connections of that member hands it to them (sb_hub_deliver_member). */
#include "cluster_internal.h"

#include <string.h>

void sb_cl_on_local_typing(sb_hub *h, const char *ch, size_t chlen,
                           const char *member, size_t mlen, int typing,
                           void *ud)
{
    sb_cluster *cl = ud;
    sb_buf b;

    (void)h;
    if (!sb_redis_is_up(cl->r))
        return;
    sb_buf_init(&b, 0);
    sb_cl_wire_head(cl, &b, "t");
    sb_cl_ns_adds(&b, typing ? "+" : "-");
    sb_cl_ns_add(&b, member, mlen);
    sb_cl_publish_raw(cl, TAG_OTHER, ch, chlen, &b);
    sb_buf_free(&b);
}

void sb_cl_on_local_direct(sb_hub *h, const sb_msg *m, const char *to,
                           size_t tolen, void *ud)
{
    sb_cluster *cl = ud;
    sb_buf b;

    (void)h;
    if (!sb_redis_is_up(cl->r)) {
        cl->st.lost++;
        return;
    }
    sb_buf_init(&b, 0);
    sb_cl_wire_head(cl, &b, "d");
    sb_cl_ns_add(&b, to, tolen);
    sb_cl_wire_msg_fields(&b, m, NULL, 0);
    if (sb_cl_publish_raw(cl, TAG_OTHER, m->channel, m->channel_len, &b) == 0)
        cl->st.published++;
    else
        cl->st.lost++;
    sb_buf_free(&b);
}

void sb_cl_remote_typing(sb_cluster *cl, const char *ch, size_t chlen,
                         const field *f, int n)
{
    if (n != 6 || !(sb_cl_field_is(&f[4], "+") || sb_cl_field_is(&f[4], "-"))) {
        cl->st.bad_messages++;
        return;
    }
    /* a member not (yet) known here is ignored: its flag would have
     * nobody to belong to */
    sb_hub_remote_typing(cl->hub, ch, chlen, f[5].p, f[5].n,
                         sb_cl_field_is(&f[4], "+"));
}

void sb_cl_remote_direct(sb_cluster *cl, const char *ch, size_t chlen,
                         const field *f, int n)
{
    const char *em;
    size_t emlen;
    sb_msg *m;

    if (n != 12) {
        cl->st.bad_messages++;
        return;
    }
    if (!(m = sb_cl_wire_msg(ch, chlen, &f[5], &em, &emlen)))
        return;
    if (sb_hub_deliver_member(cl->hub, m, f[4].p, f[4].n) > 0)
        cl->st.received++;
    sb_msg_unref(m);
}
