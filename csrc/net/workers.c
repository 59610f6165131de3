/* listen{ workers = N }: see workers.h. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE     /* prctl, kill and fork under -std=c99 */
#endif
#include "workers.h"
#include "siblings.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

/* Reaps only our own workers (never waitpid(-1): the app may have other
 * children, e.g. from io.popen) and says which one ended and how. */
static void sb_workers_chld(uv_signal_t *h, int signum)
{
    sb_workers *w = h->data;
    int i, status;

    (void)signum;
    for (i = 0; i < w->n; i++) {
        if (!w->pids[i] || waitpid(w->pids[i], &status, WNOHANG) != w->pids[i])
            continue;
        if (WIFSIGNALED(status))
            fprintf(stderr, "switchboard: worker %d (pid %d) killed by signal %d\n",
                    i + 2, (int)w->pids[i], WTERMSIG(status));
        else
            fprintf(stderr, "switchboard: worker %d (pid %d) exited with status %d\n",
                    i + 2, (int)w->pids[i], WEXITSTATUS(status));
        w->pids[i] = 0;
    }
}

/* In a new child: its own epoll set and signal pipe (libuv shares them
 * with the parent until uv_loop_fork), and death with the parent. */
static int sb_workers_child(sb_loop *l, pid_t parent)
{
    if (prctl(PR_SET_PDEATHSIG, SIGTERM) != 0)
        return -1;
    if (getppid() != parent)    /* the parent died before prctl */
        raise(SIGTERM);
    return uv_loop_fork(&l->uv) ? -1 : 0;
}

/* Worker self's end of the same-machine path; without it (it could not
 * start) the workers still share everything through Redis. */
static void sb_workers_siblings(sb_loop *l, sb_siblings *sib, int self)
{
    char err[128];

    if (!sib)
        return;
    if (sb_siblings_start(sib, l, self, err, sizeof err)) {
        fprintf(stderr, "switchboard: worker %d: %s (workers share messages through Redis)\n",
                self, err);
        sb_siblings_abandon(sib);
        return;
    }
    l->siblings = sib;
}

static void sb_workers_closed(uv_handle_t *h)
{
    sb_workers *w = h->data;

    free(w->pids);
    free(w);
}

/* The loop is going away: stop watching (children keep running). */
static void sb_workers_teardown(sb_turn_hook *h)
{
    sb_workers *w = (sb_workers *)((char *)h - offsetof(sb_workers, teardown));

    w->loop->workers = NULL;
    uv_close((uv_handle_t *)&w->chld, sb_workers_closed);
}

int sb_workers_fork(sb_loop *l, int n, char *err, size_t errlen)
{
    pid_t parent = getpid();
    sb_siblings *sib;
    sb_workers *w;
    int i;

    if (l->workers) {
        snprintf(err, errlen, "this process already started workers");
        return 0;
    }
    w = calloc(1, sizeof *w);
    if (!w || !(w->pids = calloc((size_t)n, sizeof *w->pids))) {
        free(w);
        snprintf(err, errlen, "out of memory");
        return 0;
    }
    sib = NULL;
    if (n > 1 && !(sib = sb_siblings_new(n, err, errlen))) {
        free(w->pids);
        free(w);
        return 0;
    }
    fflush(NULL);   /* buffered output would be written by every copy */
    for (i = 0; i < n - 1; i++) {
        pid_t pid = fork();
        if (pid == 0) {
            free(w->pids);
            free(w);
            if (sb_workers_child(l, parent))
                fprintf(stderr, "switchboard: worker %d could not reset its loop\n", i + 2);
            sb_workers_siblings(l, sib, i + 2);
            return i + 2;
        }
        if (pid < 0) {
            snprintf(err, errlen, "fork failed: %s", strerror(errno));
            break;
        }
        w->pids[w->n++] = pid;
    }
    uv_signal_init(&l->uv, &w->chld);
    w->chld.data = w;
    uv_signal_start(&w->chld, sb_workers_chld, SIGCHLD);
    uv_unref((uv_handle_t *)&w->chld);
    w->loop = l;
    w->teardown.fn = sb_workers_teardown;
    sb_loop_at_teardown(l, &w->teardown);
    l->workers = w;
    if (w->n < n - 1) {
        sb_siblings_abandon(sib);
        sb_workers_signal(l, SIGTERM);
        return 0;
    }
    sb_workers_siblings(l, sib, 1);
    return 1;
}

int sb_workers_signal(sb_loop *l, int sig)
{
    sb_workers *w = l->workers;
    int i, reached = 0;

    for (i = 0; w && i < w->n; i++)
        if (w->pids[i] && kill(w->pids[i], sig) == 0)
            reached++;
    return reached;
}
