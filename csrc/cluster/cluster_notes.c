/* Notes between nodes (cluster.h): one "a" message on sb:nodes per note,
 * its text an opaque netstring.  The cluster only carries them; what a
 * note asks is the app's business (its note hook). */
#include "cluster_internal.h"

int sb_cluster_send_note(sb_cluster *cl, const char *text, size_t n)
{
    sb_buf b;
    int rc;

    if (!sb_redis_is_up(cl->r))
        return -1;
    sb_buf_init(&b, 0);
    sb_cl_wire_head(cl, &b, "a");
    sb_cl_ns_add(&b, text, n);
    rc = sb_cl_publish_raw(cl, TAG_OTHER, NULL, 0, &b);
    sb_buf_free(&b);
    return rc;
}

void sb_cluster_on_note(sb_cluster *cl, sb_cluster_note_fn fn, void *ud)
{
    cl->note_fn = fn;
    cl->note_ud = ud;
}

/* Fields: sb1, a, node, sequence, text. */
void sb_cl_note_message(sb_cluster *cl, const field *f, int n)
{
    if (n != 5) {
        cl->st.bad_messages++;
        return;
    }
    if (cl->note_fn)
        cl->note_fn(f[4].p, f[4].n, f[2].p, f[2].n, cl->note_ud);
}
