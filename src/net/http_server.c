/* http_server.c - libmicrohttpd wrapper (see http_server.h).
 *
 * MHD calls the access handler several times per request: once when the
 * headers are in (upload_data_size == 0), once per piece of body, and once
 * more with upload_data_size == 0 when the body is complete. A response may
 * be queued only on the first or the last of those calls, so a refusal that
 * happens mid-body (a chunked body outgrowing its limit) is remembered,
 * the rest of the body is discarded unbuffered, and the 413 goes out at the
 * end; a client that keeps sending far past the limit is cut off instead.
 */
#include "net/http_server.h"
#include "net/conn_guard.h"
#include "base/err.h"
#include "base/fs.h"
#include "base/log.h"
#include "base/mem.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_MAX_BODY (1u << 20)
/* After a mid-body overflow we read and drop at most this much more before
 * closing the connection without a reply. */
#define DISCARD_LIMIT (8u << 20)

struct tn_http_server {
    tn_http_server_opts opts;
    char *bind;
    tn_http_route *routes;
    size_t nroutes;
    struct MHD_Daemon *daemon;
    int port;
    char start_error[256]; /* MHD's last log line while starting, for the error message */
    int starting;
    tn_conn_guard *guard;  /* deadlines for slow clients; from start to stop */
    uint64_t slow_closed;  /* the guard's count, kept across a stop */
};

struct tn_http_conn {
    tn_http_server *srv;
    struct MHD_Connection *mhd;
    char *target;          /* raw request target (from the URI log callback) */
    const tn_http_route *route;
    int started;           /* the headers call has been handled */
    int refused;           /* a response was queued early: drop the body */
    int overflow;          /* the body outgrew max_body mid-stream */
    int write_failed;      /* the upload file could not be written */
    uint64_t received, discarded, limit;
    int64_t t_headers;     /* unix time the headers arrived: signatures are judged then */
    tn_guarded *guarded;   /* the connection's deadlines (NULL: unguarded) */
    char key_id[TN_KEY_ID_LEN + 1]; /* the verified signer, lower-case */
    /* in-memory body */
    char *buf;
    size_t cap;
    /* upload */
    int fd;
    char *tmp;
    tn_sha256_ctx sha;
    /* the reply being built */
    struct MHD_Response *resp;
    int status;
    tn_http_req req;
};

/* ---- replies ------------------------------------------------------------ */

static int set_reply(tn_http_req *r, int status, struct MHD_Response *resp, const char *ctype) {
    if (!resp) return tn_fail("%s %s: cannot create the response", r->method, r->path);
    if (r->conn->resp) {
        MHD_destroy_response(resp);
        return tn_fail("%s %s: the handler replied twice", r->method, r->path);
    }
    if (ctype) MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
    r->conn->resp = resp;
    r->conn->status = status;
    return 0;
}

int tn_http_reply_data(tn_http_req *r, int status, const char *content_type, const void *data, size_t len) {
    struct MHD_Response *resp = MHD_create_response_from_buffer(len, (void *)data, MHD_RESPMEM_MUST_COPY);
    return set_reply(r, status, resp, content_type);
}

int tn_http_reply_json(tn_http_req *r, int status, json_t *body) {
    char *s = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    if (!s) return tn_fail("%s %s: cannot serialise the JSON reply", r->method, r->path);
    /* json_dumps allocates with malloc (jansson's default), which MHD frees */
    struct MHD_Response *resp = MHD_create_response_from_buffer(strlen(s), s, MHD_RESPMEM_MUST_FREE);
    if (!resp) free(s);
    return set_reply(r, status, resp, "application/json");
}

/* {"error": msg}. Messages may quote a request path, which can hold any
 * bytes after URL decoding; JSON strings must be UTF-8, so when msg is not,
 * its non-ASCII bytes become '?'. */
static json_t *error_body(char *msg) {
    json_t *s = json_string(msg);
    if (!s) {
        for (char *p = msg; *p; p++)
            if ((unsigned char)*p >= 0x80) *p = '?';
        s = json_string(msg);
    }
    json_t *o = json_object();
    json_object_set_new(o, "error", s ? s : json_string("?"));
    return o;
}

