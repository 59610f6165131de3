/* Published messages: immutable once published, reference-counted, with a
 * per-protocol encoding cache (see sb_msg in hub.h). */
#include "hub_internal.h"
#include "base/str.h"

#include <stdlib.h>
#include <string.h>

sb_msg *sb_msg_new(const char *channel, size_t channel_len,
                   const char *event, size_t event_len,
                   const char *payload, size_t payload_len,
                   const char *from, size_t from_len,
                   const char *alias, size_t alias_len, int binary)
{
    sb_msg *m = calloc(1, sizeof *m);

    if (!m)
        return NULL;
    m->refs = 1;
    if (!event) {
        event = "message";
        event_len = 7;
    }
    m->channel = sb_memdup(channel, channel_len);
    m->event = sb_memdup(event, event_len);
    m->payload = sb_memdup(payload, payload_len);
    m->from = from ? sb_memdup(from, from_len) : NULL;
    m->alias = alias ? sb_memdup(alias, alias_len) : NULL;
    if (!m->channel || !m->event || !m->payload || (from && !m->from) ||
        (alias && !m->alias)) {
        sb_msg_unref(m);
        return NULL;
    }
    m->channel_len = channel_len;
    m->event_len = event_len;
    m->payload_len = payload_len;
    m->from_len = from ? from_len : 0;
    m->alias_len = alias ? alias_len : 0;
    m->binary = binary;
    m->date_ms = sb_hub_now_wall_ms();
    return m;
}

sb_msg *sb_msg_ref(sb_msg *m)
{
    m->refs++;
    return m;
}

void sb_msg_unref(sb_msg *m)
{
    int i;

    if (!m || --m->refs > 0)
        return;
    for (i = 0; i < SB_MSG_ENC_SLOTS; i++)
        sb_frame_unref(m->enc[i]);
    free(m->channel);
    free(m->event);
    free(m->payload);
    free(m->from);
    free(m->alias);
    free(m);
}
