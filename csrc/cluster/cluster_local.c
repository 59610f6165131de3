/* Messages between sibling workers of one machine (listen{ workers = N }):
 * the cluster's side of net/siblings.h.
 *
 * A worker's node is "<base>-w<k>"; its siblings are "<base>-w1" ..
 * "<base>-wN".  A plain message ("m", no shared history) of this node
 * goes to every sibling that follows its channel through the siblings'
 * path, and to Redis only while this node cannot be sure that no node
 * of another machine is alive: until its presence snapshot is read on
 * the current link (every node with connections is then known) and a
 * heartbeat interval has passed since it connected (every live node has
 * then beaten once), and whenever its node table holds a live node that
 * is not a sibling.  A node of another machine announces itself
 * (heartbeat) on connecting, before it subscribes to any channel, so it
 * is heard before it can want a message.  A sibling's "m" that arrives through Redis as well is
 * dropped: the path delivered it (cluster_receive.c).
 *
 * Everything else (presence, history, typing, direct messages, Phoenix
 * metas, notes, node liveness) still goes through Redis. */
#include "cluster_internal.h"

#include <string.h>

#include "net/siblings.h"

/* The digits after "-w" at the end of name[0..n), or 0. */
static int worker_suffix(const char *name, size_t n, size_t *base_len)
{
    size_t i = n;
    int k = 0, mul = 1;

    while (i > 0 && name[i - 1] >= '0' && name[i - 1] <= '9' && n - i < 4) {
        k += (name[i - 1] - '0') * mul;
        mul *= 10;
        i--;
    }
    if (i == n || i < 3 || name[i - 1] != 'w' || name[i - 2] != '-')
        return 0;
    *base_len = i - 2;
    return k;
}

/* Records from the siblings: their "m" payloads into the local fan-out. */
static void on_sibling_record(const char *ch, size_t chlen, const char *p,
                              size_t n, void *ud)
{
    sb_cluster *cl = ud;
    field f[FIELDS_MAX];
    size_t pos = 0;
    cl_channel *cc = sb_map_get(&cl->channels, ch, chlen);
    int nf;

    if (!cc || !cc->active)
        return;     /* stopped following it, or a slot shared with another */
    nf = sb_cl_read_fields(p, n, f, &pos);
    if (nf < 0 || f[1].p[0] != 'm' || !sb_cl_is_sibling(cl, f[2].p, f[2].n)) {
        cl->st.bad_messages++;
        return;
    }
    cl->st.local_received++;
    sb_cl_deliver_remote(cl, ch, chlen, f, nf);
}

void sb_cl_local_init(sb_cluster *cl, struct sb_siblings *sib)
{
    size_t base_len;

    if (!sib || worker_suffix(cl->node, cl->node_len, &base_len) != sb_siblings_self(sib) ||
        sb_siblings_listen(sib, on_sibling_record, cl))
        return;
    cl->sib = sib;
    cl->base_len = base_len;
    cl->nodes_changed = 1;
}

void sb_cl_local_free(sb_cluster *cl)
{
    if (cl->sib)
        sb_siblings_listen(cl->sib, NULL, NULL);
    cl->sib = NULL;
}

void sb_cl_local_follow(sb_cluster *cl, const char *ch, size_t chlen, int on)
{
    if (cl->sib)
        sb_siblings_follow(cl->sib, ch, chlen, on);
}

int sb_cl_is_sibling(const sb_cluster *cl, const char *name, size_t n)
{
    size_t base_len;
    int k;

    if (!cl->sib || (n == cl->node_len && memcmp(name, cl->node, n) == 0))
        return 0;
    k = worker_suffix(name, n, &base_len);
    return k >= 1 && k <= sb_siblings_count(cl->sib) && base_len == cl->base_len &&
           memcmp(name, cl->node, base_len) == 0;
}

/* Is a node of another machine alive, as far as this node knows?  Read
 * again only after the node table changed (sb_cl_node_touch/gone). */
static int foreign_alive(sb_cluster *cl)
{
    sb_map_iter it;
    const void *name;
    size_t n;
    void *val;

    if (!cl->nodes_changed)
        return cl->foreign;
    cl->nodes_changed = 0;
    cl->foreign = 0;
    sb_map_iter_init(&it);
    while (!cl->foreign && sb_map_next(&cl->nodes, &it, &name, &n, &val))
        cl->foreign = !((cl_node *)val)->dead && !sb_cl_is_sibling(cl, name, n);
    return cl->foreign;
}

int sb_cl_local_publish(sb_cluster *cl, const char *ch, size_t chlen,
                        const sb_buf *payload)
{
    int r;

    if (!cl->sib)
        return 1;
    if (!payload->oom) {
        r = sb_siblings_send(cl->sib, ch, chlen, sb_buf_data(payload), payload->len);
        if (r < 0)
            cl->st.local_lost++;
        else
            cl->st.local_sent += (uint64_t)r;
    }
    return !cl->st.synced || sb_cl_now_s(cl) < cl->local_after || foreign_alive(cl);
}
