/* http_client.c - libcurl wrapper with request signing (see http_client.h). */
#include "net/http_client.h"
#include "base/err.h"
#include "base/fs.h"
#include "base/log.h"
#include "base/mem.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_CONNECT_MS 5000
#define DEFAULT_TIMEOUT_MS 30000
#define DEFAULT_MAX_RESPONSE (16u << 20)
#define MAX_ERROR_BODY (64u << 10) /* kept from a failed download's reply */

static pthread_once_t g_curl_once = PTHREAD_ONCE_INIT;
static CURLcode g_curl_rc;

static void curl_once(void) { g_curl_rc = curl_global_init(CURL_GLOBAL_DEFAULT); }

int tn_http_global_init(void) {
    /* curl_global_init is not thread-safe in every libcurl build; once-only
     * initialisation makes the first caller, whichever thread, do it */
    pthread_once(&g_curl_once, curl_once);
    if (g_curl_rc != CURLE_OK) return tn_fail("libcurl: initialisation failed: %s", curl_easy_strerror(g_curl_rc));
    return tn_crypto_init();
}

/* ---- in-memory sink ----------------------------------------------------- */

typedef struct {
    char *p;
    size_t n, cap, max;
    int overflow;
} membuf;

static size_t mem_write(char *data, size_t size, size_t nmemb, void *ud) {
    membuf *m = ud;
    size_t n = size * nmemb;
    if (m->n + n > m->max) {
        m->overflow = 1;
        return 0; /* aborts the transfer with CURLE_WRITE_ERROR */
    }
    if (m->n + n + 1 > m->cap) {
        size_t want = m->cap ? m->cap : 1024;
        while (want < m->n + n + 1) want *= 2;
        m->p = tn_realloc(m->p, want);
        m->cap = want;
    }
    memcpy(m->p + m->n, data, n);
    m->n += n;
    m->p[m->n] = 0;
    return n;
}

/* ---- one transfer ------------------------------------------------------- */

typedef struct {
    CURL *h;
    CURLU *u;
    struct curl_slist *hdrs;
    char errbuf[CURL_ERROR_SIZE];
    const char *method, *url;
    long connect_ms, timeout_ms;
    CURLcode code; /* of the last perform */
} xfer;

static void xfer_free(xfer *x) {
    if (x->h) curl_easy_cleanup(x->h);
    if (x->u) curl_url_cleanup(x->u);
    curl_slist_free_all(x->hdrs);
    memset(x, 0, sizeof *x);
}

static void add_header(xfer *x, const char *name, const char *value) {
    char *line = tn_sprintf("%s: %s", name, value);
    struct curl_slist *l = curl_slist_append(x->hdrs, line);
    free(line);
    if (!l) {
        fprintf(stderr, "tuna: out of memory\n");
        abort();
    }
    x->hdrs = l;
}

/* Sets up the handle: URL (parsed once, so the signed target is the one curl
 * sends), timeouts, signature headers over body_sha256. */