int tn_http_reply_error(tn_http_req *r, int status, const char *fmt, ...) {
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return tn_http_reply_json(r, status, error_body(msg));
}

int tn_http_reply_file(tn_http_req *r, int status, const char *path, const char *content_type) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        if (e == ENOENT) return tn_http_reply_error(r, 404, "not found");
        tn_warn("%s %s: cannot open %s: %s", r->method, r->path, path, strerror(e));
        return tn_http_reply_error(r, 500, "cannot open the file");
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return tn_http_reply_error(r, 404, "not found");
    }
    /* MHD owns fd from here and closes it with the response */
    struct MHD_Response *resp = MHD_create_response_from_fd64((uint64_t)st.st_size, fd);
    if (!resp) close(fd);
    return set_reply(r, status, resp, content_type ? content_type : "application/octet-stream");
}

int tn_http_reply_header(tn_http_req *r, const char *name, const char *value) {
    if (!r->conn->resp) return tn_fail("%s %s: no reply to add header %s to", r->method, r->path, name);
    if (MHD_add_response_header(r->conn->resp, name, value) != MHD_YES)
        return tn_fail("%s %s: cannot add header %s", r->method, r->path, name);
    return 0;
}

/* ---- accessors ---------------------------------------------------------- */

const char *tn_http_query(const tn_http_req *r, const char *name) {
    return MHD_lookup_connection_value(r->conn->mhd, MHD_GET_ARGUMENT_KIND, name);
}

const char *tn_http_header(const tn_http_req *r, const char *name) {
    return MHD_lookup_connection_value(r->conn->mhd, MHD_HEADER_KIND, name);
}

json_t *tn_http_body_json(tn_http_req *r) {
    json_error_t e;
    json_t *v = json_loadb(r->body, r->body_len, 0, &e);
    if (!v) tn_http_reply_error(r, 400, "invalid JSON body at line %d column %d: %s", e.line, e.column, e.text);
    return v;
}

/* ---- request plumbing --------------------------------------------------- */

/* Queues the reply chosen for c (or a 500 if none) and drops our reference. */
static enum MHD_Result queue(tn_http_conn *c) {
    if (!c->resp) {
        tn_warn("%s %s: handler did not reply", c->req.method, c->req.path);
        tn_http_reply_error(&c->req, 500, "internal error: no reply");
        if (!c->resp) return MHD_NO;
    }
    enum MHD_Result rc = MHD_queue_response(c->mhd, (unsigned)c->status, c->resp);
    MHD_destroy_response(c->resp);
    c->resp = NULL;
    return rc;
}

static void drop_upload(tn_http_conn *c) {
    if (c->fd >= 0) close(c->fd);
    c->fd = -1;
    if (c->tmp) {
        unlink(c->tmp);
        free(c->tmp);
        c->tmp = NULL;
    }
}

static enum MHD_Result refuse(tn_http_conn *c, int status, const char *fmt, ...) TN_PRINTF(3, 4);
static enum MHD_Result refuse(tn_http_conn *c, int status, const char *fmt, ...) {
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    /* a refused upload is garbage: delete it now, before the client can see
     * the reply (the completion callback runs only after it is sent) */
    drop_upload(c);
    if (c->resp) { /* drop a half-built reply */
        MHD_destroy_response(c->resp);
        c->resp = NULL;
    }
    tn_http_reply_json(&c->req, status, error_body(msg));
    c->refused = 1;
    return queue(c);
}

static int route_matches_path(const tn_http_route *rt, const char *path) {
    if (rt->flags & TN_ROUTE_PREFIX) return !strncmp(path, rt->path, strlen(rt->path));
    return !strcmp(path, rt->path);
}

/* Finds the route for (method, path); *path_known says whether some route
 * serves the path with another method (405 rather than 404). */
static const tn_http_route *find_route(const tn_http_server *s, const char *method, const char *path,
                                       int *path_known) {
    *path_known = 0;
    for (size_t i = 0; i < s->nroutes; i++) {
        if (!route_matches_path(&s->routes[i], path)) continue;
        if (!strcmp(s->routes[i].method, method)) return &s->routes[i];
        *path_known = 1;
    }
    return NULL;
}

