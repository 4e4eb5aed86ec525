/* conn_guard.c - deadlines for slow clients (see conn_guard.h). */
#include "net/conn_guard.h"
#include "base/err.h"
#include "base/clock.h"
#include "base/log.h"
#include "base/mem.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define CHECK_EVERY_NS 200000000L

struct tn_guarded {
    int fd;             /* our dup of the connection's socket */
    tn_conn_phase phase;
    double since;       /* tn_now() when the phase began */
    uint64_t received;  /* body bytes in this phase */
    int closed;         /* shut down by the guard */
    tn_guarded *prev, *next;
};

struct tn_conn_guard {
    double header_timeout_s, min_body_rate;
    pthread_mutex_t mu;
    pthread_cond_t wake;
    pthread_t thread;
    int stopping;
    tn_guarded *list;
    uint64_t n_closed;
};

/* 1 when w has overstayed its phase at time now. */
static int too_slow(const tn_conn_guard *g, const tn_guarded *w, double now) {
    double t = now - w->since;
    switch (w->phase) {
    case TN_CONN_HEADERS: return t > g->header_timeout_s;
    case TN_CONN_BODY: return t > g->header_timeout_s && (double)w->received < (t - g->header_timeout_s) * g->min_body_rate;
    case TN_CONN_BUSY: return 0;
    }
    return 0;
}

static void *watch(void *arg) {
    tn_conn_guard *g = arg;
    pthread_mutex_lock(&g->mu);
    while (!g->stopping) {
        /* pthread_cond_timedwait takes an absolute CLOCK_REALTIME time */
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += CHECK_EVERY_NS;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&g->wake, &g->mu, &until);
        double now = tn_now();
        for (tn_guarded *w = g->list; w; w = w->next) {
            if (w->closed || !too_slow(g, w, now)) continue;
            /* wakes the connection's thread with end-of-file; MHD then
             * closes the connection and tells us (tn_conn_guard_remove) */
            shutdown(w->fd, SHUT_RDWR);
            w->closed = 1;
            g->n_closed++;
            tn_debug("http server: closed a connection too slow in its %s",
                     w->phase == TN_CONN_HEADERS ? "headers" : "body");
        }
    }
    pthread_mutex_unlock(&g->mu);
    return NULL;
}

tn_conn_guard *tn_conn_guard_new(double header_timeout_s, double min_body_rate) {
    tn_conn_guard *g = tn_calloc(1, sizeof *g);
    g->header_timeout_s = header_timeout_s;
    g->min_body_rate = min_body_rate;
    pthread_mutex_init(&g->mu, NULL);
    pthread_cond_init(&g->wake, NULL);
    int e = pthread_create(&g->thread, NULL, watch, g);
    if (e) {
        errno = e;
        tn_fail_errno("http server: cannot start the connection guard");
        pthread_cond_destroy(&g->wake);
        pthread_mutex_destroy(&g->mu);
        free(g);
        return NULL;
    }
    return g;
}

void tn_conn_guard_free(tn_conn_guard *g) {
    if (!g) return;
    pthread_mutex_lock(&g->mu);
    g->stopping = 1;
    pthread_cond_signal(&g->wake);
    pthread_mutex_unlock(&g->mu);
    pthread_join(g->thread, NULL);
    while (g->list) {
        tn_guarded *w = g->list;
        g->list = w->next;
        close(w->fd);
        free(w);
    }
    pthread_cond_destroy(&g->wake);
    pthread_mutex_destroy(&g->mu);
    free(g);
}

tn_guarded *tn_conn_guard_add(tn_conn_guard *g, int fd) {
    int dupfd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
    if (dupfd < 0) {
        tn_warn("http server: a connection goes unguarded: dup: %s", strerror(errno));
        return NULL;
    }
    tn_guarded *w = tn_calloc(1, sizeof *w);
    w->fd = dupfd;
    w->phase = TN_CONN_HEADERS;
    w->since = tn_now();
    pthread_mutex_lock(&g->mu);
    w->next = g->list;
    if (g->list) g->list->prev = w;
    g->list = w;
    pthread_mutex_unlock(&g->mu);
    return w;
}

void tn_conn_guard_phase(tn_conn_guard *g, tn_guarded *w, tn_conn_phase phase) {
    if (!w) return;
    pthread_mutex_lock(&g->mu);
    w->phase = phase;
    w->since = tn_now();
    w->received = 0;
    pthread_mutex_unlock(&g->mu);
}

void tn_conn_guard_bytes(tn_conn_guard *g, tn_guarded *w, uint64_t n) {
    if (!w) return;
    pthread_mutex_lock(&g->mu);
    w->received += n;
    pthread_mutex_unlock(&g->mu);
}

void tn_conn_guard_remove(tn_conn_guard *g, tn_guarded *w) {
    if (!w) return;
    pthread_mutex_lock(&g->mu);
    if (w->prev) w->prev->next = w->next;
    else g->list = w->next;
    if (w->next) w->next->prev = w->prev;
    pthread_mutex_unlock(&g->mu);
    close(w->fd);
    free(w);
}

uint64_t tn_conn_guard_closed(tn_conn_guard *g) {
    pthread_mutex_lock(&g->mu);
    uint64_t n = g->n_closed;
    pthread_mutex_unlock(&g->mu);
    return n;
}
