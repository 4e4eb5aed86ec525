/* test_http_slow.c - slow and greedy clients against the HTTP server, over
 * real sockets (issue 18, finding 9: one client holding 64 slow connections
 * left the validator unable to answer anyone for as long as it held them).
 *
 * 200 connections from 127.0.0.1 that trickle an unfinished request must not
 * stop another address (127.0.0.2) from getting its health check and its
 * upload through; the slow ones that were let in are closed once their
 * headers are late; a body sent too slowly is cut off too. */
#include "harness.h"

#include "net/http_server.h"
#include "base/err.h"
#include "base/fs.h"
#include "base/clock.h"
#include "base/log.h"
#include "base/mem.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

static tn_http_server *g_srv;
static int g_port;
static char *g_upload_dir, *g_store_dir;

static void h_health(tn_http_req *r, void *ud) {
    (void)ud;
    tn_http_reply_json(r, 200, json_pack("{s:s}", "status", "ok"));
}

static void h_upload(tn_http_req *r, void *ud) {
    (void)ud;
    char *dest = tn_path_join(g_store_dir, "up.bin");
    int ok = rename(r->upload_path, dest) == 0;
    free(dest);
    if (!ok) {
        tn_http_reply_error(r, 500, "cannot keep the upload");
        return;
    }
    tn_http_reply_json(r, 201, json_pack("{s:I}", "size", (json_int_t)r->upload_size));
}

/* A TCP connection to the server from source address `from`; -1 on failure. */
static int connect_from(const char *from) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    /* a server that stops reading fails the test instead of hanging it */
    struct timeval tv = {.tv_sec = 5};
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    struct sockaddr_in src = {.sin_family = AF_INET}, dst = {.sin_family = AF_INET};
    inet_pton(AF_INET, from, &src.sin_addr);
    inet_pton(AF_INET, "127.0.0.1", &dst.sin_addr);
    dst.sin_port = htons((uint16_t)g_port);
    if (bind(fd, (struct sockaddr *)&src, sizeof src) != 0 ||
        connect(fd, (struct sockaddr *)&dst, sizeof dst) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static int send_str(int fd, const char *s) { return tn_write_all(fd, s, strlen(s), "socket"); }

/* Waits up to ms for the peer: 1 when it closed (EOF or reset), 0 when it
 * is still open and silent, 2 when it sent data. */
static int peer_state(int fd, int ms) {
    struct pollfd p = {.fd = fd, .events = POLLIN};
    if (poll(&p, 1, ms) <= 0) return 0;
    char c;
    ssize_t n = recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
    return n > 0 ? 2 : 1;
}

/* Reads a reply's status code within ms; -1 when none came. */
static int read_status(int fd, int ms) {
    char buf[256];
    size_t n = 0;
    double until = tn_now() + ms / 1000.0;
    while (n < sizeof buf - 1 && tn_now() < until) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 50) <= 0) continue;
        ssize_t r = recv(fd, buf + n, sizeof buf - 1 - n, 0);
        if (r <= 0) break;
        n += (size_t)r;
        buf[n] = 0;
        if (strstr(buf, "\r\n")) break;
    }
    buf[n] = 0;
    int code = -1;
    if (sscanf(buf, "HTTP/1.%*d %d", &code) != 1) return -1;
    return code;
}

