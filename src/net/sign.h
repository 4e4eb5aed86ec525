/* sign.h - request signing and verification (docs/protocol.md, "Signing").
 *
 * Every request between validator and miners carries four headers:
 *   X-Tuna-Key        the sender's key id (public key, 64 hex)
 *   X-Tuna-Time       unix seconds, decimal
 *   X-Tuna-Nonce      16 random bytes, 32 hex
 *   X-Tuna-Signature  Ed25519 signature (128 hex) of the canonical string
 *     "TUNA1\n" METHOD "\n" PATH?QUERY "\n" TIME "\n" NONCE "\n" hex(sha256(BODY))
 * PATH?QUERY is the request target exactly as it appears on the request line
 * (still percent-encoded), so signer and verifier never disagree about
 * normalisation. The verifier refuses: a missing or malformed header, an
 * unknown key, a timestamp more than `skew` seconds away from its clock (or
 * before its not-before time), a bad signature, and a nonce it has seen in the
 * last 2*skew seconds from the same key.
 */
#ifndef TN_NET_SIGN_H
#define TN_NET_SIGN_H

#include "base/sha256.h"
#include "net/keys.h"

#include <stddef.h>
#include <stdint.h>

#define TN_HDR_KEY "X-Tuna-Key"
#define TN_HDR_TIME "X-Tuna-Time"
#define TN_HDR_NONCE "X-Tuna-Nonce"
#define TN_HDR_SIG "X-Tuna-Signature"
#define TN_SIGN_VERSION "TUNA1"
#define TN_NONCE_BYTES 16
#define TN_SIG_BYTES 64
#define TN_SIGN_DEFAULT_SKEW_S 300
#define TN_REPLAY_DEFAULT_CAPACITY 65536

/* Header values produced by tn_sign_request, NUL-terminated. */
typedef struct {
    char key[TN_KEY_ID_LEN + 1];
    char time[24];
    char nonce[2 * TN_NONCE_BYTES + 1];
    char sig[2 * TN_SIG_BYTES + 1];
} tn_sig_headers;

/* The four header values as received; NULL where a header is missing. */
typedef struct {
    const char *key, *time, *nonce, *sig;
} tn_sig_fields;

/* The canonical string (heap), for tests and for docs/protocol.md's example. */
char *tn_sign_canonical(const char *method, const char *path_query, const char *time, const char *nonce,
                        const unsigned char body_sha256[TN_SHA256_BYTES]);
/* Signs a request at unix time `now` with a fresh random nonce. */
int tn_sign_request(const tn_keypair *kp, const char *method, const char *path_query,
                    const unsigned char body_sha256[TN_SHA256_BYTES], int64_t now, tn_sig_headers *out);

/* Why a request was refused; each has its own message and HTTP status. */
typedef enum {
    TN_AUTH_OK = 0,
    TN_AUTH_MISSING,     /* 401 "missing header X-Tuna-..." */
    TN_AUTH_MALFORMED,   /* 401 "malformed header X-Tuna-...: ..." */
    TN_AUTH_UNKNOWN_KEY, /* 403 "unknown key 0123456789abcdef..." */
    TN_AUTH_STALE,       /* 401 "stale timestamp (skew 421 s > 300 s)" */
    TN_AUTH_BAD_SIG,     /* 401 "bad signature" */
    TN_AUTH_REPLAY,      /* 401 "replayed nonce" */
    TN_AUTH_BUSY,        /* 503 replay cache full of live nonces: fail closed */
} tn_auth_status;

/* The HTTP status for a refusal (401, 403 or 503; 200 for TN_AUTH_OK). */
int tn_auth_http_status(tn_auth_status st);

/* Returns 1 when key_id (64 lower-case hex) may make requests. Called from
 * server threads concurrently: must be thread-safe. */
typedef int (*tn_key_known_fn)(void *ud, const char *key_id);

typedef struct tn_verifier tn_verifier;

/* skew_s <= 0 picks TN_SIGN_DEFAULT_SKEW_S, capacity 0 TN_REPLAY_DEFAULT_CAPACITY
 * (the most nonces live at once: 2*skew seconds of requests). */
tn_verifier *tn_verifier_new(int skew_s, size_t replay_capacity);
void tn_verifier_free(tn_verifier *v);
/* Adds a key id to the allowed set (thread-safe; any time). */
int tn_verifier_allow(tn_verifier *v, const char *key_id);
/* A callback consulted for keys not in the set (e.g. a database of miners). */
void tn_verifier_set_lookup(tn_verifier *v, tn_key_known_fn fn, void *ud);
/* Refuse requests timestamped before t (unix s). A server sets its start time
 * here: nonces are not persisted, so this stops a request captured before a
 * restart from being replayed after it (docs/protocol.md, "Restarts"). */
void tn_verifier_set_not_before(tn_verifier *v, int64_t t);
int tn_verifier_skew(const tn_verifier *v);

/* The checks that need no body: headers present and well-formed, key known,
 * timestamp fresh. Servers run them before reading a large upload. Returns 0,
 * or -1 with *st and the error message set. */
int tn_verify_precheck(tn_verifier *v, const tn_sig_fields *h, int64_t now, tn_auth_status *st);
/* The full verification: precheck, signature over the canonical string, then
 * the nonce is recorded (atomically with the replay check). */
int tn_verify_request(tn_verifier *v, const char *method, const char *path_query, const tn_sig_fields *h,
                      const unsigned char body_sha256[TN_SHA256_BYTES], int64_t now, tn_auth_status *st);

#endif
