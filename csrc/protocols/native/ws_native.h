/* The native protocol on a server connection
 * (docs/protocols.md#native-protocol, the itty-sockets wire format): one
 * channel per connection, join/leave events, relay to the channel through the
 * hub, direct messages by uid. */
#ifndef SB_WS_NATIVE_H
#define SB_WS_NATIVE_H

#include <stdint.h>

#include "net/server.h"

extern const sb_proto_ops sb_native_ops;

/* A native connection's own state (its c->proto). */
typedef struct sb_native_conn {
    unsigned echo : 1;       /* ?echo=true: gets its own messages back */
    unsigned announce : 1;   /* ?announce=true: uid/alias in join/leave */
    unsigned list : 1;       /* ?list=true: the joiner gets the users */
    uint64_t join_seq;       /* when it joined, among its server's presence
                                events (ws_native_presence.h) */
    struct sb_native_pres *pres;  /* its server's queued presence events */
    char *since;             /* resume position from ?since=, or NULL */
    char *deny_publish;      /* why this client may not publish, or NULL
                                (listen-only channels, send keys) */
} sb_native_conn;

/* A native connection's bits in c->proto_hot (server.h), which its
 * deliveries read instead of its sb_native_conn (one cache miss fewer per
 * delivery, bench/RESULTS.md): */
#define SB_NATIVE_RECOVER 1u  /* opted in to message ids (ws_native_resume.c) */
#define SB_NATIVE_BINARY 2u   /* ?binary=true: gets binary messages as binary
                                 frames (itty clients cannot read them) */

static inline sb_native_conn *sb_native_of(const sb_wsconn *c)
{
    return (sb_native_conn *)c->proto;
}

/* What c is sent for m: NULL when nothing (a binary message to a client
 * without `binary`, or memory ran out). */
sb_frame *sb_native_frame_for(const sb_wsconn *c, sb_msg *m);
/* The hub's deliver hook for native connections. */
void sb_native_deliver(sb_conn *hc, sb_msg *m, void *ud);
/* Encodes m as a native frame (cached in m->enc): a JSON envelope, or for
 * a binary message its bytes as one binary frame; NULL if memory ran out.
 * Only connections with `binary` may be sent the binary ones. */
sb_frame *sb_native_frame(sb_msg *m);

/* Opt-in recovery (ws_native_resume.c): reads ?recover= and ?since=,
 * replays or reports recovery-failed before the join (or announces a
 * read of the shared history: returns SB_RESUME_ASYNC, see resume.h), and
 * encodes messages with their "id" for connections that asked. */
int sb_native_resume_prepare(sb_wsconn *c, const sb_reqsrc *r);
int sb_native_resume(sb_wsconn *c);
sb_frame *sb_native_id_frame(sb_msg *m);

#endif