static enum MHD_Result method_not_allowed(tn_http_conn *c, const char *path) {
    char allow[256] = "";
    size_t n = 0;
    for (size_t i = 0; i < c->srv->nroutes && n < sizeof allow - 16; i++)
        if (route_matches_path(&c->srv->routes[i], path))
            n += (size_t)snprintf(allow + n, sizeof allow - n, "%s%s", n ? ", " : "", c->srv->routes[i].method);
    tn_http_reply_error(&c->req, 405, "method %s not allowed on %s (allowed: %s)", c->req.method, path, allow);
    tn_http_reply_header(&c->req, MHD_HTTP_HEADER_ALLOW, allow);
    c->refused = 1;
    return queue(c);
}

static void sig_fields(tn_http_conn *c, tn_sig_fields *h) {
    h->key = MHD_lookup_connection_value(c->mhd, MHD_HEADER_KIND, TN_HDR_KEY);
    h->time = MHD_lookup_connection_value(c->mhd, MHD_HEADER_KIND, TN_HDR_TIME);
    h->nonce = MHD_lookup_connection_value(c->mhd, MHD_HEADER_KIND, TN_HDR_NONCE);
    h->sig = MHD_lookup_connection_value(c->mhd, MHD_HEADER_KIND, TN_HDR_SIG);
}

static enum MHD_Result too_large(tn_http_conn *c) {
    return refuse(c, 413, "request body too large (limit %llu bytes)", (unsigned long long)c->limit);
}

