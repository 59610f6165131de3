/* Node liveness (see cluster.h): the table of the other nodes, the
 * heartbeats this node sends on sb:nodes, and the expiry that declares a
 * silent node dead (its connections then leave, cluster_presence.c).  A
 * dead node is remembered for a while so that a snapshot read before its
 * death cannot bring its connections back; a heartbeat revives it, and a
 * heartbeat from another instance under its name is a restart. */
#include "cluster_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Node table.  Marks the node alive now; returns NULL if it is dead
 * (unless a heartbeat revives it) or memory ran out. */
cl_node *sb_cl_node_touch(sb_cluster *cl, const char *name, size_t n,
                    double ttl, int revive)
{
    cl_node *nd = sb_map_get(&cl->nodes, name, n);

    if (nd && nd->dead && !revive)
        return NULL;
    if (nd && nd->dead) {
        nd->dead = 0;
        cl->nodes_changed = 1;
    }

    if (!nd) {
        if (!(nd = calloc(1, sizeof *nd)))
            return NULL;
        if (sb_map_put(&cl->nodes, name, n, nd)) {
            free(nd);
            return NULL;
        }
        nd->ttl = cl->ttl;
        cl->nodes_changed = 1;
    }
    nd->last_seen = sb_cl_now_s(cl);
    if (ttl > 0)
        nd->ttl = ttl;
    return nd;
}

/* A node died (TTL) or said goodbye: its connections leave every channel. */
void sb_cl_node_gone(sb_cluster *cl, const char *name, size_t n)
{
    char copy[SB_NODE_MAX + 1];
    cl_node *nd;

    if (n > SB_NODE_MAX)
        return;
    memcpy(copy, name, n);
    nd = sb_map_get(&cl->nodes, copy, n);
    if (nd && nd->dead)
        return;
    if (!nd && !(nd = sb_cl_node_touch(cl, copy, n, 0, 0)))
        return;
    nd->dead = 1;
    cl->nodes_changed = 1;
    nd->last_seen = sb_cl_now_s(cl);
    cl->st.dead_nodes++;
    sb_cl_presence_node_gone(cl, copy, n);
    sb_cl_phx_node_gone(cl, copy, n);
}

void sb_cl_heartbeat(sb_cluster *cl)
{
    char key[sizeof NODE_PREFIX + SB_NODE_MAX], ms[24], inst[24];
    const char *argv[5];
    size_t lens[5];
    sb_buf b;

    snprintf(ms, sizeof ms, "%llu", (unsigned long long)(cl->ttl * 1000));
    snprintf(inst, sizeof inst, "%llu", (unsigned long long)cl->instance);
    argv[0] = "SET";
    lens[0] = 3;
    argv[1] = key;
    lens[1] = sb_cl_make_key(key, sizeof key, NODE_PREFIX, cl->node, cl->node_len);
    argv[2] = inst;     /* the snapshot keeps this instance's keys only */
    lens[2] = strlen(inst);
    argv[3] = "PX";
    lens[3] = 2;
    argv[4] = ms;
    lens[4] = strlen(ms);
    sb_cl_send_argv(cl, TAG_OTHER, 5, argv, lens);
    sb_buf_init(&b, 0);
    sb_cl_wire_head(cl, &b, "h");
    sb_cl_ns_adds(&b, ms);
    sb_cl_ns_add_u64(&b, cl->instance);
    sb_cl_publish_raw(cl, TAG_OTHER, NULL, 0, &b);
    sb_buf_free(&b);
}

/* A heartbeat.  A node coming back from the dead (a stall longer than
 * its TTL) is asked for nothing: every followed channel is re-read.  A
 * heartbeat from a new instance under a known name is a restart: the old
 * process's connections leave first (it died without a goodbye). */
void sb_cl_node_heard(sb_cluster *cl, const char *name, size_t n, double ttl,
                      uint64_t instance)
{
    cl_node *nd = sb_map_get(&cl->nodes, name, n);
    int was_dead;
    sb_map_iter it;
    void *val;

    if (nd && !nd->dead && nd->instance && instance && nd->instance != instance)
        sb_cl_node_gone(cl, name, n);
    nd = sb_map_get(&cl->nodes, name, n);
    was_dead = nd && nd->dead;
    nd = sb_cl_node_touch(cl, name, n, ttl, 1);
    if (nd && instance)
        nd->instance = instance;
    if (!was_dead)
        return;
    if (cl->pres_subscribed)
        sb_cl_request_snapshot(cl);
    sb_map_iter_init(&it);
    while (sb_map_next(&cl->channels, &it, NULL, NULL, &val)) {
        cl_channel *cc = val;
        if (cc->active && cc->subscribed && !cc->unsubscribing && !cc->phx_snapshot)
            sb_cl_phx_request_snapshot(cl, cc);
    }
}

/* Heartbeats and node expiry, ttl/20 apart.  Expiry waits while the link
 * is down: silence then says nothing about the other nodes. */
void sb_cl_on_tick(uv_timer_t *t)
{
    sb_cluster *cl = t->data;
    double now = sb_cl_now_s(cl);
    sb_map_iter it;
    const void *name;
    size_t n, i;
    void *val;
    strlist dead;

    if (!sb_redis_is_up(cl->r))
        return;
    if (now >= cl->next_beat) {
        sb_cl_heartbeat(cl);
        cl->next_beat = now + cl->ttl / 4;
    }
    memset(&dead, 0, sizeof dead);
    sb_map_iter_init(&it);
    while (sb_map_next(&cl->nodes, &it, &name, &n, &val)) {
        cl_node *nd = val;
        if (now - nd->last_seen > (nd->dead ? nd->ttl * 3 : nd->ttl * 0.85))
            sb_cl_strlist_add(&dead, name, n);
    }
    for (i = 0; i < dead.n; i++) {
        cl_node *nd = sb_map_get(&cl->nodes, dead.s[i], dead.len[i]);
        if (nd && nd->dead)
            free(sb_map_del(&cl->nodes, dead.s[i], dead.len[i]));
        else
            sb_cl_node_gone(cl, dead.s[i], dead.len[i]);
    }
    sb_cl_strlist_free(&dead);
}
