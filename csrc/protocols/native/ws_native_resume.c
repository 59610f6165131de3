/* Opt-in recovery for native connections (issue 5), kept apart from
 * ws_native.c so the itty-sockets protocol stays exactly as in
 * docs/protocols.md#native-protocol for everyone who does not ask for it.
 *
 * `?recover=true` makes every published message carry `"id":"<epoch>-
 * <offset>"` as its first envelope key; `?since=<id>` additionally replays
 * what followed that id before the connection joins, or sends
 * {"type":"recovery-failed","message":{...}} when history cannot. */
#include "ws_native.h"

#include <stdlib.h>
#include <string.h>

#include "base/str.h"
#include "codec/msgid.h"
#include "net/resume.h"
#include "proto_native.h"
#include "protocols/slots.h"

int sb_native_resume_prepare(sb_wsconn *c, const sb_reqsrc *r)
{
    sb_native_conn *nc = sb_native_of(c);
    char v[256];

    if (sb_request_get(r, "since", v, sizeof v) && v[0]) {
        /* an id too long to be ours still asks for recovery: it gets
         * recovery-failed (bad-id) rather than silence */
        const char *id = strlen(v) <= SB_MSGID_MAX ? v : "x";
        if (!(nc->since = sb_memdup(id, strlen(id))))
            return -1;
        c->proto_hot |= SB_NATIVE_RECOVER;
    }
    if (sb_request_get(r, "recover", v, sizeof v) && strcmp(v, "true") == 0)
        c->proto_hot |= SB_NATIVE_RECOVER;
    return 0;
}

/* The native envelope with "id" spliced in after its '{'; cached per
 * message like every other encoding.  A binary frame has no room for an
 * id: it goes out as it is. */
sb_frame *sb_native_id_frame(sb_msg *m)
{
    sb_frame *plain = sb_native_frame(m);
    sb_buf b;

    if (m->enc[SB_ENC_NATIVE_ID])
        return m->enc[SB_ENC_NATIVE_ID];
    if (!plain || m->binary || !m->epoch || plain->len < 2 || plain->data[0] != '{')
        return plain;
    sb_buf_init(&b, SB_FRAME_PRE);
    sb_buf_adds(&b, "{\"id\":\"");
    sb_msgid_format(&b, m->epoch, m->offset);
    sb_buf_adds(&b, "\",");
    sb_buf_add(&b, plain->data + 1, plain->len - 1);
    m->enc[SB_ENC_NATIVE_ID] = sb_frame_from_buf(&b, 0);
    sb_buf_free(&b);
    return m->enc[SB_ENC_NATIVE_ID];
}

static void sb_native_resume_one(sb_wsconn *c, sb_msg *m)
{
    sb_frame *f = sb_native_frame_for(c, m);

    if (f)
        sb_wsconn_send(c, f);
}

/* {"type":"recovery-failed","message":{...},"date":D} */
static void sb_native_resume_fail(sb_wsconn *c, const sb_resume_fail *fail,
                                  const char *id, size_t idlen)
{
    sb_buf data, b;
    sb_span ev, payload;
    sb_frame *f;

    sb_buf_init(&data, 0);
    sb_resume_fail_json(&data, fail, id, idlen);
    sb_buf_init(&b, SB_FRAME_PRE);
    ev = sb_span_of("recovery-failed", 15);
    payload = sb_span_of((const char *)sb_buf_data(&data), data.len);
    if (!data.oom)
        sb_native_server_event(&b, ev, payload, sb_now_ms());
    f = data.oom ? NULL : sb_frame_from_buf(&b, 0);
    sb_buf_free(&b);
    sb_buf_free(&data);
    if (f)
        sb_wsconn_send(c, f);
    sb_frame_unref(f);
}

static const sb_resume_ops sb_native_resume_ops = {
    sb_native_resume_one, sb_native_resume_fail
};

int sb_native_resume(sb_wsconn *c)
{
    const char *since = sb_native_of(c)->since;

    if (!(c->proto_hot & SB_NATIVE_RECOVER) || !since)
        return 0;
    return sb_resume(c, since, strlen(since), &sb_native_resume_ops);
}