static int xfer_init(xfer *x, const tn_http_opts *o, const char *method, const char *url,
                     const unsigned char body_sha256[TN_SHA256_BYTES], const char *content_type) {
    memset(x, 0, sizeof *x);
    x->method = method;
    x->url = url;
    if (tn_http_global_init()) return -1;
    x->connect_ms = o->connect_timeout_ms > 0 ? o->connect_timeout_ms : DEFAULT_CONNECT_MS;
    x->timeout_ms = o->timeout_ms == 0 ? DEFAULT_TIMEOUT_MS : o->timeout_ms < 0 ? 0 : o->timeout_ms;
    x->u = curl_url();
    x->h = curl_easy_init();
    if (!x->u || !x->h) {
        xfer_free(x);
        return tn_fail("%s %s: cannot create a curl handle", method, url);
    }
    CURLUcode uc = curl_url_set(x->u, CURLUPART_URL, url, 0);
    if (uc != CURLUE_OK) {
        tn_fail("%s %s: bad URL: %s", method, url, curl_url_strerror(uc));
        xfer_free(x);
        return -1;
    }
    if (o->key) {
        char *path = NULL, *query = NULL;
        if (curl_url_get(x->u, CURLUPART_PATH, &path, 0) != CURLUE_OK) {
            tn_fail("%s %s: URL without a path", method, url);
            xfer_free(x);
            return -1;
        }
        curl_url_get(x->u, CURLUPART_QUERY, &query, 0); /* CURLUE_NO_QUERY leaves NULL */
        char *target = query ? tn_sprintf("%s?%s", path, query) : tn_strdup(path);
        curl_free(path);
        curl_free(query);
        tn_sig_headers sh;
        int rc = tn_sign_request(o->key, method, target, body_sha256, (int64_t)time(NULL), &sh);
        free(target);
        if (rc) {
            xfer_free(x);
            return -1;
        }
        add_header(x, TN_HDR_KEY, sh.key);
        add_header(x, TN_HDR_TIME, sh.time);
        add_header(x, TN_HDR_NONCE, sh.nonce);
        add_header(x, TN_HDR_SIG, sh.sig);
    }
    if (content_type) add_header(x, "Content-Type", content_type);
    if (o->bearer) {
        char *v = tn_sprintf("Bearer %s", o->bearer);
        add_header(x, "Authorization", v);
        free(v);
    }
    curl_easy_setopt(x->h, CURLOPT_CURLU, x->u);
    curl_easy_setopt(x->h, CURLOPT_ERRORBUFFER, x->errbuf);
    curl_easy_setopt(x->h, CURLOPT_NOSIGNAL, 1L); /* no SIGALRM games in threaded callers */
    curl_easy_setopt(x->h, CURLOPT_CONNECTTIMEOUT_MS, x->connect_ms);
    curl_easy_setopt(x->h, CURLOPT_TIMEOUT_MS, x->timeout_ms);
    curl_easy_setopt(x->h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(x->h, CURLOPT_FOLLOWLOCATION, 0L); /* a redirect would break the signature anyway */
    return 0;
}

/* Runs the transfer; on a transport failure sets the error (naming the
 * request) and returns -1. Callers whose write callback aborted the
 * transfer replace the message with their own reason. */
static int xfer_perform(xfer *x, long *status) {
    if (x->hdrs) curl_easy_setopt(x->h, CURLOPT_HTTPHEADER, x->hdrs);
    x->errbuf[0] = 0;
    CURLcode rc = x->code = curl_easy_perform(x->h);
    if (rc == CURLE_OK) {
        curl_easy_getinfo(x->h, CURLINFO_RESPONSE_CODE, status);
        return 0;
    }
    const char *detail = x->errbuf[0] ? x->errbuf : curl_easy_strerror(rc);
    switch (rc) {
    case CURLE_COULDNT_CONNECT: {
        long os_errno = 0;
        curl_easy_getinfo(x->h, CURLINFO_OS_ERRNO, &os_errno);
        if (os_errno == ECONNREFUSED || strstr(detail, "refused"))
            return tn_fail("%s %s: connection refused", x->method, x->url);
        return tn_fail("%s %s: cannot connect (%s)", x->method, x->url, os_errno ? strerror((int)os_errno) : detail);
    }
    case CURLE_COULDNT_RESOLVE_HOST:
        return tn_fail("%s %s: cannot resolve the host (%s)", x->method, x->url, detail);
    case CURLE_OPERATION_TIMEDOUT: {
        curl_off_t connected = 0;
        curl_easy_getinfo(x->h, CURLINFO_CONNECT_TIME_T, &connected);
        if (!connected)
            return tn_fail("%s %s: connect timed out after %ld ms", x->method, x->url,
                           x->timeout_ms && x->timeout_ms < x->connect_ms ? x->timeout_ms : x->connect_ms);
        return tn_fail("%s %s: timed out after %ld ms", x->method, x->url, x->timeout_ms);
    }
    default: return tn_fail("%s %s: %s", x->method, x->url, detail);
    }
}

static void resp_take(tn_http_resp *out, long status, membuf *m) {
    out->status = status;
    out->body = m->p ? m->p : tn_strdup("");
    out->body_len = m->n;
    out->json = NULL;
    if (m->n > 0) {
        json_error_t e;
        out->json = json_loadb(out->body, out->body_len, 0, &e);
    }
    m->p = NULL;
}

void tn_http_resp_free(tn_http_resp *r) {
    if (!r) return;
    free(r->body);
    json_decref(r->json);
    memset(r, 0, sizeof *r);
}

const char *tn_http_resp_error(const tn_http_resp *r) {
    const json_t *e = r->json ? json_object_get(r->json, "error") : NULL;
    if (json_is_string(e)) return json_string_value(e);
    return r->body ? r->body : "";
}

/* ---- in-memory requests ------------------------------------------------- */

int tn_http_request(const tn_http_opts *o, const char *method, const char *url, const char *content_type,
                    const void *body, size_t body_len, tn_http_resp *out) {
    memset(out, 0, sizeof *out);
    unsigned char sha[TN_SHA256_BYTES];
    if (tn_crypto_init()) return -1;
    /* POST/PUT/... without a body still send an explicit empty one
     * (Content-Length: 0), which every server understands */
    int bodyless = !strcmp(method, "GET") || !strcmp(method, "DELETE");
    if (!body && !bodyless) {
        body = "";
        body_len = 0;
        content_type = NULL;
    }
    tn_sha256(body ? body : "", body ? body_len : 0, sha);
    xfer x;
    if (xfer_init(&x, o, method, url, sha, body ? content_type : NULL)) return -1;
    membuf m = {.max = o->max_response_bytes ? o->max_response_bytes : DEFAULT_MAX_RESPONSE};
    curl_easy_setopt(x.h, CURLOPT_WRITEFUNCTION, mem_write);
    curl_easy_setopt(x.h, CURLOPT_WRITEDATA, &m);
    if (body) {
        curl_easy_setopt(x.h, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(x.h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
    }
    if (!strcmp(method, "GET") && !body)
        curl_easy_setopt(x.h, CURLOPT_HTTPGET, 1L);
    else if (strcmp(method, "POST") != 0)
        curl_easy_setopt(x.h, CURLOPT_CUSTOMREQUEST, method);
    long status = 0;
    int rc = xfer_perform(&x, &status);
    if (rc && m.overflow) tn_fail("%s %s: reply larger than %zu bytes", method, url, m.max);
    xfer_free(&x);
    if (rc) {
        free(m.p);
        return -1;
    }
    resp_take(out, status, &m);
    return 0;
}

int tn_http_json(const tn_http_opts *o, const char *method, const char *url, const json_t *body, tn_http_resp *out) {
    char *s = NULL;
    if (body) {
        s = json_dumps(body, JSON_COMPACT);
        if (!s) {
            memset(out, 0, sizeof *out);
            return tn_fail("%s %s: cannot serialise the JSON body", method, url);
        }
    }
    int rc = tn_http_request(o, method, url, "application/json", s, s ? strlen(s) : 0, out);
    free(s);
    return rc;
}

/* ---- file upload -------------------------------------------------------- */

/* Hashes an open file from its start and rewinds it: one open file for hash
 * and upload, so a rename over the path in between cannot split them. */
static int hash_stream(FILE *f, const char *path, unsigned char sha[TN_SHA256_BYTES], uint64_t *size) {
    tn_sha256_ctx st;
    tn_sha256_init(&st);
    unsigned char *buf = tn_malloc(1 << 16);
    uint64_t total = 0;
    size_t n;
    while ((n = fread(buf, 1, 1 << 16, f)) > 0) {
        tn_sha256_update(&st, buf, n);
        total += n;
    }
    free(buf);
    if (ferror(f)) return tn_fail_errno("%s: read failed", path);
    tn_sha256_final(&st, sha);
    *size = total;
    if (fseeko(f, 0, SEEK_SET) != 0) return tn_fail_errno("%s: cannot rewind", path);
    return 0;
}

int tn_http_upload_file(const tn_http_opts *o, const char *method, const char *url, const char *path,
                        tn_http_resp *out) {
    memset(out, 0, sizeof *out);
    if (tn_http_global_init()) return -1;
    FILE *f = fopen(path, "rb");
    if (!f) return tn_fail_errno("%s %s: cannot open %s", method, url, path);
    unsigned char sha[TN_SHA256_BYTES];
    uint64_t size;
    if (hash_stream(f, path, sha, &size)) {
        fclose(f);
        return tn_err_prefix("%s %s", method, url);
    }
    xfer x;
    if (xfer_init(&x, o, method, url, sha, "application/octet-stream")) {
        fclose(f);
        return -1;
    }
    membuf m = {.max = o->max_response_bytes ? o->max_response_bytes : DEFAULT_MAX_RESPONSE};
    curl_easy_setopt(x.h, CURLOPT_WRITEFUNCTION, mem_write);
    curl_easy_setopt(x.h, CURLOPT_WRITEDATA, &m);
    curl_easy_setopt(x.h, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(x.h, CURLOPT_READDATA, f); /* curl's default read function is fread */
    curl_easy_setopt(x.h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)size);
    if (strcmp(method, "PUT") != 0) curl_easy_setopt(x.h, CURLOPT_CUSTOMREQUEST, method);
    long status = 0;
    int rc = xfer_perform(&x, &status);
    if (rc && m.overflow) tn_fail("%s %s: reply larger than %zu bytes", method, url, m.max);
    xfer_free(&x);
    fclose(f);
    if (rc) {
        free(m.p);
        return -1;
    }
    resp_take(out, status, &m);
    return 0;
}

/* ---- file download ------------------------------------------------------ */

typedef struct {
    CURL *h;
    tn_atomic_file af; /* the download, beside dest until it is whole and checked */
    tn_sha256_ctx sha;
    uint64_t n, max;
    int over, werr, is_error;
    membuf err; /* the body of a non-2xx reply */
} filesink;

static size_t file_write(char *data, size_t size, size_t nmemb, void *ud) {
    filesink *s = ud;
    size_t n = size * nmemb;
    if (!s->is_error) {
        long status = 0;
        curl_easy_getinfo(s->h, CURLINFO_RESPONSE_CODE, &status);
        if (status < 200 || status >= 300) s->is_error = 1;
    }
    if (s->is_error) { /* keep a bounded error message, not a file */
        if (s->err.n + n > s->err.max) n = s->err.max - s->err.n;
        if (n) mem_write(data, 1, n, &s->err);
        return size * nmemb;
    }
    if (s->max && s->n + n > s->max) {
        s->over = 1;
        return 0;
    }
    tn_sha256_update(&s->sha, data, n);
    if (tn_write_all(s->af.fd, data, n, s->af.tmp)) {
        s->werr = errno ? errno : EIO;
        return 0;
    }
    s->n += n;
    return n;
}

int tn_http_download(const tn_http_opts *o, const char *url, const char *dest, uint64_t max_bytes,
                     const char *expect_sha256_hex, char got_sha256_hex[2 * TN_SHA256_BYTES + 1]) {
    unsigned char want[TN_SHA256_BYTES], got[TN_SHA256_BYTES];
    if (expect_sha256_hex && tn_hex_decode(expect_sha256_hex, want, sizeof want, "expected sha256"))
        return tn_err_prefix("GET %s", url);
    unsigned char empty[TN_SHA256_BYTES];
    if (tn_crypto_init()) return -1;
    tn_sha256("", 0, empty);
    xfer x;
    if (xfer_init(&x, o, "GET", url, empty, NULL)) return -1;
    /* the temporary file sits next to dest so the final rename is atomic */
    filesink s = {.h = x.h, .max = max_bytes, .err = {.max = MAX_ERROR_BODY}};
    if (tn_atomic_open(&s.af, dest, 0600)) {
        tn_err_prefix("GET %s", url);
        xfer_free(&x);
        return -1;
    }
    const char *tmp = s.af.tmp;
    tn_sha256_init(&s.sha);
    curl_easy_setopt(x.h, CURLOPT_HTTPGET, 1L);
    curl_easy_setopt(x.h, CURLOPT_WRITEFUNCTION, file_write);
    curl_easy_setopt(x.h, CURLOPT_WRITEDATA, &s);
    /* refuses up front when the server announces a larger Content-Length */
    if (max_bytes) curl_easy_setopt(x.h, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)max_bytes);
    long status = 0;
    int rc = xfer_perform(&x, &status);
    if (rc && (s.over || x.code == CURLE_FILESIZE_EXCEEDED)) {
        /* our cap, whether curl saw it in Content-Length or we counted it */
        tn_fail("GET %s: download larger than the %llu byte limit", url, (unsigned long long)max_bytes);
    } else if (rc && s.werr) {
        tn_fail("GET %s: writing %s: %s", url, tmp, strerror(s.werr));
    }
    if (!rc && s.is_error) {
        tn_fail("GET %s: HTTP %ld: %s", url, status, s.err.p ? s.err.p : "");
        /* prefer the JSON error field when there is one */
        json_t *j = s.err.p ? json_loads(s.err.p, 0, NULL) : NULL;
        const json_t *e = j ? json_object_get(j, "error") : NULL;
        if (json_is_string(e)) tn_fail("GET %s: HTTP %ld: %s", url, status, json_string_value(e));
        json_decref(j);
        rc = -1;
    }
    xfer_free(&x);
    free(s.err.p);
    if (!rc) {
        tn_sha256_final(&s.sha, got);
        char hex[2 * TN_SHA256_BYTES + 1];
        tn_hex_encode(got, sizeof got, hex);
        if (got_sha256_hex) memcpy(got_sha256_hex, hex, sizeof hex);
        if (expect_sha256_hex && sodium_memcmp(got, want, sizeof got) != 0)
            rc = tn_fail("GET %s: sha256 mismatch: got %s, expected %s (%llu bytes)", url, hex, expect_sha256_hex,
                         (unsigned long long)s.n);
    }
    if (!rc && tn_atomic_commit(&s.af, 1)) rc = tn_err_prefix("GET %s", url);
    if (rc) tn_atomic_abort(&s.af);
    return rc;
}
