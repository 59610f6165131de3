/* The app's options, read by name while a server is made.  Each protocol
 * reads its own in its server_start (and keeps copies), so the server's
 * config carries no protocol's fields and a new protocol brings new
 * options without touching net/.  The binding implements the three
 * readers over its options table; they are valid only during
 * sb_server_new. */
#ifndef SB_OPTIONS_H
#define SB_OPTIONS_H

typedef struct sb_options sb_options;
struct sb_options {
    /* 1 with *v when key holds a number, -1 when it holds false, else 0. */
    int (*number)(const sb_options *o, const char *key, double *v);
    /* The string under key, or NULL. */
    const char *(*string)(const sb_options *o, const char *key);
    /* The length of the list under key (-1 when it holds no list), and
     * its item i (0-based; NULL when that item is not a string). */
    int (*count)(const sb_options *o, const char *key);
    const char *(*item)(const sb_options *o, const char *key, int i);
};

/* A count or size: the number when it is > 0, else def. */
double sb_options_size(const sb_options *o, const char *key, double def);
/* Something that can be turned off: def when absent, -1 when false or
 * <= 0, else the number. */
double sb_options_off(const sb_options *o, const char *key, double def);
/* The string under key, or NULL (also when o is NULL). */
const char *sb_options_string(const sb_options *o, const char *key);
/* 1 when key holds false. */
int sb_options_false(const sb_options *o, const char *key);
/* The list under key: its length, or -1 when there is none. */
int sb_options_count(const sb_options *o, const char *key);
const char *sb_options_item(const sb_options *o, const char *key, int i);

#endif
