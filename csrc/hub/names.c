/* The rules for channel names and member ids (hub.h).  Apart from the hub
 * so that the request parsers and their fuzz targets can use them without
 * linking the whole hub. */
#include "hub.h"

#include <string.h>

int sb_hub_valid_word(const char *s, size_t n, size_t max, const char *extra)
{
    size_t i;

    if (!s || n == 0 || n > max)
        return 0;
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || (c != 0 && strchr(extra, c))))
            return 0;
    }
    return 1;
}

int sb_hub_valid_text(const char *s, size_t n, size_t max)
{
    size_t i;

    if (!s || n == 0 || n > max)
        return 0;
    for (i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] == 0x7f)
            return 0;
    return 1;
}

int sb_hub_valid_channel(const char *ch, size_t chlen)
{
    return sb_hub_valid_word(ch, chlen, SB_CHANNEL_MAX, "_.:@/-");
}

int sb_hub_valid_member(const char *m, size_t mlen)
{
    return sb_hub_valid_text(m, mlen, SB_MEMBER_MAX);
}
