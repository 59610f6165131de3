/* Resuming a stream from a position in a channel's history: the shared
 * part of SSE Last-Event-ID and the native protocol's `since=` option.
 *
 * A position is `<epoch>-<offset>` (proto_sse.h).  Either every message
 * after it is still kept and gets replayed, in order, to the connection, or
 * nothing is replayed and the caller tells the client what is known so it
 * can resync.
 *
 * From the hub's ring (one node, or a cluster node whose cache reaches
 * back far enough) the replay and the hub join happen in the same loop
 * turn, so no publish can fall between them.  In a cluster the rest is
 * read from Redis (sb_hub_history_fetch): the connection joins at once
 * and holds back what the hub delivers meanwhile; when the read comes
 * the replay goes out first, then what was held, minus what the replay
 * already covered; messages the read covered that reach this node only
 * later (the subscription is a separate link from the read) are dropped
 * too, until the first one past the read.  Either way: no gap, no
 * duplicate. */
#ifndef SB_RESUME_H
#define SB_RESUME_H

#include "server.h"

typedef struct sb_resume_fail {
    const char *reason;   /* bad-id, unknown-channel, epoch-changed,
                             unknown-position, history-expired,
                             redis-unavailable, out-of-memory */
    uint64_t epoch;       /* the channel's current position (0-0: none) */
    uint64_t offset;
} sb_resume_fail;

/* How a protocol sends a replayed message and a recovery failure. */
typedef struct sb_resume_ops {
    void (*send)(sb_wsconn *c, sb_msg *m);
    void (*fail)(sb_wsconn *c, const sb_resume_fail *f, const char *id,
                 size_t idlen);
} sb_resume_ops;

enum { SB_RESUME_FAILED = -1, SB_RESUME_ASYNC = -2 };

/* Call before the join.  Replays what followed `id` in c->channel and
 * returns the number replayed (>= 0); or reports the failure through
 * ops->fail and returns SB_RESUME_FAILED; or returns SB_RESUME_ASYNC when
 * the shared history must be read: then join and call sb_resume_fetch.
 * Counts the outcome in the server's stats. */
int sb_resume(sb_wsconn *c, const char *id, size_t idlen,
              const sb_resume_ops *ops);
/* After the join: sends the read that SB_RESUME_ASYNC announced (reports
 * a failure at once if it cannot be sent). */
void sb_resume_fetch(sb_wsconn *c);
/* For the deliver hooks: 1 when m was held back because a read is in
 * flight, or the read already sent it (the caller sends nothing), 0 to
 * send it as usual. */
int sb_resume_hold(sb_wsconn *c, sb_msg *m);
/* The connection is going away: cancels the read, drops what was held. */
void sb_resume_drop(sb_wsconn *c);

/* {"reason":"...","lastEventId":"<id>","epoch":E,"offset":O} */
void sb_resume_fail_json(sb_buf *b, const sb_resume_fail *f, const char *id,
                         size_t idlen);

/* Joins c's one channel (c->channel as c->member) right after sb_resume
 * started (resumed is what it returned), so no message falls between the
 * history and the live ones; marks c open and starts the history read
 * when it was deferred.  Returns 0, or an SB_E* code from the join (the
 * resume is dropped then). */
int sb_resume_join(sb_wsconn *c, int resumed);

#endif
