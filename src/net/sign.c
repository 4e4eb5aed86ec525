/* sign.c - request signing, verification and the replay cache (see sign.h). */
#include "net/sign.h"
#include "base/err.h"
#include "base/mem.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

char *tn_sign_canonical(const char *method, const char *path_query, const char *time, const char *nonce,
                        const unsigned char body_sha256[TN_SHA256_BYTES]) {
    char hex[2 * TN_SHA256_BYTES + 1];
    tn_hex_encode(body_sha256, TN_SHA256_BYTES, hex);
    return tn_sprintf(TN_SIGN_VERSION "\n%s\n%s\n%s\n%s\n%s", method, path_query, time, nonce, hex);
}

int tn_sign_request(const tn_keypair *kp, const char *method, const char *path_query,
                    const unsigned char body_sha256[TN_SHA256_BYTES], int64_t now, tn_sig_headers *out) {
    if (tn_crypto_init()) return -1;
    unsigned char nonce[TN_NONCE_BYTES], sig[TN_SIG_BYTES];
    randombytes_buf(nonce, sizeof nonce);
    memcpy(out->key, kp->id, sizeof out->key);
    snprintf(out->time, sizeof out->time, "%" PRId64, now);
    tn_hex_encode(nonce, sizeof nonce, out->nonce);
    char *msg = tn_sign_canonical(method, path_query, out->time, out->nonce, body_sha256);
    int rc = crypto_sign_detached(sig, NULL, (const unsigned char *)msg, strlen(msg), kp->sec);
    free(msg);
    if (rc != 0) return tn_fail("%s %s: signing failed", method, path_query);
    tn_hex_encode(sig, sizeof sig, out->sig);
    return 0;
}

int tn_auth_http_status(tn_auth_status st) {
    switch (st) {
    case TN_AUTH_OK: return 200;
    case TN_AUTH_UNKNOWN_KEY: return 403;
    case TN_AUTH_BUSY: return 503;
    default: return 401;
    }
}

/* ---- replay cache -------------------------------------------------------
 * A FIFO ring of (key, nonce) entries in insertion order plus a chained hash
 * index into it. Every entry lives 2*skew seconds from insertion: a request
 * accepted at time `now` has |now - t| <= skew, and its timestamp t goes stale
 * once the clock passes t + skew <= now + 2*skew, after which the timestamp
 * check refuses the replay on its own. Since every entry gets the same
 * lifetime, expiry order is insertion order and eviction only ever looks at
 * the ring's head. When the ring is full of live entries we refuse (503)
 * rather than forget a nonce that could still be replayed. */

#define NIL UINT32_MAX

typedef struct {
    unsigned char key[TN_KEY_PUB_BYTES];
    unsigned char nonce[TN_NONCE_BYTES];
    int64_t expires;
    uint32_t next; /* next entry in the same bucket */
} replay_entry;

struct tn_verifier {
    pthread_mutex_t mu; /* guards everything below */
    int skew;
    int64_t not_before;
    int64_t clock; /* the largest `now` seen: keeps expiry monotonic if the wall clock steps back */
    /* allowed keys */
    unsigned char (*keys)[TN_KEY_PUB_BYTES];
    size_t nkeys, keys_cap;
    tn_key_known_fn lookup;
    void *lookup_ud;
    /* replay cache */
    replay_entry *ring;
    uint32_t cap, head, count;
    uint32_t *buckets;
    uint32_t nbuckets; /* a power of two */
    unsigned char hash_key[crypto_shorthash_KEYBYTES];
};

tn_verifier *tn_verifier_new(int skew_s, size_t capacity) {
    if (tn_crypto_init()) return NULL;
    if (capacity == 0) capacity = TN_REPLAY_DEFAULT_CAPACITY;
    if (capacity >= (1u << 30)) {
        tn_fail("replay cache capacity %zu is too large", capacity);
        return NULL;
    }
    tn_verifier *v = tn_calloc(1, sizeof *v);
    pthread_mutex_init(&v->mu, NULL);
    v->skew = skew_s > 0 ? skew_s : TN_SIGN_DEFAULT_SKEW_S;
    v->not_before = INT64_MIN;
    v->clock = INT64_MIN;
    v->cap = (uint32_t)capacity;
    v->ring = tn_calloc(capacity, sizeof *v->ring);
    v->nbuckets = 1;
    while (v->nbuckets < v->cap) v->nbuckets <<= 1;
    v->buckets = tn_malloc(v->nbuckets * sizeof *v->buckets);
    for (uint32_t i = 0; i < v->nbuckets; i++) v->buckets[i] = NIL;
    /* Nonces are chosen by the sender; a secret SipHash key keeps a key holder
     * from steering them all into one bucket. */
    crypto_shorthash_keygen(v->hash_key);
    return v;
}

