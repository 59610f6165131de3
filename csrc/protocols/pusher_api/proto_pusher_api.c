/* The Pusher HTTP API's request rules (proto_pusher_api.h). */
#include "proto_pusher_api.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "codec/md5.h"
#include "codec/token.h"

int sb_pusher_api_route(sb_span path, sb_span *app, sb_span *rest)
{
    size_t i = 6;

    if (!path.p || path.n <= 6 || memcmp(path.p, "/apps/", 6) != 0)
        return SB_PUSHER_NOT_OURS;
    while (i < path.n && path.p[i] != '/')
        i++;
    if (i == 6)
        return SB_PUSHER_NOT_OURS;   /* "/apps//x" names no app */
    *app = sb_span_of(path.p + 6, i - 6);
    *rest = sb_span_of(path.p + i, path.n - i);
    return SB_PUSHER_APP;
}

static char sb_lower(char c)
{
    return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

/* Orders keys as their lowercase forms: <0, 0 (the same key), >0. */
static int sb_key_cmp(sb_span a, sb_span b)
{
    size_t i, n = a.n < b.n ? a.n : b.n;

    for (i = 0; i < n; i++) {
        unsigned char x = (unsigned char)sb_lower(a.p[i]), y = (unsigned char)sb_lower(b.p[i]);
        if (x != y)
            return x < y ? -1 : 1;
    }
    return a.n < b.n ? -1 : a.n > b.n;
}

static int sb_key_is(sb_span k, const char *word)
{
    size_t n = strlen(word);

    return k.n == n && sb_key_cmp(k, sb_span_of(word, n)) == 0;
}

const sb_pusher_param *sb_pusher_param_get(const sb_pusher_request *r, const char *key)
{
    size_t i;

    for (i = 0; i < r->nparams; i++)
        if (sb_key_is(r->params[i].key, key))
            return &r->params[i];
    return NULL;
}

int sb_pusher_string_to_sign(sb_buf *b, const sb_pusher_request *r)
{
    const sb_pusher_param *order[SB_PUSHER_MAX_PARAMS];
    size_t n = 0, i, j, k;

    if (r->nparams > SB_PUSHER_MAX_PARAMS)
        return -1;
    /* insertion sort: a few parameters, and a repeat is found on the way */
    for (i = 0; i < r->nparams; i++) {
        const sb_pusher_param *p = &r->params[i];
        if (sb_key_is(p->key, "auth_signature"))
            continue;
        for (j = n; j > 0; j--) {
            int c = sb_key_cmp(order[j - 1]->key, p->key);
            if (c == 0)
                return -1;
            if (c < 0)
                break;
        }
        memmove(order + j + 1, order + j, (n - j) * sizeof order[0]);
        order[j] = p;
        n++;
    }
    sb_buf_add(b, r->method.p, r->method.n);
    sb_buf_addc(b, '\n');
    sb_buf_add(b, r->path.p, r->path.n);
    sb_buf_addc(b, '\n');
    for (i = 0; i < n; i++) {
        if (i)
            sb_buf_addc(b, '&');
        for (k = 0; k < order[i]->key.n; k++)
            sb_buf_addc(b, sb_lower(order[i]->key.p[k]));
        sb_buf_addc(b, '=');
        sb_buf_add(b, order[i]->value.p, order[i]->value.n);
    }
    return 0;
}

static int sb_span_equal_secret(sb_span a, const char *b, size_t bn)
{
    return a.n == bn && CRYPTO_memcmp(a.p, b, bn) == 0;
}

/* Appends s with newlines shown as \n, as Pusher's answers quote it. */
static void sb_add_quoted(sb_buf *b, const char *s, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        if (s[i] == '\n')
            sb_buf_adds(b, "\\n");
        else if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            sb_buf_addc(b, '?');
        else
            sb_buf_addc(b, s[i]);
    }
}

static int sb_refuse(sb_buf *why, int verdict, const char *text)
{
    sb_buf_adds(why, text);
    return verdict;
}

