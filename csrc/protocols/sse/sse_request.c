#include "sse_request.h"

#include <string.h>

#include "hub/hub.h"
#include "proto_sse.h"

/* The resume position among the three places a client may put it. */
static sb_span sb_sse_pick_id(const sb_sse_request_in *in)
{
    if (in->header_id.p)
        return in->header_id;
    if (in->query_id.p)
        return in->query_id;
    return in->query_evs_id;
}

static void sb_sse_take_id(sb_span id, sb_sse_request *out)
{
    if (!id.p || id.n == 0)
        return;
    out->has_last = 1;
    if (id.n > SB_MSGID_MAX || memchr(id.p, '\0', id.n))
        return;   /* stays "": not ours, and not echoed back */
    memcpy(out->last_id, id.p, id.n);
    out->last_id[id.n] = '\0';
    out->last_len = id.n;
    out->last_ok = sb_msgid_parse(id.p, id.n, &out->epoch, &out->offset) == 0;
}

int sb_sse_request_parse(const sb_sse_request_in *in, sb_sse_request *out,
                         const char **why)
{
    static const char prefix[] = "/sse/";
    size_t plen = sizeof prefix - 1;

    memset(out, 0, sizeof *out);
    *why = NULL;
    if (!in->path.p || in->path.n < plen || memcmp(in->path.p, prefix, plen) != 0 ||
        !sb_hub_valid_channel(in->path.p + plen, in->path.n - plen)) {
        *why = "bad channel name: want 1..255 bytes of [A-Za-z0-9_.:@/-]";
        return 400;
    }
    out->channel.p = in->path.p + plen;
    out->channel.n = in->path.n - plen;
    if (in->method == SB_SSE_OTHER) {
        *why = "use GET (stream) or POST (publish)";
        return 405;
    }
    if (in->method == SB_SSE_GET)
        sb_sse_take_id(sb_sse_pick_id(in), out);
    return 0;
}

int sb_sse_valid_event(const char *e, size_t n)
{
    return sb_hub_valid_text(e, n, SB_SSE_EVENT_MAX);
}