void tn_verifier_free(tn_verifier *v) {
    if (!v) return;
    pthread_mutex_destroy(&v->mu);
    free(v->keys);
    free(v->ring);
    free(v->buckets);
    free(v);
}

int tn_verifier_allow(tn_verifier *v, const char *key_id) {
    unsigned char pub[TN_KEY_PUB_BYTES];
    if (tn_key_id_parse(key_id, pub)) return -1;
    pthread_mutex_lock(&v->mu);
    int found = 0;
    for (size_t i = 0; i < v->nkeys && !found; i++) found = !memcmp(v->keys[i], pub, sizeof pub);
    if (!found) {
        if (v->nkeys == v->keys_cap) {
            v->keys_cap = v->keys_cap ? 2 * v->keys_cap : 8;
            v->keys = tn_realloc(v->keys, v->keys_cap * sizeof *v->keys);
        }
        memcpy(v->keys[v->nkeys++], pub, sizeof pub);
    }
    pthread_mutex_unlock(&v->mu);
    return 0;
}

void tn_verifier_set_lookup(tn_verifier *v, tn_key_known_fn fn, void *ud) {
    pthread_mutex_lock(&v->mu);
    v->lookup = fn;
    v->lookup_ud = ud;
    pthread_mutex_unlock(&v->mu);
}

void tn_verifier_set_not_before(tn_verifier *v, int64_t t) {
    pthread_mutex_lock(&v->mu);
    v->not_before = t;
    pthread_mutex_unlock(&v->mu);
}

int tn_verifier_skew(const tn_verifier *v) { return v->skew; }

static uint32_t bucket_of(const tn_verifier *v, const unsigned char *key, const unsigned char *nonce) {
    unsigned char in[TN_KEY_PUB_BYTES + TN_NONCE_BYTES], h[crypto_shorthash_BYTES];
    memcpy(in, key, TN_KEY_PUB_BYTES);
    memcpy(in + TN_KEY_PUB_BYTES, nonce, TN_NONCE_BYTES);
    crypto_shorthash(h, in, sizeof in, v->hash_key);
    uint32_t x;
    memcpy(&x, h, sizeof x);
    return x & (v->nbuckets - 1);
}

/* Drops expired entries from the ring's head. Caller holds mu. */
static void replay_expire(tn_verifier *v, int64_t now) {
    while (v->count > 0 && v->ring[v->head].expires <= now) {
        replay_entry *e = &v->ring[v->head];
        uint32_t *link = &v->buckets[bucket_of(v, e->key, e->nonce)];
        while (*link != v->head) link = &v->ring[*link].next;
        *link = e->next;
        v->head = (v->head + 1) % v->cap;
        v->count--;
    }
}

/* Records (key, nonce) unless present. Caller holds mu. */
static tn_auth_status replay_check_insert(tn_verifier *v, const unsigned char *key, const unsigned char *nonce,
                                          int64_t now) {
    replay_expire(v, now);
    uint32_t b = bucket_of(v, key, nonce);
    for (uint32_t i = v->buckets[b]; i != NIL; i = v->ring[i].next)
        if (!memcmp(v->ring[i].nonce, nonce, TN_NONCE_BYTES) && !memcmp(v->ring[i].key, key, TN_KEY_PUB_BYTES))
            return TN_AUTH_REPLAY;
    if (v->count == v->cap) return TN_AUTH_BUSY;
    uint32_t slot = (v->head + v->count) % v->cap;
    replay_entry *e = &v->ring[slot];
    memcpy(e->key, key, TN_KEY_PUB_BYTES);
    memcpy(e->nonce, nonce, TN_NONCE_BYTES);
    e->expires = now + 2 * (int64_t)v->skew;
    e->next = v->buckets[b];
    v->buckets[b] = slot;
    v->count++;
    return TN_AUTH_OK;
}

/* ---- verification ------------------------------------------------------ */

static int refuse(tn_auth_status *st, tn_auth_status why) {
    *st = why;
    return -1;
}

/* Decimal digits with an optional '-', nothing else: "17e8", " 17" or "0x10"
 * are malformed rather than silently read as something else. */
static int parse_time(const char *s, int64_t *out) {
    const char *p = s + (*s == '-');
    if (!*p || strlen(p) > 18) return -1;
    for (const char *q = p; *q; q++)
        if (*q < '0' || *q > '9') return -1;
    errno = 0;
    long long t = strtoll(s, NULL, 10);
    if (errno) return -1;
    *out = (int64_t)t;
    return 0;
}

