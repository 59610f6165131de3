/* Message ids (msgid.h). */
#include "msgid.h"

#include <string.h>

int sb_msgid_format(sb_buf *b, uint64_t epoch, uint64_t offset)
{
    sb_buf_add_u64(b, epoch);
    sb_buf_addc(b, '-');
    sb_buf_add_u64(b, offset);
    return b->oom ? SB_CODEC_ENOMEM : SB_CODEC_OK;
}

/* Canonical decimal uint64 in s[0..n): no leading zero unless "0". */
static int parse_u64(const char *s, size_t n, uint64_t *v)
{
    uint64_t x = 0, d;
    size_t i;

    if (n == 0 || (n > 1 && s[0] == '0'))
        return -1;
    for (i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        d = (uint64_t)(s[i] - '0');
        if (x > (UINT64_MAX - d) / 10)
            return -1;
        x = x * 10 + d;
    }
    *v = x;
    return 0;
}

int sb_msgid_parse(const char *s, size_t n, uint64_t *epoch, uint64_t *offset)
{
    const char *dash = n ? memchr(s, '-', n) : NULL;
    size_t k;
    uint64_t e, o;

    if (!dash)
        return SB_CODEC_EID;
    k = (size_t)(dash - s);
    if (parse_u64(s, k, &e) || parse_u64(dash + 1, n - k - 1, &o))
        return SB_CODEC_EID;
    *epoch = e;
    *offset = o;
    return SB_CODEC_OK;
}
