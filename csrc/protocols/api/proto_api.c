/* The server API's request rules (proto_api.h): routes, keys, errors. */
#include "proto_api.h"

#include <string.h>

static int sb_api_method_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
}

int sb_api_route(sb_span path, sb_span prefix, sb_span *method)
{
    size_t i;

    if (!path.p || !prefix.p || path.n < prefix.n ||
        memcmp(path.p, prefix.p, prefix.n) != 0)
        return SB_API_NOT_OURS;
    if (path.n == prefix.n)
        return SB_API_NO_METHOD;
    /* "/apix" is another route, not a method of "/api" */
    if (path.p[prefix.n] != '/')
        return SB_API_NOT_OURS;
    method->p = path.p + prefix.n + 1;
    method->n = path.n - prefix.n - 1;
    if (method->n == 0 || method->n > SB_API_METHOD_MAX)
        return SB_API_NO_METHOD;
    for (i = 0; i < method->n; i++)
        if (!sb_api_method_char(method->p[i]))
            return SB_API_NO_METHOD;
    return SB_API_METHOD;
}

/* 1 when s is a key: printable ASCII without spaces, 1..SB_API_KEY_MAX. */
static int sb_api_key_ok(sb_span s)
{
    size_t i;

    if (s.n == 0 || s.n > SB_API_KEY_MAX)
        return 0;
    for (i = 0; i < s.n; i++)
        if ((unsigned char)s.p[i] <= 0x20 || (unsigned char)s.p[i] >= 0x7f)
            return 0;
    return 1;
}

static int sb_api_lower_is(const char *p, const char *word, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        char c = p[i];
        if (c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        if (c != word[i])
            return 0;
    }
    return 1;
}

int sb_api_key(sb_span authorization, sb_span x_api_key, sb_span *key)
{
    sb_span a = authorization;

    if (x_api_key.p) {
        *key = x_api_key;
        return sb_api_key_ok(x_api_key) ? SB_API_KEY_OK : SB_API_KEY_BAD;
    }
    /* "apikey" then at least one space: "apikeyX" is another scheme */
    if (!a.p || a.n < 7 || !sb_api_lower_is(a.p, "apikey", 6) || a.p[6] != ' ')
        return SB_API_KEY_MISSING;
    a.p += 7;
    a.n -= 7;
    while (a.n && *a.p == ' ') {
        a.p++;
        a.n--;
    }
    while (a.n && a.p[a.n - 1] == ' ')
        a.n--;
    *key = a;
    return sb_api_key_ok(a) ? SB_API_KEY_OK : SB_API_KEY_BAD;
}

void sb_api_error_body(sb_buf *b, const char *code, const char *message)
{
    sb_buf_adds(b, "{\"error\":{\"code\":");
    sb_buf_add_json_string(b, code, strlen(code));
    sb_buf_adds(b, ",\"message\":");
    sb_buf_add_json_string(b, message, strlen(message));
    sb_buf_adds(b, "}}");
}
