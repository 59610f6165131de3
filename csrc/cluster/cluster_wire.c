/* Wire format of the cluster's messages on Redis (see cluster.h).
 *
 * Wire format.  Every Redis pub/sub payload is a list of netstrings
 * ("<len>:<bytes>,"), binary-safe and cheap to parse; the first three are
 * always "sb1", a kind letter and the origin node, the fourth the origin's
 * sequence number (one counter per node, across all its messages):
 *   m  message   flags, date_ms, event, payload, from, alias, except_member
 *                (flags: 1 binary, 2 has from, 4 has alias, 8 has except)
 *   n  numbered  epoch, offset, then the fields of m (a message of a
 *                channel with shared history; Redis numbered it and
 *                published it from the script, see cluster_history.c)
 *   p  presence  "+" or "-", conn id, record   (a connection of the node
 *                joined or left; conn id is "<instance>:<n>", the record
 *                is netstrings member, uid, alias, flags (SB_TAG_*))
 *   s  sync      conn id, record, ...      (node's full connection list)
 *   t  typing    "+" or "-", member        (sb_hub_set_typing on the node)
 *   d  direct    to (member), then the fields of m from flags on
 *                (a direct message for a member on other nodes)
 *   h  heartbeat ttl_ms, instance          (on sb:nodes; instance is a
 *                                          random number per process)
 *   b  goodbye                             (on sb:nodes)
 *   a  note      text                      (on sb:nodes; the app's own,
 *                                          cluster_notes.c)
 * m, n, p, s, t and d travel on sb:ch:<channel>.  Keys: hash sb:pres:<channel> with
 * fields "<node>|<conn id>" = record, and sb:node:<node> = instance with a TTL;
 * history keys are listed in cluster_history.c. */
#include "cluster_internal.h"

#include <stdio.h>
#include <string.h>

/* Netstring helpers. */
void sb_cl_ns_add(sb_buf *b, const char *p, size_t n)
{
    sb_buf_add_u64(b, n);
    sb_buf_addc(b, ':');
    if (n)
        sb_buf_add(b, p, n);
    sb_buf_addc(b, ',');
}

void sb_cl_ns_adds(sb_buf *b, const char *s)
{
    sb_cl_ns_add(b, s, strlen(s));
}

void sb_cl_ns_add_u64(sb_buf *b, uint64_t v)
{
    char tmp[24];
    snprintf(tmp, sizeof tmp, "%llu", (unsigned long long)v);
    sb_cl_ns_adds(b, tmp);
}

/* The common head: sb1, kind, node, sequence. */
void sb_cl_wire_head(sb_cluster *cl, sb_buf *b, const char *kind)
{
    sb_cl_ns_adds(b, "sb1");
    sb_cl_ns_adds(b, kind);
    sb_cl_ns_add(b, cl->node, cl->node_len);
    sb_cl_ns_add_u64(b, ++cl->seq);
}

/* The next netstring of p[0..n) at *pos: 1 and *out, 0 at the end, -1
 * when malformed. */
int sb_cl_wire_next(const char *p, size_t n, size_t *pos, field *out)
{
    size_t i = *pos, len = 0;

    if (i >= n)
        return 0;
    if (p[i] < '0' || p[i] > '9')
        return -1;
    while (i < n && p[i] >= '0' && p[i] <= '9') {
        len = len * 10 + (size_t)(p[i++] - '0');
        if (len > n)
            return -1;
    }
    if (i >= n || p[i] != ':' || n - i - 1 < len + 1 || p[i + 1 + len] != ',')
        return -1;
    out->p = p + i + 1;
    out->n = len;
    *pos = i + len + 2;
    return 1;
}

/* Splits into at most max netstrings; returns the count or -1. */
int sb_cl_wire_split(const char *p, size_t n, field *f, int max)
{
    size_t pos = 0;
    int count = 0, rc;

    while ((rc = sb_cl_wire_next(p, n, &pos, &f[count])) == 1)
        if (++count == max && pos < n)
            return -1;
    return rc < 0 ? -1 : count;
}

uint64_t sb_cl_field_u64(const field *f)
{
    uint64_t v = 0;
    size_t i;

    for (i = 0; i < f->n && f->p[i] >= '0' && f->p[i] <= '9'; i++)
        v = v * 10 + (uint64_t)(f->p[i] - '0');
    return v;
}

int sb_cl_field_is(const field *f, const char *s)
{
    return f->n == strlen(s) && memcmp(f->p, s, f->n) == 0;
}

sb_msg *sb_cl_wire_msg(const char *ch, size_t chlen, const field *f,
                       const char **em, size_t *emlen)
{
    unsigned flags = (unsigned)sb_cl_field_u64(&f[0]);
    sb_msg *m = sb_msg_new(ch, chlen, f[2].p, f[2].n, f[3].p, f[3].n,
                           flags & 2 ? f[4].p : NULL, f[4].n,
                           flags & 4 ? f[5].p : NULL, f[5].n, (int)(flags & 1));

    if (m)
        m->date_ms = (int64_t)sb_cl_field_u64(&f[1]);
    *em = flags & 8 ? f[6].p : NULL;
    *emlen = flags & 8 ? f[6].n : 0;
    return m;
}

void sb_cl_wire_msg_fields(sb_buf *b, const sb_msg *m, const char *em,
                           size_t emlen)
{
    unsigned flags = (m->binary ? 1u : 0u) | (m->from ? 2u : 0u) |
                     (m->alias ? 4u : 0u) | (em ? 8u : 0u);
    char tmp[24];

    snprintf(tmp, sizeof tmp, "%u", flags);
    sb_cl_ns_adds(b, tmp);
    snprintf(tmp, sizeof tmp, "%lld", (long long)m->date_ms);
    sb_cl_ns_adds(b, tmp);
    sb_cl_ns_add(b, m->event, m->event_len);
    sb_cl_ns_add(b, m->payload, m->payload_len);
    sb_cl_ns_add(b, m->from, m->from_len);
    sb_cl_ns_add(b, m->alias, m->alias_len);
    sb_cl_ns_add(b, em, em ? emlen : 0);
}
