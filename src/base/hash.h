/* hash.h - FNV-1a, the one non-cryptographic hash (64-bit).
 *
 * For hash sets and seeds derived from names: fast, byte-order free, and the
 * same everywhere. Not for anything an adversary chooses to collide; content
 * addresses and submission hashes are SHA-256 (base/sha256.h).
 */
#ifndef TN_BASE_HASH_H
#define TN_BASE_HASH_H

#include <stddef.h>
#include <stdint.h>

#define TN_FNV_OFFSET 0xcbf29ce484222325ULL
#define TN_FNV_PRIME 0x100000001b3ULL

/* Continues hash h over n bytes; start with h = TN_FNV_OFFSET. */
static inline uint64_t tn_fnv1a(uint64_t h, const void *p, size_t n) {
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * TN_FNV_PRIME;
    return h;
}

/* FNV-1a of a NUL-terminated string. */
static inline uint64_t tn_fnv1a_str(const char *s) {
    uint64_t h = TN_FNV_OFFSET;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * TN_FNV_PRIME;
    return h;
}

#endif
