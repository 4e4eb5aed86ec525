/* keys.h - Ed25519 key pairs for the validator <-> miner protocol.
 *
 * A party is identified by its public key; the "key id" is the public key in
 * lower-case hex (64 characters). Key files are JSON:
 *   {"public": "<64 hex>", "secret": "<128 hex>"}
 * written with mode 0600 (the secret signs every request the party makes).
 * libsodium's 64-byte secret key holds the seed and the public key; loading
 * checks that the two halves of the file agree.
 */
#ifndef TN_NET_KEYS_H
#define TN_NET_KEYS_H

#include <stddef.h>

#define TN_KEY_PUB_BYTES 32
#define TN_KEY_SEC_BYTES 64
#define TN_KEY_ID_LEN 64 /* hex characters of a key id, without the NUL */

typedef struct {
    unsigned char pub[TN_KEY_PUB_BYTES];
    unsigned char sec[TN_KEY_SEC_BYTES];
    char id[TN_KEY_ID_LEN + 1]; /* hex(pub), NUL-terminated */
} tn_keypair;

/* Initialises libsodium once per process (thread-safe, idempotent). Every
 * function of keys/sign calls it; call it yourself before using libsodium. */
int tn_crypto_init(void);

/* A fresh random key pair. */
int tn_keypair_generate(tn_keypair *kp);
/* Writes the key file with mode 0600. Refuses an existing path unless `force`
 * (then replaces it atomically). */
int tn_keypair_save(const tn_keypair *kp, const char *path, int force);
/* Loads a key file; errors name the file and the field ("keys.json: field
 * secret: expected 128 hex characters, got 12"). Warns when the file can be
 * read by group or others. */
int tn_keypair_load(tn_keypair *kp, const char *path);
/* Zeroes the secret (sodium_memzero: not optimised away). */
void tn_keypair_wipe(tn_keypair *kp);

/* Lower-case hex of n bytes into out (2n+1 bytes with the NUL). */
void tn_hex_encode(const unsigned char *bytes, size_t n, char *out);
/* Decodes exactly n bytes from a hex string of exactly 2n characters (either
 * case). `what` names the value in errors. */
int tn_hex_decode(const char *hex, unsigned char *out, size_t n, const char *what);
/* Parses a key id (64 hex) into a public key. */
int tn_key_id_parse(const char *id, unsigned char pub[TN_KEY_PUB_BYTES]);

#endif
