/* The client-to-server half of RFC 6455 framing, without any I/O.
 *
 * The transport feeds whatever bytes a read returned; the parser calls back
 * once per whole message (fragments joined, text checked as UTF-8) and once
 * per ping, pong or close frame.  A frame that lies whole in the fed buffer
 * is unmasked in place and handed over as a pointer into that buffer, with
 * no copy: on a busy server nearly every frame arrives that way.  Only a
 * frame split across reads, or a message split into fragments, is copied
 * into the parser's own buffer, which is freed as soon as the message is
 * delivered, so an idle connection holds no heap memory here.
 *
 * Errors follow RFC 6455 7.4: 1002 for a framing fault, 1007 for a text
 * message that is not UTF-8, 1009 for a message over the limits, 1011 when
 * memory ran out.  After an error, or after -1, the parser gives the same
 * answer to any later feed; the transport closes with that code and frees
 * the parser.  After a valid close frame, the bytes that follow are
 * ignored (RFC 6455 5.5.1: nothing may follow a close).
 *
 * Callbacks must not feed the same parser again.  The pointers they get are
 * valid only during the call. */
#ifndef SB_WSPARSE_H
#define SB_WSPARSE_H

#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"

typedef struct sb_wsparse_cb {
    void *ud;
    /* A whole message (fragments joined); text already checked UTF-8.
     * Return 0, or nonzero to stop parsing (the feed returns -1 at once).
     * A NULL callback drops what it would have received. */
    int (*message)(void *ud, const char *data, size_t n, int binary);
    int (*ping)(void *ud, const unsigned char *data, size_t n);
    int (*pong)(void *ud, const unsigned char *data, size_t n);
    /* A valid close frame: code 1005 when it had no body; reason is UTF-8. */
    int (*close)(void *ud, int code, const char *reason, size_t n);
} sb_wsparse_cb;

typedef struct sb_wsparse {
    size_t max_message;    /* bytes of one message (all fragments), 1009 beyond */
    size_t max_fragments;  /* frames of one message, 1009 beyond */
    /* Set to 1 to let the first frame of a data message carry RSV1 (for a
     * permessage-deflate layer above, which this parser does not do: the
     * own transport inflates in tcp.c with deflate.h);
     * 0 (the default) refuses it like RSV2 and RSV3. */
    int rsv1_ok;
    /* RSV1 of the message being delivered (read it in the message
     * callback; always 0 unless rsv1_ok).  Such a text message is not
     * checked as UTF-8 here: the layer that inflates it must. */
    int msg_rsv1;

    /* private */
    sb_buf buf;            /* copied message bytes, then a copied control frame */
    uint64_t remaining;    /* payload bytes of the current frame still to come */
    size_t frags;          /* frames of the message in progress */
    size_t ctl_base;       /* where a copied control payload starts in buf */
    const char *err_why;   /* reason of the error in err */
    int err;               /* 0, or what every later feed returns */
    unsigned char hdr[14]; /* header bytes gathered across feeds */
    unsigned char hlen;    /* bytes in hdr */
    unsigned char mask[4];
    unsigned char mpos;    /* mask offset of the next payload byte */
    unsigned char opcode;  /* of the current frame */
    unsigned char fin;
    unsigned char in_frame; /* header done, payload (maybe none) to take */
    unsigned char copying; /* part of the current frame went into buf */
    unsigned char msg_op;  /* 1 text or 2 binary while a message is open */
    unsigned char closed;  /* a close frame was delivered */
} sb_wsparse;

/* Limits are taken literally: SIZE_MAX for none. */
void sb_wsparse_init(sb_wsparse *p, size_t max_message, size_t max_fragments);
/* Frees any joined-message buffer; the parser may be initialised again. */
void sb_wsparse_free(sb_wsparse *p);
/* Feeds bytes as read from the socket; may rewrite them in place
 * (unmasking).  Returns 0 (all consumed, more may come), -1 when a callback
 * returned nonzero, or a close code (1002, 1007, 1009, 1011) for an error
 * with *why set to a short static reason. */
int sb_wsparse_feed(sb_wsparse *p, unsigned char *data, size_t len,
                    const sb_wsparse_cb *cb, const char **why);
/* Heap bytes held for a partial frame or message (for memory accounting):
 * 0 when idle. */
size_t sb_wsparse_held(const sb_wsparse *p);

#endif
