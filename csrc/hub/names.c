/* The rules for channel names and member ids (hub.h).  Apart from the hub
 * so that the request parsers and their fuzz targets can use them without
 * linking the whole hub. */
#include "hub.h"

#include <string.h>

int sb_hub_valid_channel(const char *ch, size_t chlen)
{
    size_t i;

    if (!ch || chlen == 0 || chlen > SB_CHANNEL_MAX)
        return 0;
    for (i = 0; i < chlen; i++) {
        unsigned char c = (unsigned char)ch[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || strchr("_.:@/-", c)) || c == 0)
            return 0;
    }
    return 1;
}

int sb_hub_valid_member(const char *m, size_t mlen)
{
    size_t i;

    if (!m || mlen == 0 || mlen > SB_MEMBER_MAX)
        return 0;
    for (i = 0; i < mlen; i++)
        if ((unsigned char)m[i] < 0x20 || (unsigned char)m[i] == 0x7f)
            return 0;
    return 1;
}
