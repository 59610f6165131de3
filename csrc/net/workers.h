/* Several processes serving one port (SO_REUSEPORT), sharing channels
 * through the Redis backplane: listen{ workers = N }.  Messages between
 * the workers take a same-machine path instead (siblings.h, made here
 * before the fork); Redis carries the rest, and messages to other
 * machines.
 *
 * The caller forks before it has any server, client or socket, so each
 * child starts from the same Lua state (the app's code up to listen) and
 * builds its own server, exactly as the parent does.  The parent is
 * worker 1; children die with it (PR_SET_PDEATHSIG) and the parent logs a
 * child that exits on its own.  A dead worker is not restarted: its
 * clients reconnect to the others through the shared port. */
#ifndef SB_WORKERS_H
#define SB_WORKERS_H

#include <stddef.h>
#include <sys/types.h>

#include "loop.h"

typedef struct sb_workers {
    uv_signal_t chld;      /* SIGCHLD watch in the parent */
    sb_turn_hook teardown; /* the loop is going: stop watching */
    sb_loop *loop;
    pid_t *pids;           /* pids[i] is worker i + 2; 0 once reaped */
    int n;                 /* children */
} sb_workers;

/* Forks n - 1 workers.  Returns this process's worker number (1 in the
 * caller, 2..n in the children), or 0 with err filled. */
int sb_workers_fork(sb_loop *l, int n, char *err, size_t errlen);
/* Parent: sends sig to every live worker; returns how many it reached.
 * When the loop is freed the parent stops watching them (a teardown
 * hook); the children keep running. */
int sb_workers_signal(sb_loop *l, int sig);

#endif
