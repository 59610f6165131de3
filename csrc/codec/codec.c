#include "codec.h"

int sb_codec_fail(sb_codec_err *e, int code, size_t pos, const char *msg)
{
    if (e) {
        e->code = code;
        e->pos = pos;
        e->msg = msg;
    }
    return code;
}

const char *sb_codec_strerror(int code)
{
    switch (code) {
    case SB_CODEC_OK: return "ok";
    case SB_CODEC_ENOMEM: return "out of memory";
    case SB_CODEC_EJSON: return "invalid JSON";
    case SB_CODEC_ESHAPE: return "unexpected message shape";
    case SB_CODEC_EREF: return "ref must be a string or null";
    case SB_CODEC_EFIELD: return "invalid field";
    case SB_CODEC_EDM: return "malformed direct message prefix";
    case SB_CODEC_ETOOLONG: return "field longer than 255 bytes";
    case SB_CODEC_ETRUNC: return "truncated binary frame";
    case SB_CODEC_EKIND: return "unexpected binary frame kind";
    case SB_CODEC_EID: return "malformed event id";
    case SB_CODEC_EURL: return "malformed URL encoding";
    default: return "unknown error";
    }
}
