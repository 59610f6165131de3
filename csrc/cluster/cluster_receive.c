/* What arrives from the other nodes (see cluster.h): every Redis pub/sub
 * message is split into its fields (the format is in cluster_wire.c),
 * dropped when this node sent it itself, and handed by its kind to the
 * file that owns that part of the cluster: messages into the local
 * fan-out here, presence and heartbeats to cluster_presence.c, history to
 * cluster_history.c, Phoenix metas to cluster_phx.c, typing and direct
 * messages to cluster_direct.c. */
#include "cluster_internal.h"

#include <stdio.h>
#include <string.h>

void sb_cl_deliver_remote(sb_cluster *cl, const char *ch, size_t chlen,
                          const field *f, int n)
{
    const char *em;
    size_t emlen;
    sb_msg *m;

    if (n != 11) {
        cl->st.bad_messages++;
        return;
    }
    if (!(m = sb_cl_wire_msg(ch, chlen, &f[4], &em, &emlen)))
        return;
    cl->st.received++;
    sb_hub_publish_remote(cl->hub, m, em, emlen);
    sb_msg_unref(m);
}

/* A "p" message: one connection of the sending node came or went
 * (fields: +/-, channel, connection id, record). */
static void remote_presence(sb_cluster *cl, const field *f, int n)
{
    char k[KEY_MAX + 1];
    size_t klen;

    if (n != 8 || !f[5].n || f[5].n > SB_CHANNEL_MAX ||
        !(klen = sb_cl_node_key(k, KEY_MAX, f[2].p, f[2].n, f[6].p, f[6].n))) {
        cl->st.bad_messages++;
        return;
    }
    sb_cl_remote_set(cl, f[5].p, f[5].n, k, klen, f[7].p, f[7].n,
                     sb_cl_field_is(&f[4], "+"), 1);
}

/* A message on sb:pres: a connection's change or a node's sync. */
static void presence_message(sb_cluster *cl, const field *f, int n,
                             const char *data, size_t len, size_t pos)
{
    if (f[1].p[0] == 'p')
        remote_presence(cl, f, n);
    else if (f[1].p[0] == 's')
        sb_cl_sync_remote(cl, &f[2], data, len, pos);
    else
        cl->st.bad_messages++;
}

/* Splits a payload into f; returns the field count, or -1 for what is
 * not a message of another node's ("sb1", a one-letter kind, a valid
 * node name).  *pos is left after the 4-field head, where an "s" or "X"
 * list goes on: those may list any number of entries, so only their head
 * goes into f. */
int sb_cl_read_fields(const char *data, size_t len, field *f, size_t *pos)
{
    int n = 0;

    while (n < 4 && sb_cl_wire_next(data, len, pos, &f[n]) == 1)
        n++;
    if (n == 4 && f[1].n == 1 && f[1].p[0] != 's' && f[1].p[0] != 'X')
        n = sb_cl_wire_split(data, len, f, FIELDS_MAX);
    if (n < 4 || !sb_cl_field_is(&f[0], "sb1") || f[1].n != 1 ||
        !sb_cluster_valid_node(f[2].p, f[2].n))
        return -1;
    return n;
}

/* 1 for a message this node sent itself (delivered locally already).  A
 * heartbeat of another instance under our name means two processes
 * share it and ignore each other: said once in the log. */
static int from_self(sb_cluster *cl, const field *f, int n)
{
    char line[256];

    if (f[2].n != cl->node_len || memcmp(f[2].p, cl->node, f[2].n) != 0)
        return 0;
    if (f[1].p[0] == 'h' && n >= 6 && sb_cl_field_u64(&f[5]) != cl->instance &&
        !cl->twin_logged) {
        cl->twin_logged = 1;
        snprintf(line, sizeof line,
                 "switchboard(redis): another process also uses node name "
                 "%s: they will not see each other's messages; give every "
                 "node its own name", cl->node);
        sb_cl_log(cl, line);
    }
    return 1;
}

/* A message on sb:nodes: a heartbeat, a goodbye or a note. */
static void node_message(sb_cluster *cl, const field *f, int n)
{
    if (f[1].p[0] == 'h' && n >= 5)
        sb_cl_node_heard(cl, f[2].p, f[2].n, (double)sb_cl_field_u64(&f[4]) / 1000.0,
                         n >= 6 ? sb_cl_field_u64(&f[5]) : 0);
    else if (f[1].p[0] == 'b')
        sb_cl_node_gone(cl, f[2].p, f[2].n);
    else if (f[1].p[0] == 'a')
        sb_cl_note_message(cl, f, n);
}

/* A message on followed channel cc, by its kind (cluster_wire.c).  ch
 * is its name in the Redis message, which outlives cc should a hub call
 * end the following; data, len and pos are the payload and where an "s"
 * or "X" list goes on. */
static void channel_message(sb_cluster *cl, cl_channel *cc, const char *ch,
                            size_t chlen, const field *f, int n,
                            const char *data, size_t len, size_t pos)
{
    switch (f[1].p[0]) {
    case 'm':
        sb_cl_deliver_remote(cl, ch, chlen, f, n);
        break;
    case 'n':
        if (cc->hist)
            sb_cl_hist_message(cl, cc, f, n);
        else if (n == 13)   /* this node keeps no history there */
            sb_cl_deliver_remote(cl, ch, chlen, f + 2, 11);
        else
            cl->st.bad_messages++;
        break;
    case 't':
        sb_cl_remote_typing(cl, ch, chlen, f, n);
        break;
    case 'x':
        sb_cl_phx_message(cl, cc, f, n);
        break;
    case 'X':
        sb_cl_phx_sync(cl, cc, &f[2], data, len, pos);
        break;
    case 'd':
        sb_cl_remote_direct(cl, ch, chlen, f, n);
        break;
    default:
        cl->st.bad_messages++;
    }
}

void sb_cl_on_message(sb_redis *r, const char *ch, size_t chlen,
                      const char *data, size_t len, void *ud)
{
    sb_cluster *cl = ud;
    field f[FIELDS_MAX];
    size_t pos = 0;
    int n = sb_cl_read_fields(data, len, f, &pos);
    cl_channel *cc;

    (void)r;
    if (n < 0) {
        cl->st.bad_messages++;
        return;
    }
    if (from_self(cl, f, n))
        return;
    /* a sibling worker's message came through the siblings' path */
    if (f[1].p[0] == 'm' && sb_cl_is_sibling(cl, f[2].p, f[2].n))
        return;
    if (chlen == strlen(NODES_CHANNEL) && memcmp(ch, NODES_CHANNEL, chlen) == 0) {
        node_message(cl, f, n);
        return;
    }
    if (chlen == strlen(PRES_CHANNEL) && memcmp(ch, PRES_CHANNEL, chlen) == 0) {
        if (sb_cl_node_touch(cl, f[2].p, f[2].n, 0, 0))
            presence_message(cl, f, n, data, len, pos);
        return; /* else: a node declared dead; wait for a heartbeat */
    }
    if (!(cc = sb_cl_channel_of(cl, &ch, &chlen)) || !cc->active)
        return; /* stopped following it; the unsubscribe is on its way */
    if (!sb_cl_node_touch(cl, f[2].p, f[2].n, 0, 0) &&
        !(f[1].p[0] && strchr("mnd", f[1].p[0])))
        return; /* presence of a node declared dead: wait for a heartbeat */
    channel_message(cl, cc, ch, chlen, f, n, data, len, pos);
}
