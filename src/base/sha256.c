/* sha256.c - SHA-256 over OpenSSL's libcrypto (see sha256.h).
 *
 * The low-level SHA256_* calls are deprecated in OpenSSL 3 in favour of EVP,
 * whose contexts are heap objects that every abandoned digest would have to
 * free; these run the same assembly (SHA-NI where present) on a context that
 * is plain memory, which is why they are used here and only here. */
#define OPENSSL_SUPPRESS_DEPRECATED
#include "base/sha256.h"
#include "base/err.h"
#include "base/mem.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/sha.h>
#include <stdlib.h>
#include <unistd.h>

_Static_assert(sizeof(SHA256_CTX) <= sizeof(((tn_sha256_ctx *)0)->opaque), "tn_sha256_ctx too small");

/* SHA256_Init/Update/Final cannot fail for SHA-256 on a valid context (they
 * return 1 always in OpenSSL 3's implementation): nothing to report. */
void tn_sha256_init(tn_sha256_ctx *c) { SHA256_Init((SHA256_CTX *)c->opaque); }

void tn_sha256_update(tn_sha256_ctx *c, const void *data, size_t n) {
    if (n) SHA256_Update((SHA256_CTX *)c->opaque, data, n);
}

void tn_sha256_final(tn_sha256_ctx *c, unsigned char out[TN_SHA256_BYTES]) {
    SHA256_Final(out, (SHA256_CTX *)c->opaque);
}

void tn_sha256(const void *data, size_t n, unsigned char out[TN_SHA256_BYTES]) {
    tn_sha256_ctx c;
    tn_sha256_init(&c);
    tn_sha256_update(&c, data, n);
    tn_sha256_final(&c, out);
}

int tn_sha256_file(const char *path, unsigned char out[TN_SHA256_BYTES], uint64_t *size) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return tn_fail_errno("%s: cannot open", path);
    tn_sha256_ctx st;
    tn_sha256_init(&st);
    enum { CHUNK = 1 << 20 };
    unsigned char *buf = tn_malloc(CHUNK);
    uint64_t total = 0;
    int rc = 0;
    for (;;) {
        ssize_t r = read(fd, buf, CHUNK);
        if (r < 0) {
            if (errno == EINTR) continue;
            rc = tn_fail_errno("%s: read failed", path);
            break;
        }
        if (r == 0) break;
        tn_sha256_update(&st, buf, (size_t)r);
        total += (uint64_t)r;
    }
    free(buf);
    close(fd);
    if (rc) return rc;
    tn_sha256_final(&st, out);
    if (size) *size = total;
    return 0;
}