/* The headers are in: route, size limit, cheap signature checks, body sink. */
static enum MHD_Result on_headers(tn_http_conn *c, const char *url, const char *method) {
    tn_http_server *s = c->srv;
    c->req.method = method;
    c->req.path = url;
    c->req.target = c->target ? c->target : url;
    c->req.body = "";
    c->t_headers = (int64_t)time(NULL);
    int path_known;
    c->route = find_route(s, method, url, &path_known);
    if (!c->route) {
        if (path_known) return method_not_allowed(c, url);
        return refuse(c, 404, "no such endpoint: %s %s", method, url);
    }
    c->req.ud = c->route->ud;
    c->limit = c->route->max_body;
    /* Content-Length lets us refuse before a single body byte is read; MHD
     * then skips the "100 Continue" so a well-behaved client never sends it. */
    const char *cl = MHD_lookup_connection_value(c->mhd, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (cl) {
        char *end;
        errno = 0;
        unsigned long long n = strtoull(cl, &end, 10);
        if (errno || end == cl || *end) return refuse(c, 400, "bad Content-Length \"%.32s\"", cl);
        if (n > c->limit) return too_large(c);
    }
    if (c->route->flags & TN_ROUTE_SIGNED) {
        tn_sig_fields h;
        tn_auth_status st;
        sig_fields(c, &h);
        if (!s->opts.verifier) return refuse(c, 500, "signed route without a verifier");
        if (tn_verify_precheck(s->opts.verifier, &h, c->t_headers, &st))
            return refuse(c, tn_auth_http_status(st), "%s", tn_errmsg());
    }
    if (c->route->flags & TN_ROUTE_UPLOAD) {
        c->tmp = tn_sprintf("%s/.upload.XXXXXX", c->route->upload_dir);
        c->fd = mkstemp(c->tmp);
        if (c->fd < 0) {
            tn_warn("%s %s: cannot create a temporary file in %s: %s", method, url, c->route->upload_dir,
                    strerror(errno));
            free(c->tmp);
            c->tmp = NULL;
            return refuse(c, 500, "cannot store the upload");
        }
        tn_sha256_init(&c->sha);
    }
    return MHD_YES;
}

/* A piece of body. Returns MHD_NO to close the connection. */
static enum MHD_Result on_body(tn_http_conn *c, const char *data, size_t n) {
    if (c->refused || c->overflow || c->write_failed) {
        c->discarded += n;
        return c->discarded > DISCARD_LIMIT ? MHD_NO : MHD_YES;
    }
    if (c->received + n > c->limit) {
        c->overflow = 1;
        c->discarded = n;
        drop_upload(c);
        free(c->buf);
        c->buf = NULL;
        return MHD_YES;
    }
    c->received += n;
    tn_conn_guard_bytes(c->srv->guard, c->guarded, n);
    if (c->fd >= 0) {
        tn_sha256_update(&c->sha, data, n);
        if (tn_write_all(c->fd, data, n, c->tmp)) {
            tn_warn("%s %s: %s", c->req.method, c->req.path, tn_errmsg());
            drop_upload(c);
            c->write_failed = 1; /* reply 500 at the end */
        }
        return MHD_YES;
    }
    if (c->received + 1 > c->cap) {
        size_t want = c->cap ? c->cap : 4096;
        while (want < c->received + 1) want *= 2;
        if (want > c->limit + 1) want = (size_t)c->limit + 1;
        c->buf = tn_realloc(c->buf, want);
        c->cap = want;
    }
    memcpy(c->buf + c->received - n, data, n);
    return MHD_YES;
}

/* The body is complete: verify, run the handler, reply. */
static enum MHD_Result on_complete(tn_http_conn *c) {
    tn_http_server *s = c->srv;
    if (c->overflow) return too_large(c);
    if (c->write_failed) return refuse(c, 500, "cannot store the upload");
    unsigned char sha[TN_SHA256_BYTES];
    if (c->fd >= 0) {
        tn_sha256_final(&c->sha, sha);
        /* close before the handler renames it; the data is in the page cache
         * and the handler decides whether it needs fsync */
        int bad = close(c->fd) != 0;
        c->fd = -1;
        if (bad) {
            tn_warn("%s %s: closing %s: %s", c->req.method, c->req.path, c->tmp, strerror(errno));
            return refuse(c, 500, "cannot store the upload");
        }
        c->req.upload_path = c->tmp;
        c->req.upload_size = c->received;
        tn_hex_encode(sha, sizeof sha, c->req.upload_sha256);
    } else {
        if (!c->buf) c->buf = tn_malloc(1);
        c->buf[c->received] = 0;
        c->req.body = c->buf;
        c->req.body_len = (size_t)c->received;
        tn_sha256(c->buf, c->req.body_len, sha);
    }
    if (c->route->flags & TN_ROUTE_SIGNED) {
        tn_sig_fields h;
        tn_auth_status st;
        sig_fields(c, &h);
        /* judged at the time the headers arrived: a long upload must not
         * turn a fresh timestamp stale */
        if (tn_verify_request(s->opts.verifier, c->req.method, c->req.target, &h, sha, c->t_headers, &st))
            return refuse(c, tn_auth_http_status(st), "%s", tn_errmsg());
        /* lower-case, whatever case the header used: the key id is an
         * identity that callers compare and store as a string */
        for (int i = 0; i < TN_KEY_ID_LEN; i++) c->key_id[i] = (char)tolower((unsigned char)h.key[i]);
        c->key_id[TN_KEY_ID_LEN] = 0;
        c->req.key_id = c->key_id;
    }
    c->route->fn(&c->req, c->route->ud);
    if (c->tmp) { /* whatever the handler left behind goes */
        unlink(c->tmp);
        free(c->tmp);
        c->tmp = NULL;
        c->req.upload_path = NULL;
    }
    return queue(c);
}

static enum MHD_Result access_cb(void *cls, struct MHD_Connection *mhd, const char *url, const char *method,
                                 const char *version, const char *upload_data, size_t *upload_data_size,
                                 void **con_cls) {
    (void)version;
    tn_http_server *s = cls;
    tn_http_conn *c = *con_cls;
    if (!c) { /* no URI log call (should not happen): make the state now */
        c = tn_calloc(1, sizeof *c);
        c->fd = -1;
        *con_cls = c;
    }
    c->srv = s;
    c->mhd = mhd;
    c->req.conn = c;
    if (!c->started) {
        c->started = 1;
        const union MHD_ConnectionInfo *ci = MHD_get_connection_info(mhd, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
        c->guarded = ci ? ci->socket_context : NULL;
        tn_conn_guard_phase(s->guard, c->guarded, TN_CONN_BODY);
        return on_headers(c, url, method);
    }
    if (*upload_data_size > 0) {
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        return on_body(c, upload_data, n);
    }
    tn_conn_guard_phase(s->guard, c->guarded, TN_CONN_BUSY);
    if (c->refused) return MHD_YES; /* already answered */
    return on_complete(c);
}

/* Called before MHD decodes the URI: the only place the raw target is seen. */
static void *uri_cb(void *cls, const char *uri, struct MHD_Connection *mhd) {
    (void)cls;
    tn_http_conn *c = tn_calloc(1, sizeof *c);
    c->fd = -1;
    c->mhd = mhd;
    c->target = tn_strdup(uri);
    return c;
}

static void completed_cb(void *cls, struct MHD_Connection *mhd, void **con_cls, enum MHD_RequestTerminationCode toe) {
    (void)cls;
    (void)mhd;
    (void)toe;
    tn_http_conn *c = *con_cls;
    if (!c) return;
    /* a kept-alive connection now waits for its next request's headers */
    tn_conn_guard_phase(c->srv ? c->srv->guard : NULL, c->guarded, TN_CONN_HEADERS);
    drop_upload(c);
    if (c->resp) MHD_destroy_response(c->resp);
    free(c->buf);
    free(c->target);
    free(c);
    *con_cls = NULL;
}

/* Connection start and end: the guard's bookkeeping. */
static void notify_cb(void *cls, struct MHD_Connection *mhd, void **socket_context,
                      enum MHD_ConnectionNotificationCode code) {
    tn_http_server *s = cls;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *ci = MHD_get_connection_info(mhd, MHD_CONNECTION_INFO_CONNECTION_FD);
        *socket_context = ci ? tn_conn_guard_add(s->guard, ci->connect_fd) : NULL;
    } else if (code == MHD_CONNECTION_NOTIFY_CLOSED) {
        tn_conn_guard_remove(s->guard, *socket_context);
        *socket_context = NULL;
    }
}

static void log_cb(void *cls, const char *fmt, va_list ap) {
    tn_http_server *s = cls;
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    size_t n = strlen(msg);
    while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == '\r')) msg[--n] = 0;
    if (s->starting) { /* keep the first line that fits; MHD's messages are short */
        size_t k = n < sizeof s->start_error - 1 ? n : sizeof s->start_error - 1;
        memcpy(s->start_error, msg, k);
        s->start_error[k] = 0;
    }
    tn_debug("http server: %s", msg);
}

