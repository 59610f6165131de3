/* Resuming a stream from a position in a channel's history: the shared
 * part of SSE Last-Event-ID and the native protocol's `since=` option.
 *
 * A position is `<epoch>-<offset>` (proto_sse.h).  Either every message
 * after it is still kept and gets replayed, in order, to the connection, or
 * nothing is replayed and the caller tells the client what is known so it
 * can resync.  Replay and the hub join happen in the same loop turn, so no
 * publish can fall between them: no gap, no duplicate. */
#ifndef SB_RESUME_H
#define SB_RESUME_H

#include "server.h"

typedef struct sb_resume_fail {
    const char *reason;   /* bad-id, unknown-channel, epoch-changed,
                             unknown-position, history-expired, out-of-memory */
    uint64_t epoch;       /* the channel's current position (0-0: none) */
    uint64_t offset;
} sb_resume_fail;

typedef void (*sb_resume_send_fn)(sb_wsconn *c, sb_msg *m);

/* Replays what followed `id` in c->channel through send.  Returns the
 * number replayed (>= 0), or -1 with *fail filled.  Counts the outcome in
 * the server's stats. */
int sb_resume(sb_wsconn *c, const char *id, size_t idlen,
              sb_resume_send_fn send, sb_resume_fail *fail);

/* {"reason":"...","lastEventId":"<id>","epoch":E,"offset":O} */
void sb_resume_fail_json(sb_buf *b, const sb_resume_fail *f, const char *id,
                         size_t idlen);

#endif