TEST(another_address_is_served_under_200_slow_connections) {
    int slow[200], n_open = 0;
    for (int i = 0; i < 200; i++) {
        slow[i] = connect_from("127.0.0.1");
        /* an unfinished request: no blank line ever ends the headers */
        if (slow[i] >= 0 && send_str(slow[i], "GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: ") == 0) n_open++;
    }
    CHECKF(n_open > 0, "no slow connection could even connect");
    usleep(200 * 1000);
    /* Most were refused at accept: one address holds at most 4 here. */
    int still_open = 0;
    for (int i = 0; i < 200; i++)
        if (slow[i] >= 0 && peer_state(slow[i], 0) == 0) still_open++;
    CHECKF(still_open <= 4, "%d slow connections from one address are still open (limit 4)", still_open);

    /* Another address gets its health check and its upload through. */
    int fd = connect_from("127.0.0.2");
    if (fd < 0) {
        for (int i = 0; i < 200; i++)
            if (slow[i] >= 0) close(slow[i]);
        SKIP("cannot bind a socket to 127.0.0.2 on this machine");
    }
    double t0 = tn_now();
    CHECK(send_str(fd, "GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n") == 0);
    CHECK(read_status(fd, 3000) == 200);
    CHECKF(tn_now() - t0 < 2.0, "the health check took %.2f s", tn_now() - t0);
    close(fd);

    size_t body_len = 256 * 1024;
    char *body = tn_malloc(body_len);
    for (size_t i = 0; i < body_len; i++) body[i] = (char)(i * 13);
    fd = connect_from("127.0.0.2");
    char hdr[160];
    snprintf(hdr, sizeof hdr, "PUT /upload HTTP/1.1\r\nHost: x\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n",
             body_len);
    CHECK(fd >= 0 && send_str(fd, hdr) == 0 && tn_write_all(fd, body, body_len, "socket") == 0);
    CHECK(read_status(fd, 5000) == 201);
    close(fd);
    char *kept = tn_path_join(g_store_dir, "up.bin");
    size_t got_len = 0;
    char *got = tn_read_file(kept, &got_len);
    CHECK(got && got_len == body_len && memcmp(got, body, body_len) == 0);
    free(got);
    free(kept);
    free(body);

    /* The slow ones that were let in are closed once their headers are late
     * (1 s here), without ever finishing their request. */
    usleep(1800 * 1000);
    int closed = 0, alive = 0;
    for (int i = 0; i < 200; i++) {
        if (slow[i] < 0) continue;
        int st = peer_state(slow[i], 0);
        closed += st == 1;
        alive += st == 0;
        close(slow[i]);
    }
    CHECKF(alive == 0, "%d slow connections outlived the header deadline", alive);
    CHECK(tn_http_server_slow_closed(g_srv) >= 1);
    (void)closed;
}

TEST(slow_body_is_cut_off_fast_body_is_not) {
    /* Headers on time, then a trickle: under 1 KiB/s after 1 s of grace. */
    int fd = connect_from("127.0.0.3");
    if (fd < 0) SKIP("cannot bind a socket to 127.0.0.3 on this machine");
    CHECK(send_str(fd, "PUT /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n") == 0);
    uint64_t before = tn_http_server_slow_closed(g_srv);
    int st = 0;
    double t0 = tn_now();
    while (tn_now() - t0 < 4.0 && (st = peer_state(fd, 250)) == 0) send_str(fd, "x");
    CHECKF(st == 1, "a body trickling at 4 bytes/s was not cut off within 4 s");
    CHECK(tn_http_server_slow_closed(g_srv) == before + 1);
    close(fd);
}

int main(void) {
    signal(SIGPIPE, SIG_IGN); /* a write to a socket the server closed fails, not kills */
    g_upload_dir = tn_path_join(tn_t_tmpdir(), "incoming");
    g_store_dir = tn_path_join(tn_t_tmpdir(), "store");
    tn_mkdir_p(g_upload_dir);
    tn_mkdir_p(g_store_dir);
    tn_http_server_opts o = {.port = 0, .max_conns_per_addr = 4, .header_timeout_s = 1.0, .min_body_rate = 1024};
    g_srv = tn_http_server_new(&o);
    const tn_http_route routes[] = {
        {.method = "GET", .path = "/health", .fn = h_health},
        {.method = "PUT", .path = "/upload", .flags = TN_ROUTE_UPLOAD, .max_body = 1 << 20,
         .upload_dir = g_upload_dir, .fn = h_upload},
    };
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++)
        if (tn_http_server_route(g_srv, &routes[i])) return 1;
    if (tn_http_server_start(g_srv)) {
        fprintf(stderr, "cannot start the test server: %s\n", tn_errmsg());
        return 1;
    }
    g_port = tn_http_server_port(g_srv);
    RUN(another_address_is_served_under_200_slow_connections);
    RUN(slow_body_is_cut_off_fast_body_is_not);
    tn_http_server_free(g_srv);
    free(g_upload_dir);
    free(g_store_dir);
    return tn_test_summary("http_slow");
}