/* ---- lifecycle ---------------------------------------------------------- */

tn_http_server *tn_http_server_new(const tn_http_server_opts *opts) {
    tn_http_server *s = tn_calloc(1, sizeof *s);
    if (opts) s->opts = *opts;
    s->bind = tn_strdup(s->opts.bind ? s->opts.bind : "127.0.0.1");
    s->opts.bind = s->bind;
    if (!s->opts.max_conns) s->opts.max_conns = 256;
    if (!s->opts.max_conns_per_addr) s->opts.max_conns_per_addr = 16;
    if (!s->opts.idle_timeout_s) s->opts.idle_timeout_s = 60;
    if (!(s->opts.header_timeout_s > 0)) s->opts.header_timeout_s = 10;
    if (!(s->opts.min_body_rate > 0)) s->opts.min_body_rate = 16384;
    return s;
}

int tn_http_server_route(tn_http_server *s, const tn_http_route *rt) {
    if (s->daemon) return tn_fail("route %s %s: add routes before starting the server", rt->method, rt->path);
    if (!rt->method || !rt->path || !rt->fn) return tn_fail("route: method, path and handler are required");
    if ((rt->flags & TN_ROUTE_SIGNED) && !s->opts.verifier)
        return tn_fail("route %s %s: signed, but the server has no verifier", rt->method, rt->path);
    if ((rt->flags & TN_ROUTE_UPLOAD) && (!rt->upload_dir || !rt->max_body))
        return tn_fail("route %s %s: an upload route needs upload_dir and max_body", rt->method, rt->path);
    s->routes = tn_realloc(s->routes, (s->nroutes + 1) * sizeof *s->routes);
    tn_http_route *r = &s->routes[s->nroutes++];
    *r = *rt;
    r->method = tn_strdup(rt->method);
    r->path = tn_strdup(rt->path);
    r->upload_dir = rt->upload_dir ? tn_strdup(rt->upload_dir) : NULL;
    if (!r->max_body) r->max_body = DEFAULT_MAX_BODY;
    return 0;
}

