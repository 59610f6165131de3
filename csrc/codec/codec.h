/* The error contract shared by the protocol codecs.
 *
 * Decoders and encoders return 0 or one of the negative SB_CODEC_E* codes
 * below and, when given an sb_codec_err, fill it with the code, the byte
 * offset in the input where the problem was found and a short static
 * message.  Transports turn these into error events or close reasons; a bad
 * frame never needs to end a connection. */
#ifndef SB_CODEC_H
#define SB_CODEC_H

#include <stddef.h>

enum {
    SB_CODEC_OK = 0,
    SB_CODEC_ENOMEM = -1,   /* the output buffer ran out of memory */
    SB_CODEC_EJSON = -2,    /* not JSON: syntax, bad UTF-8, too deep */
    SB_CODEC_ESHAPE = -3,   /* valid JSON of the wrong shape or arity */
    SB_CODEC_EREF = -4,     /* ref / join_ref neither a string nor null */
    SB_CODEC_EFIELD = -5,   /* a field has the wrong type or bad bytes */
    SB_CODEC_EDM = -6,      /* malformed direct-message prefix */
    SB_CODEC_ETOOLONG = -7, /* binary string field over 255 bytes */
    SB_CODEC_ETRUNC = -8,   /* binary frame shorter than its header */
    SB_CODEC_EKIND = -9,    /* binary frame kind not accepted here */
    SB_CODEC_EID = -10,     /* SSE event id not <epoch>-<offset> */
    SB_CODEC_EURL = -11     /* bad %-escape, NUL or invalid UTF-8 */
};

typedef struct sb_codec_err {
    int code;
    size_t pos;       /* byte offset into the input */
    const char *msg;  /* static text, never freed */
} sb_codec_err;

/* Fills e (when not NULL) and returns code, so a decoder can write
 * `return sb_codec_fail(e, SB_CODEC_EDM, 0, "...")`. */
int sb_codec_fail(sb_codec_err *e, int code, size_t pos, const char *msg);
/* A fixed description of a code, for logs and error events. */
const char *sb_codec_strerror(int code);

#endif
