/* sha256.h - SHA-256, the one cryptographic hash: content addresses, upload
 * and request-body digests, the judge's weight hashes.
 *
 * Backed by OpenSSL's libcrypto, which uses the CPU's SHA instructions where
 * there are any (SHA-NI: about 6x libsodium's portable code, 0.27 vs 1.57 s
 * on 256 MB here), so hashing a multi-GB upload or model is not the slow
 * part. The context is plain memory (no allocation): callers may drop one
 * half-way, e.g. when a connection dies mid-upload, without a free.
 */
#ifndef TN_BASE_SHA256_H
#define TN_BASE_SHA256_H

#include <stddef.h>
#include <stdint.h>

#define TN_SHA256_BYTES 32

typedef struct {
    _Alignas(16) unsigned char opaque[128]; /* OpenSSL's SHA256_CTX (112 bytes) */
} tn_sha256_ctx;

void tn_sha256_init(tn_sha256_ctx *c);
void tn_sha256_update(tn_sha256_ctx *c, const void *data, size_t n);
void tn_sha256_final(tn_sha256_ctx *c, unsigned char out[TN_SHA256_BYTES]);

/* The digest of one buffer. */
void tn_sha256(const void *data, size_t n, unsigned char out[TN_SHA256_BYTES]);
/* The digest of a file's bytes, and its size if size is not NULL: 0, or -1
 * with the error set (naming the path). */
int tn_sha256_file(const char *path, unsigned char out[TN_SHA256_BYTES], uint64_t *size);

#endif
