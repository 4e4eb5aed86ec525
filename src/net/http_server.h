/* http_server.h - a thin HTTP server over libmicrohttpd for the arena.
 *
 * Routes are registered before start: method + path (exact, or prefix) +
 * handler. For each request the wrapper
 *   - answers 404 (no route) or 405 (path known, method not) itself,
 *   - refuses with 413 as soon as Content-Length, or the bytes received so
 *     far, exceed the route's limit, without buffering the rest,
 *   - on signed routes runs the cheap signature checks (headers, key,
 *     timestamp) before accepting any body, and the full check (signature
 *     over the body's hash, replay) once the body is in; 401/403 on refusal,
 *   - reads the body into memory, or for upload routes streams it to a
 *     temporary file while hashing it (SHA-256),
 *   - then calls the handler, which replies with JSON, an error, bytes or a
 *     file. A handler that forgets to reply produces a 500.
 * Handlers run on the connection's own thread (one thread per connection),
 * so they may block; they must be thread-safe with respect to each other.
 * Error replies are {"error": "message"}.
 */
#ifndef TN_NET_HTTP_SERVER_H
#define TN_NET_HTTP_SERVER_H

#include "net/sign.h"
#include "base/err.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

typedef struct tn_http_server tn_http_server;
typedef struct tn_http_conn tn_http_conn; /* private per-request state */

typedef struct {
    const char *method; /* "GET", "POST", ... */
    const char *path;   /* URL-decoded path, without the query */
    const char *target; /* request target as sent (path?query, still encoded): what was signed */
    const char *body;   /* in-memory body, NUL-terminated (not counted in body_len); "" for uploads */
    size_t body_len;
    const char *key_id; /* verified signer's key id on signed routes, else NULL */
    /* Upload routes: the body lies in upload_path (a temporary file in the
     * route's upload_dir). The handler may rename() it away; whatever is left
     * at that path when the handler returns is deleted. */
    const char *upload_path;
    uint64_t upload_size;
    char upload_sha256[2 * TN_SHA256_BYTES + 1]; /* hex */
    void *ud;                                    /* the route's user data */
    tn_http_conn *conn;
} tn_http_req;

typedef void (*tn_http_handler)(tn_http_req *req, void *ud);

enum {
    TN_ROUTE_EXACT = 0,  /* path must equal the route's path */
    TN_ROUTE_PREFIX = 1, /* path starts with the route's path */
    TN_ROUTE_SIGNED = 2, /* verify the request's signature before the handler */
    TN_ROUTE_UPLOAD = 4, /* stream the body to a file in upload_dir */
};

typedef struct {
    const char *method;
    const char *path;
    unsigned flags;
    uint64_t max_body;      /* bytes; 0 = 1 MiB (in-memory) / 0 not allowed for uploads */
    const char *upload_dir; /* TN_ROUTE_UPLOAD: where temporary files go (same filesystem as their destination) */
    tn_http_handler fn;
    void *ud;
} tn_http_route;

typedef struct {
    const char *bind;        /* IPv4 or IPv6 literal; NULL = "127.0.0.1" */
    int port;                /* 0 = any free port (see tn_http_server_port) */
    unsigned max_conns;      /* 0 = 256 */
    unsigned max_conns_per_addr; /* connections from one client address; 0 = 16 */
    unsigned idle_timeout_s; /* a connection idle this long is closed; 0 = 60 */
    double header_timeout_s; /* a request's headers must arrive within this; 0 = 10 */
    double min_body_rate;    /* bytes/s a body must average after header_timeout_s of grace; 0 = 16 KiB/s */
    tn_verifier *verifier;   /* borrowed; required by signed routes */
    int no_not_before;       /* 1: do not refuse requests timestamped before start (tests) */
} tn_http_server_opts;

/* Slow and greedy clients (net/conn_guard.h): one address holds at most
 * max_conns_per_addr connections (more are refused at accept), and a
 * connection that sends its headers or its body too slowly is closed, so a
 * few hundred slow connections cannot take every thread of the server. */
tn_http_server *tn_http_server_new(const tn_http_server_opts *opts);
/* Copies the route (strings included). Only before tn_http_server_start. */
int tn_http_server_route(tn_http_server *s, const tn_http_route *route);
/* Binds and starts serving on background threads. Sets the verifier's
 * not-before time to now (see sign.h) unless opts.no_not_before. */
int tn_http_server_start(tn_http_server *s);
/* The bound port (the chosen one when opts.port was 0). */
int tn_http_server_port(const tn_http_server *s);
/* Stops accepting, waits for running handlers, joins the threads. Idempotent. */
void tn_http_server_stop(tn_http_server *s);
void tn_http_server_free(tn_http_server *s); /* stops first */
/* Connections closed for being too slow since the start (tests, logs). */
uint64_t tn_http_server_slow_closed(const tn_http_server *s);

/* Request accessors: NULL when absent. Header names are case-insensitive;
 * query values are URL-decoded. */
const char *tn_http_query(const tn_http_req *r, const char *name);
const char *tn_http_header(const tn_http_req *r, const char *name);
/* Parses the body as JSON; on failure replies 400 (naming the parse error)
 * and returns NULL. */
json_t *tn_http_body_json(tn_http_req *r);

/* Replies. Exactly one per request; a second one fails (-1). */
int tn_http_reply_json(tn_http_req *r, int status, json_t *body); /* steals the reference */
int tn_http_reply_error(tn_http_req *r, int status, const char *fmt, ...) TN_PRINTF(3, 4);
int tn_http_reply_data(tn_http_req *r, int status, const char *content_type, const void *data, size_t len);
/* Streams a file (sendfile where possible). A missing file replies 404. */
int tn_http_reply_file(tn_http_req *r, int status, const char *path, const char *content_type);
/* Adds a header to the reply already chosen (call after a reply_*). */
int tn_http_reply_header(tn_http_req *r, const char *name, const char *value);

#endif