/* auth_timestamp: whole seconds within the skew of now. */
static int sb_check_time(const sb_pusher_param *ts, double now, sb_buf *why)
{
    char text[160];
    double t = 0;
    size_t i;

    if (!ts || !ts->value.n || ts->value.n > 15)
        return sb_refuse(why, SB_PUSHER_EAUTH, "Missing or invalid auth_timestamp");
    for (i = 0; i < ts->value.n; i++) {
        if (ts->value.p[i] < '0' || ts->value.p[i] > '9')
            return sb_refuse(why, SB_PUSHER_EAUTH, "Missing or invalid auth_timestamp");
        t = t * 10 + (ts->value.p[i] - '0');
    }
    if (t < now - SB_PUSHER_MAX_SKEW || t > now + SB_PUSHER_MAX_SKEW) {
        snprintf(text, sizeof text, "Timestamp expired: Given timestamp (%.0f) "
                 "not within %ds of server time (%.0f)", t, SB_PUSHER_MAX_SKEW, now);
        return sb_refuse(why, SB_PUSHER_EAUTH, text);
    }
    return SB_PUSHER_OK;
}

/* body_md5: required with a body, and the body's when given. */
static int sb_check_md5(const sb_pusher_request *r, sb_buf *why)
{
    const sb_pusher_param *p = sb_pusher_param_get(r, "body_md5");
    int has_body = r->body.p && r->body.n;
    char md5[SB_MD5_HEX_LEN + 1];

    if (!p && !has_body)
        return SB_PUSHER_OK;
    if (!p)
        return sb_refuse(why, SB_PUSHER_EAUTH, "Missing body_md5: a request with a body "
                         "signs the hex MD5 of it");
    if (sb_md5_hex(has_body ? r->body.p : NULL, has_body ? r->body.n : 0, md5))
        return sb_refuse(why, SB_PUSHER_EAUTH, "cannot compute MD5");
    if (!sb_span_equal_secret(p->value, md5, SB_MD5_HEX_LEN))
        return sb_refuse(why, SB_PUSHER_EAUTH, "Invalid body_md5: it is not the hex MD5 "
                         "of the body");
    return SB_PUSHER_OK;
}

/* auth_signature against the HMAC of the string to sign. */
static int sb_check_signature(const sb_pusher_request *r, sb_span secret, sb_buf *why)
{
    static const char hex[] = "0123456789abcdef";
    const sb_pusher_param *sig = sb_pusher_param_get(r, "auth_signature");
    unsigned char mac[SB_HMAC_SHA256_LEN];
    char want[2 * SB_HMAC_SHA256_LEN];
    sb_buf text;
    size_t i;
    int rc = SB_PUSHER_OK;

    sb_buf_init(&text, 0);
    if (sb_pusher_string_to_sign(&text, r)) {
        sb_buf_free(&text);
        return sb_refuse(why, SB_PUSHER_EBAD, "Invalid query: too many parameters, or one "
                         "given twice");
    }
    if (text.oom || sb_hmac_sha256(secret.p, secret.n, sb_buf_data(&text), text.len, mac)) {
        sb_buf_free(&text);
        return sb_refuse(why, SB_PUSHER_EAUTH, "cannot compute the signature");
    }
    for (i = 0; i < SB_HMAC_SHA256_LEN; i++) {
        want[2 * i] = hex[mac[i] >> 4];
        want[2 * i + 1] = hex[mac[i] & 15];
    }
    if (!sig || !sb_span_equal_secret(sig->value, want, sizeof want)) {
        sb_buf_adds(why, "Invalid signature: you should have sent HmacSHA256Hex(\"");
        sb_add_quoted(why, (const char *)sb_buf_data(&text), text.len);
        sb_buf_adds(why, "\", your_secret_key)");
        rc = SB_PUSHER_EAUTH;
    }
    sb_buf_free(&text);
    return rc;
}

int sb_pusher_verify(const sb_pusher_request *r, sb_span key, sb_span secret,
                     double now, sb_buf *why)
{
    const sb_pusher_param *k = sb_pusher_param_get(r, "auth_key");
    const sb_pusher_param *v = sb_pusher_param_get(r, "auth_version");
    int rc;

    if (r->nparams > SB_PUSHER_MAX_PARAMS)
        return sb_refuse(why, SB_PUSHER_EBAD, "Invalid query: too many parameters");
    if (!k)
        return sb_refuse(why, SB_PUSHER_EAUTH, "Missing auth_key");
    if (!sb_span_equal_secret(k->value, key.p, key.n))
        return sb_refuse(why, SB_PUSHER_EAUTH, "Unknown auth_key");
    if (!v || v->value.n != 3 || memcmp(v->value.p, "1.0", 3) != 0)
        return sb_refuse(why, SB_PUSHER_EAUTH, "Unsupported auth_version: want 1.0");
    if ((rc = sb_check_time(sb_pusher_param_get(r, "auth_timestamp"), now, why)))
        return rc;
    if ((rc = sb_check_signature(r, secret, why)))
        return rc;
    return sb_check_md5(r, why);
}
