/* The envelope of a message a client published: who sent it, when, and
 * the JSON it sent.  It is the native wire's message frame, and what the
 * other protocols carry as the payload of a client's message, so every
 * client sees the same sender fields whatever protocol it speaks. */
#ifndef SB_ENVELOPE_H
#define SB_ENVELOPE_H

#include <stdint.h>

#include "base/buf.h"
#include "codec.h"
#include "json.h"

/* {"uid":U,"alias":A,"date":D,"message":M}; alias left out when alias.p
 * is NULL.  json must already be valid JSON (it is copied as it is).
 * Returns 0 or SB_CODEC_ENOMEM. */
int sb_envelope_message(sb_buf *b, sb_span uid, sb_span alias, int64_t date,
                        sb_span json);

#endif
