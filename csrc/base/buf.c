#include "buf.h"

#include <stdlib.h>
#include <string.h>

void sb_buf_init(sb_buf *b, size_t pre)
{
    memset(b, 0, sizeof *b);
    b->pre = pre;
}

void sb_buf_free(sb_buf *b)
{
    free(b->mem);
    sb_buf_init(b, b->pre);
}

void sb_buf_reset(sb_buf *b)
{
    b->len = 0;
    b->oom = 0;
}

unsigned char *sb_buf_data(const sb_buf *b)
{
    return b->mem ? b->mem + b->pre : NULL;
}

/* Grows geometrically so that appending n bytes one at a time stays O(n).
 * Returns 0 on success, -1 (and sets oom) when memory ran out. */
int sb_buf_reserve(sb_buf *b, size_t extra)
{
    size_t need, ncap;
    unsigned char *m;

    if (b->oom)
        return -1;
    if (extra > SIZE_MAX / 2 - b->len - b->pre) {
        b->oom = 1;
        return -1;
    }
    need = b->len + extra;
    if (b->mem && need <= b->cap)
        return 0;
    ncap = b->cap ? b->cap : 64;
    while (ncap < need)
        ncap *= 2;
    m = realloc(b->mem, b->pre + ncap + 1);
    if (!m) {
        b->oom = 1;
        return -1;
    }
    b->mem = m;
    b->cap = ncap;
    return 0;
}

void sb_buf_add(sb_buf *b, const void *p, size_t n)
{
    if (sb_buf_reserve(b, n))
        return;
    if (n)
        memcpy(b->mem + b->pre + b->len, p, n);
    b->len += n;
    b->mem[b->pre + b->len] = '\0';
}

void sb_buf_addc(sb_buf *b, char c)
{
    sb_buf_add(b, &c, 1);
}

void sb_buf_adds(sb_buf *b, const char *s)
{
    sb_buf_add(b, s, strlen(s));
}

void sb_buf_add_u64(sb_buf *b, uint64_t v)
{
    char tmp[24];
    size_t i = sizeof tmp;

    do {
        tmp[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    sb_buf_add(b, tmp + i, sizeof tmp - i);
}

void sb_buf_add_i64(sb_buf *b, int64_t v)
{
    if (v < 0) {
        sb_buf_addc(b, '-');
        sb_buf_add_u64(b, (uint64_t)0 - (uint64_t)v);
    } else {
        sb_buf_add_u64(b, (uint64_t)v);
    }
}

void sb_buf_add_json_string(sb_buf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    size_t i, run = 0;

    sb_buf_addc(b, '"');
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        char esc[6] = { '\\', 'u', '0', '0', 0, 0 };

        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        sb_buf_add(b, s + run, i - run);
        run = i + 1;
        switch (c) {
        case '"': sb_buf_add(b, "\\\"", 2); break;
        case '\\': sb_buf_add(b, "\\\\", 2); break;
        case '\n': sb_buf_add(b, "\\n", 2); break;
        case '\r': sb_buf_add(b, "\\r", 2); break;
        case '\t': sb_buf_add(b, "\\t", 2); break;
        default:
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 15];
            sb_buf_add(b, esc, 6);
        }
    }
    /* s may be NULL for an empty string (an empty sb_buf's data is
     * NULL), and NULL + 0 is undefined behaviour, so only touch s when
     * there is a tail to copy (found by fuzz/fuzz_json.c). */
    if (n > run)
        sb_buf_add(b, s + run, n - run);
    sb_buf_addc(b, '"');
}
