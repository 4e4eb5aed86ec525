/* conn_guard.h - deadlines for slow clients, enforced from outside the
 * connection's own thread.
 *
 * The HTTP server runs one thread per connection, and an idle timeout only
 * closes a connection that sends nothing at all: a client that trickles one
 * header byte every few seconds ("slowloris") keeps its thread forever, and a
 * few hundred of them leave no thread for anyone else. The guard watches
 * every connection's phase and closes the ones that are too slow:
 *   - waiting for a request's headers (also between keep-alive requests):
 *     at most header_timeout_s seconds;
 *   - receiving a body: after header_timeout_s seconds of grace, at least
 *     min_body_rate bytes per second on average;
 *   - running the handler or sending the reply: no deadline (handlers may
 *     legitimately take long; the idle timeout still applies to the reply).
 * A connection is closed by shutdown() on a dup() of its socket: that wakes
 * the connection's thread with an end-of-file whatever it is blocked in, and
 * the dup keeps the socket alive until the guard forgets the connection, so
 * a number reused for another socket is never hit.
 */
#ifndef TN_NET_CONN_GUARD_H
#define TN_NET_CONN_GUARD_H

#include <stdint.h>

typedef struct tn_conn_guard tn_conn_guard;
typedef struct tn_guarded tn_guarded;

typedef enum {
    TN_CONN_HEADERS = 0, /* waiting for a request's headers */
    TN_CONN_BODY = 1,    /* receiving a request body */
    TN_CONN_BUSY = 2,    /* handler or reply: no deadline */
} tn_conn_phase;

/* Starts the watcher thread (checks every 200 ms). NULL with the error set. */
tn_conn_guard *tn_conn_guard_new(double header_timeout_s, double min_body_rate);
/* Stops the thread and closes what it still holds. */
void tn_conn_guard_free(tn_conn_guard *g);

/* A new connection on socket fd, in the headers phase. NULL (and the
 * connection is simply not guarded) when the socket cannot be duplicated. */
tn_guarded *tn_conn_guard_add(tn_conn_guard *g, int fd);
/* The connection enters a phase; its clock restarts. */
void tn_conn_guard_phase(tn_conn_guard *g, tn_guarded *w, tn_conn_phase phase);
/* n more body bytes arrived. */
void tn_conn_guard_bytes(tn_conn_guard *g, tn_guarded *w, uint64_t n);
/* The connection closed: forget it. */
void tn_conn_guard_remove(tn_conn_guard *g, tn_guarded *w);
/* How many connections the guard has closed so far. */
uint64_t tn_conn_guard_closed(tn_conn_guard *g);

#endif
