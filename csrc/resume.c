#include "resume.h"

#include <string.h>

#include "proto_sse.h"

struct sb_resume_ctx {
    sb_wsconn *c;
    sb_resume_send_fn send;
};

static void sb_resume_one(sb_msg *m, void *ud)
{
    struct sb_resume_ctx *x = ud;

    x->send(x->c, m);
}

/* Names why the hub could not serve the position, from what it knows now,
 * so the client can tell "channel recreated" from "you were away too long". */
static const char *sb_resume_why(uint64_t want_epoch, uint64_t want_off,
                                 uint64_t epoch, uint64_t off)
{
    if (!epoch)
        return "unknown-channel";
    if (want_epoch != epoch)
        return "epoch-changed";
    if (want_off > off)
        return "unknown-position";
    return "history-expired";
}

int sb_resume(sb_wsconn *c, const char *id, size_t idlen,
              sb_resume_send_fn send, sb_resume_fail *fail)
{
    sb_hub *hub = sb_server_hub(c->srv);
    sb_server_stats *st = sb_server_stats_of(c->srv);
    struct sb_resume_ctx x;
    uint64_t e = 0, o = 0;
    int rc;

    memset(fail, 0, sizeof *fail);
    sb_hub_position(hub, c->channel, strlen(c->channel), &fail->epoch,
                    &fail->offset);
    if (sb_sse_parse_id(id, idlen, &e, &o)) {
        fail->reason = "bad-id";
        st->recovery_failed++;
        return -1;
    }
    x.c = c;
    x.send = send;
    rc = sb_hub_replay(hub, c->channel, strlen(c->channel), e, o,
                       sb_resume_one, &x);
    if (rc >= 0) {
        st->recovered++;
        return rc;
    }
    fail->reason = rc == SB_ENOMEM ? "out-of-memory"
                   : sb_resume_why(e, o, fail->epoch, fail->offset);
    st->recovery_failed++;
    return -1;
}

void sb_resume_fail_json(sb_buf *b, const sb_resume_fail *f, const char *id,
                         size_t idlen)
{
    size_t i;

    /* the id comes from the client: echo it only when it is plain ASCII,
     * so the JSON stays valid UTF-8 whatever was sent */
    for (i = 0; i < idlen; i++)
        if ((unsigned char)id[i] < 0x20 || (unsigned char)id[i] > 0x7e)
            idlen = 0;
    sb_buf_adds(b, "{\"reason\":");
    sb_buf_add_json_string(b, f->reason, strlen(f->reason));
    sb_buf_adds(b, ",\"lastEventId\":");
    sb_buf_add_json_string(b, id, idlen);
    sb_buf_adds(b, ",\"epoch\":");
    sb_buf_add_u64(b, f->epoch);
    sb_buf_adds(b, ",\"offset\":");
    sb_buf_add_u64(b, f->offset);
    sb_buf_addc(b, '}');
}
