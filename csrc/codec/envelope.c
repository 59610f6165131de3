/* Client message envelopes (envelope.h). */
#include "envelope.h"

int sb_envelope_message(sb_buf *b, sb_span uid, sb_span alias, int64_t date,
                        sb_span json)
{
    sb_buf_adds(b, "{\"uid\":");
    sb_buf_add_json_string(b, uid.p, uid.n);
    if (alias.p) {
        sb_buf_adds(b, ",\"alias\":");
        sb_buf_add_json_string(b, alias.p, alias.n);
    }
    sb_buf_adds(b, ",\"date\":");
    sb_buf_add_i64(b, date);
    sb_buf_adds(b, ",\"message\":");
    sb_buf_add(b, json.p, json.n);
    sb_buf_addc(b, '}');
    return b->oom ? SB_CODEC_ENOMEM : SB_CODEC_OK;
}
