/* MD5 in hex (md5.h). */
#include "md5.h"

#include <openssl/evp.h>

int sb_md5_hex(const void *p, size_t n, char out[SB_MD5_HEX_LEN + 1])
{
    static const char hex[] = "0123456789abcdef";
    unsigned char d[EVP_MAX_MD_SIZE];
    unsigned int len = 0, i;

    out[0] = '\0';
    /* a NULL pointer with length 0 is the empty message */
    if (!EVP_Digest(n ? p : "", n, d, &len, EVP_md5(), NULL) || len != 16)
        return -1;
    for (i = 0; i < len; i++) {
        out[2 * i] = hex[d[i] >> 4];
        out[2 * i + 1] = hex[d[i] & 15];
    }
    out[2 * len] = '\0';
    return 0;
}