int tn_http_server_start(tn_http_server *s) {
    if (s->daemon) return tn_fail("http server: already started");
    if (s->opts.port < 0 || s->opts.port > 65535) return tn_fail("http server: bad port %d", s->opts.port);
    struct sockaddr_in a4;
    struct sockaddr_in6 a6;
    const struct sockaddr *addr;
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_AUTO | MHD_USE_ERROR_LOG;
    memset(&a4, 0, sizeof a4);
    memset(&a6, 0, sizeof a6);
    if (inet_pton(AF_INET, s->bind, &a4.sin_addr) == 1) {
        a4.sin_family = AF_INET;
        a4.sin_port = htons((uint16_t)s->opts.port);
        addr = (const struct sockaddr *)&a4;
    } else if (inet_pton(AF_INET6, s->bind, &a6.sin6_addr) == 1) {
        a6.sin6_family = AF_INET6;
        a6.sin6_port = htons((uint16_t)s->opts.port);
        addr = (const struct sockaddr *)&a6;
        flags |= MHD_USE_IPv6;
    } else {
        return tn_fail("http server: bind address \"%s\" is not an IPv4 or IPv6 address", s->bind);
    }
    s->guard = tn_conn_guard_new(s->opts.header_timeout_s, s->opts.min_body_rate);
    if (!s->guard) return -1;
    s->starting = 1;
    s->start_error[0] = 0;
    /* requests older than our start cannot be in the (empty) replay cache:
     * refuse them (sign.h, tn_verifier_set_not_before) */
    if (s->opts.verifier && !s->opts.no_not_before) tn_verifier_set_not_before(s->opts.verifier, (int64_t)time(NULL));
    s->daemon = MHD_start_daemon(flags, (uint16_t)s->opts.port, NULL, NULL, access_cb, s,
                                 MHD_OPTION_SOCK_ADDR, addr,
                                 MHD_OPTION_URI_LOG_CALLBACK, uri_cb, s,
                                 MHD_OPTION_NOTIFY_COMPLETED, completed_cb, s,
                                 MHD_OPTION_NOTIFY_CONNECTION, notify_cb, s,
                                 MHD_OPTION_CONNECTION_LIMIT, s->opts.max_conns,
                                 MHD_OPTION_PER_IP_CONNECTION_LIMIT, s->opts.max_conns_per_addr,
                                 MHD_OPTION_CONNECTION_TIMEOUT, s->opts.idle_timeout_s,
                                 MHD_OPTION_EXTERNAL_LOGGER, log_cb, s,
                                 MHD_OPTION_END);
    s->starting = 0;
    if (!s->daemon) {
        tn_conn_guard_free(s->guard);
        s->guard = NULL;
        return tn_fail("http server: cannot listen on %s port %d%s%s", s->bind, s->opts.port,
                       s->start_error[0] ? ": " : "", s->start_error);
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT);
    s->port = info ? info->port : s->opts.port;
    return 0;
}

int tn_http_server_port(const tn_http_server *s) { return s->port; }

void tn_http_server_stop(tn_http_server *s) {
    if (!s || !s->daemon) return;
    MHD_stop_daemon(s->daemon);
    s->daemon = NULL;
    s->slow_closed = tn_conn_guard_closed(s->guard);
    tn_conn_guard_free(s->guard);
    s->guard = NULL;
}

uint64_t tn_http_server_slow_closed(const tn_http_server *s) {
    return s->guard ? tn_conn_guard_closed(s->guard) : s->slow_closed;
}

void tn_http_server_free(tn_http_server *s) {
    if (!s) return;
    tn_http_server_stop(s);
    for (size_t i = 0; i < s->nroutes; i++) {
        free((char *)s->routes[i].method);
        free((char *)s->routes[i].path);
        free((char *)s->routes[i].upload_dir);
    }
    free(s->routes);
    free(s->bind);
    free(s);
}
