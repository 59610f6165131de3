#include "frame.h"

#include <stdlib.h>
#include <string.h>

sb_frame *sb_frame_from_buf(sb_buf *b, int binary)
{
    sb_frame *f;

    if (b->oom || b->pre != SB_FRAME_PRE || sb_buf_reserve(b, 0))
        return NULL;
    f = malloc(sizeof *f);
    if (!f)
        return NULL;
    f->refs = 1;
    f->binary = binary;
    f->rsv1 = 0;
    f->z_tried = 0;
    f->z = NULL;
    f->len = b->len;
    f->mem = b->mem;
    f->data = b->mem + SB_FRAME_PRE;
    b->mem = NULL;
    b->len = b->cap = 0;
    return f;
}

sb_frame *sb_frame_new(const void *data, size_t len, int binary)
{
    sb_buf b;
    sb_frame *f;

    sb_buf_init(&b, SB_FRAME_PRE);
    sb_buf_add(&b, data, len);
    f = sb_frame_from_buf(&b, binary);
    sb_buf_free(&b);
    return f;
}

sb_frame *sb_frame_ref(sb_frame *f)
{
    f->refs++;
    return f;
}

void sb_frame_unref(sb_frame *f)
{
    if (!f || --f->refs > 0)
        return;
    sb_frame_unref(f->z);
    free(f->mem);
    free(f);
}