static int key_known(tn_verifier *v, const unsigned char *pub, const char *id) {
    for (size_t i = 0; i < v->nkeys; i++)
        if (!memcmp(v->keys[i], pub, TN_KEY_PUB_BYTES)) return 1;
    return v->lookup && v->lookup(v->lookup_ud, id);
}

int tn_verify_precheck(tn_verifier *v, const tn_sig_fields *h, int64_t now, tn_auth_status *st) {
    static const char *names[] = {TN_HDR_KEY, TN_HDR_TIME, TN_HDR_NONCE, TN_HDR_SIG};
    const char *vals[] = {h->key, h->time, h->nonce, h->sig};
    for (int i = 0; i < 4; i++)
        if (!vals[i] || !vals[i][0]) {
            tn_fail("missing header %s", names[i]);
            return refuse(st, TN_AUTH_MISSING);
        }
    unsigned char pub[TN_KEY_PUB_BYTES], nonce[TN_NONCE_BYTES], sig[TN_SIG_BYTES];
    int64_t t;
    if (tn_hex_decode(h->key, pub, sizeof pub, "malformed header " TN_HDR_KEY) ||
        tn_hex_decode(h->nonce, nonce, sizeof nonce, "malformed header " TN_HDR_NONCE) ||
        tn_hex_decode(h->sig, sig, sizeof sig, "malformed header " TN_HDR_SIG))
        return refuse(st, TN_AUTH_MALFORMED);
    if (parse_time(h->time, &t)) {
        tn_fail("malformed header " TN_HDR_TIME ": expected unix seconds, got \"%.24s\"", h->time);
        return refuse(st, TN_AUTH_MALFORMED);
    }
    /* The key id as a canonical lower-case string for the lookup callback. */
    char id[TN_KEY_ID_LEN + 1];
    tn_hex_encode(pub, sizeof pub, id);
    pthread_mutex_lock(&v->mu);
    int known = key_known(v, pub, id);
    int64_t not_before = v->not_before;
    pthread_mutex_unlock(&v->mu);
    if (!known) {
        tn_fail("unknown key %.16s...", id);
        return refuse(st, TN_AUTH_UNKNOWN_KEY);
    }
    int64_t d = now - t;
    if (d > v->skew || d < -v->skew) {
        tn_fail("stale timestamp (skew %" PRId64 " s > %d s; the request time is %s the server clock)", d < 0 ? -d : d,
                v->skew, d < 0 ? "ahead of" : "behind");
        return refuse(st, TN_AUTH_STALE);
    }
    if (t < not_before) {
        tn_fail("stale timestamp (%" PRId64 " is before this server's start at %" PRId64 "; sign the request again)",
                t, not_before);
        return refuse(st, TN_AUTH_STALE);
    }
    *st = TN_AUTH_OK;
    return 0;
}

int tn_verify_request(tn_verifier *v, const char *method, const char *path_query, const tn_sig_fields *h,
                      const unsigned char body_sha256[TN_SHA256_BYTES], int64_t now, tn_auth_status *st) {
    if (tn_verify_precheck(v, h, now, st)) return -1;
    unsigned char pub[TN_KEY_PUB_BYTES], nonce[TN_NONCE_BYTES], sig[TN_SIG_BYTES];
    /* precheck validated all three */
    tn_hex_decode(h->key, pub, sizeof pub, TN_HDR_KEY);
    tn_hex_decode(h->nonce, nonce, sizeof nonce, TN_HDR_NONCE);
    tn_hex_decode(h->sig, sig, sizeof sig, TN_HDR_SIG);
    char *msg = tn_sign_canonical(method, path_query, h->time, h->nonce, body_sha256);
    int bad = crypto_sign_verify_detached(sig, (const unsigned char *)msg, strlen(msg), pub) != 0;
    free(msg);
    if (bad) {
        tn_fail("bad signature");
        return refuse(st, TN_AUTH_BAD_SIG);
    }
    /* The nonce is recorded only once the signature holds, so unauthenticated
     * traffic cannot fill the cache; check and insert are one critical
     * section, so two copies of a request racing each other cannot both pass. */
    pthread_mutex_lock(&v->mu);
    if (now > v->clock) v->clock = now;
    tn_auth_status r = replay_check_insert(v, pub, nonce, v->clock);
    uint32_t count = v->count;
    pthread_mutex_unlock(&v->mu);
    if (r == TN_AUTH_REPLAY) {
        tn_fail("replayed nonce");
        return refuse(st, r);
    }
    if (r == TN_AUTH_BUSY) {
        tn_fail("replay cache full (%u nonces seen in the last %d s); retry later", count, 2 * v->skew);
        return refuse(st, r);
    }
    *st = TN_AUTH_OK;
    return 0;
}
