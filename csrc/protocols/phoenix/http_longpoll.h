/* Phoenix over LongPoll (docs/protocols.md#longpoll): the transport
 * phoenix.js falls back to where WebSockets are blocked, on
 * `<mount>/longpoll` of every Phoenix mount.
 *
 * A session is one more connection of the server and of the hub: its
 * sb_wsconn speaks Phoenix through the same functions as a WebSocket
 * (ws_phoenix.h: joins, events, replies, presence, the app's hooks), and
 * only the carrying differs.  The connection is detached (net/proto.h):
 * it has no socket of its own, frames queue on it between requests, and a
 * GET (a poll) takes what is queued, or is held open until something
 * arrives or the window passes; a POST hands it the client's messages.
 * The session token names the connection across those requests.
 *
 *   http_longpoll.c     the ops, routing, GET, OPTIONS and the answers
 *   longpoll_session.c  sessions: token, held poll, expiry, the tick
 *   longpoll_post.c     POST bodies
 *   proto_longpoll.c    the bodies and tokens, without I/O */
#ifndef SB_HTTP_LONGPOLL_H
#define SB_HTTP_LONGPOLL_H

#include <stdint.h>

#include "base/map.h"
#include "net/server.h"
#include "proto_longpoll.h"

extern const sb_proto_ops sb_longpoll_ops;

typedef struct sb_lp_session sb_lp_session;
typedef struct sb_lp_req sb_lp_req;

/* The transport's per-server state: its options, the live sessions, and
 * one timer for all of them (held polls that run out, sessions that stop
 * polling). */
typedef struct sb_lp_server {
    lws_sorted_usec_list_t sul;   /* first: the tick finds its state */
    struct lws_context *ctx;      /* the tick is scheduled on it, else NULL */
    int off;                      /* longpoll = false */
    int64_t window_ms;            /* a poll is held at most this long */
    int64_t timeout_ms;           /* a session without a poll ends after */
    size_t max_body;              /* bytes of one POST */
    sb_map sessions;              /* token -> sb_lp_session */
    sb_lp_session *list;          /* every linked session and tombstone */
} sb_lp_server;

/* One session: the connection and what ties it to the requests. */
struct sb_lp_session {
    sb_wsconn *c;                 /* NULL: a tombstone (longpoll_session.c) */
    char token[SB_LP_TOKEN_LEN + 1];
    int linked;                   /* in the map and the list */
    sb_lp_req *poll;              /* the poll held open, or NULL */
    int64_t idle_until_ms;        /* no poll held: the session ends then */
    sb_lp_session *prev, *next;
};

/* What a request of this transport keeps in the server's per-request
 * slot until it is answered (a held poll, a POST body). */
struct sb_lp_req {
    struct lws *wsi;
    char token[SB_LP_TOKEN_LEN + 1];  /* the session it named, or "" */
    /* a held poll */
    sb_lp_session *session;       /* NULL once let go of (see gone) */
    int gone;                     /* let go of because the session ended */
    int64_t until_ms;             /* answered 204 then */
    int due;                      /* a writeable callback is on its way */
    /* a POST */
    int post;
    int batch;                    /* application/x-ndjson */
    int too_big;
    int answered;                 /* the 413 went out before the body */
    size_t seen;
    int64_t deadline_ms;          /* the whole body must be in by then */
    sb_buf body;
};

/* The per-server state (NULL when the server has none). */
sb_lp_server *sb_lp_server_of(sb_server *s);

/* The session token a request names: the X-Phoenix-Longpoll-Token
 * header, else the last `token` of the query, copied into out (a value
 * that is not a token's length gives ""). Returns 0 when it names none,
 * 1 for a single `token` query argument (which may also be the app's own
 * socket param on a first poll), 2 when the request surely carries a
 * session token (the header, or `token` given twice: the app's param,
 * then the session's). */
int sb_lp_request_token(struct lws *wsi, char out[SB_LP_TOKEN_LEN + 1]);

/* Sessions (longpoll_session.c). */
sb_lp_session *sb_lp_find(sb_lp_server *t, const char *token);
/* A new session's state for c, with a fresh token; not linked yet.  0 or
 * -1 (out of memory). */
int sb_lp_session_new(sb_wsconn *c, struct lws *wsi);
/* Links the session of an accepted connection and starts the tick; 0, or
 * -1 when memory ran out. */
int sb_lp_session_link(sb_lp_server *t, sb_wsconn *c, struct lws *wsi);
sb_lp_session *sb_lp_session_of(sb_wsconn *c);
/* Unlinks and frees a session (a tombstone, or one never linked). */
void sb_lp_forget(sb_lp_server *t, sb_lp_session *ss);
/* The client was heard from: the session lives timeout_ms more. */
void sb_lp_session_touch(sb_lp_server *t, sb_lp_session *ss);
/* Holds a poll open on the session (an older one is let go of with a
 * 204). */
void sb_lp_hold(sb_lp_server *t, sb_lp_session *ss, sb_lp_req *r);
/* Takes a held poll off its session (it is being answered). */
void sb_lp_unhold(sb_lp_server *t, sb_lp_req *r);
/* The poll held on ss, if any, is answered 204: a newer one takes its
 * place, or what is queued is being answered on another request. */
void sb_lp_let_go(sb_lp_server *t, sb_lp_session *ss);
/* Asks for the writeable callback that answers a held poll. */
void sb_lp_wake(sb_lp_req *r);
void sb_lp_want_write(sb_wsconn *c);
void sb_lp_release(sb_wsconn *c);
void sb_lp_tick_stop(sb_lp_server *t);

/* Answers (http_longpoll.c).  sb_lp_write: a whole JSON answer, its
 * body built with LWS_PRE bytes of headroom (0 or -1); sb_lp_reply: the
 * same and the end of the transaction; returns what the lws callback
 * returns.
 * sb_lp_answer_poll: a poll's answer with everything queued on ss (200,
 * or when nothing is: 204, or 410 for a closing session, which then
 * ends). */
int sb_lp_write(struct lws *wsi, unsigned int http_status, const sb_buf *body);
int sb_lp_reply(struct lws *wsi, unsigned int http_status, const sb_buf *body);
int sb_lp_reply_status(struct lws *wsi, int status, const char *error);
int sb_lp_answer_poll(sb_lp_server *t, sb_lp_session *ss, struct lws *wsi);

/* POST (longpoll_post.c): the request's start, its body's parts, its end. */
int sb_lp_post_start(sb_server *s, sb_lp_server *t, struct lws *wsi, sb_lp_req *r);
int sb_lp_post_body(sb_server *s, struct lws *wsi, void **req_state,
                    const void *in, size_t len);
int sb_lp_post_done(sb_server *s, struct lws *wsi, void **req_state);

#endif
