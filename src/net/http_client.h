/* http_client.h - the arena's HTTP client (libcurl), signing every request.
 *
 * All calls return 0 when an HTTP reply arrived, whatever its status (the
 * caller reads resp->status), and -1 on transport failures with a message
 * that names the request: "POST http://127.0.0.1:1234/task_offer: connection
 * refused", "GET http://...: timed out after 3000 ms". The file transfers
 * also fail (-1) on a non-2xx status, a size cap or a hash mismatch, since
 * there is no useful file to hand back then.
 *
 * Requests are signed (sign.h) when opts->key is set: the signed target is
 * the path and query exactly as curl puts them on the request line.
 */
#ifndef TN_NET_HTTP_CLIENT_H
#define TN_NET_HTTP_CLIENT_H

#include "net/keys.h"
#include "net/sign.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    const tn_keypair *key;     /* signer; NULL sends unsigned requests */
    long connect_timeout_ms;   /* 0 = 5000 */
    long timeout_ms;           /* whole request; 0 = 30000, < 0 = no limit (big transfers) */
    size_t max_response_bytes; /* in-memory replies; 0 = 16 MiB */
    const char *bearer;        /* sent as "Authorization: Bearer ..." (OpenAI-style APIs); NULL: none */
} tn_http_opts;

typedef struct {
    long status;   /* HTTP status code */
    char *body;    /* reply body, NUL-terminated ("" when empty) */
    size_t body_len;
    json_t *json;  /* the body parsed, when it is JSON; else NULL */
} tn_http_resp;

/* curl_global_init, once per process, thread-safe. Every call below runs it. */
int tn_http_global_init(void);

/* A request with an optional in-memory body (body NULL: none). */
int tn_http_request(const tn_http_opts *o, const char *method, const char *url, const char *content_type,
                    const void *body, size_t body_len, tn_http_resp *out);
/* JSON in (NULL: no body), JSON out (out->json when the reply parses). */
int tn_http_json(const tn_http_opts *o, const char *method, const char *url, const json_t *body, tn_http_resp *out);
/* Streams a file as the body (the file is hashed first for the signature).
 * out gets the reply. */
int tn_http_upload_file(const tn_http_opts *o, const char *method, const char *url, const char *path,
                        tn_http_resp *out);
/* GETs url into dest (written as a temporary file and renamed when complete),
 * refusing more than max_bytes (0 = no cap) and, when expect_sha256_hex is
 * set, a body with another SHA-256. got_sha256_hex (may be NULL) receives the
 * hash. Nothing is left at dest on failure. */
int tn_http_download(const tn_http_opts *o, const char *url, const char *dest, uint64_t max_bytes,
                     const char *expect_sha256_hex, char got_sha256_hex[2 * TN_SHA256_BYTES + 1]);

/* The server's error message: the JSON "error" field, else the body. */
const char *tn_http_resp_error(const tn_http_resp *r);
void tn_http_resp_free(tn_http_resp *r);

#endif
