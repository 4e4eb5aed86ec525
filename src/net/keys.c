/* keys.c - Ed25519 key pairs and key files (see keys.h). */
#include "net/keys.h"
#include "base/err.h"
#include "base/fs.h"
#include "base/json.h"
#include "base/log.h"
#include "base/mem.h"

#include <errno.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static pthread_once_t g_sodium_once = PTHREAD_ONCE_INIT;
static int g_sodium_rc;

static void sodium_once(void) { g_sodium_rc = sodium_init() < 0 ? -1 : 0; }

int tn_crypto_init(void) {
    pthread_once(&g_sodium_once, sodium_once);
    return g_sodium_rc ? tn_fail("libsodium: initialisation failed") : 0;
}

void tn_hex_encode(const unsigned char *bytes, size_t n, char *out) {
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[bytes[i] >> 4];
        out[2 * i + 1] = digits[bytes[i] & 15];
    }
    out[2 * n] = 0;
}

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

int tn_hex_decode(const char *hex, unsigned char *out, size_t n, const char *what) {
    size_t len = strlen(hex);
    if (len != 2 * n) return tn_fail("%s: expected %zu hex characters, got %zu", what, 2 * n, len);
    for (size_t i = 0; i < n; i++) {
        int hi = hexval(hex[2 * i]), lo = hexval(hex[2 * i + 1]);
        if (hi < 0 || lo < 0) {
            size_t at = hi < 0 ? 2 * i : 2 * i + 1;
            return tn_fail("%s: bad hex character '%c' at offset %zu", what, hex[at], at);
        }
        out[i] = (unsigned char)(hi << 4 | lo);
    }
    return 0;
}

int tn_key_id_parse(const char *id, unsigned char pub[TN_KEY_PUB_BYTES]) {
    return tn_hex_decode(id, pub, TN_KEY_PUB_BYTES, "key id");
}

int tn_keypair_generate(tn_keypair *kp) {
    if (tn_crypto_init()) return -1;
    if (crypto_sign_keypair(kp->pub, kp->sec) != 0) return tn_fail("crypto_sign_keypair failed");
    tn_hex_encode(kp->pub, TN_KEY_PUB_BYTES, kp->id);
    return 0;
}

void tn_keypair_wipe(tn_keypair *kp) { sodium_memzero(kp, sizeof *kp); }

int tn_keypair_save(const tn_keypair *kp, const char *path, int force) {
    char sec_hex[2 * TN_KEY_SEC_BYTES + 1];
    tn_hex_encode(kp->sec, TN_KEY_SEC_BYTES, sec_hex);
    char *text = tn_sprintf("{\n  \"public\": \"%s\",\n  \"secret\": \"%s\"\n}\n", kp->id, sec_hex);
    sodium_memzero(sec_hex, sizeof sec_hex);
    /* The secret never exists on disk with wider permissions: the temporary
     * file is created 0600 beside the target, and it reaches its name by
     * link() (fails if the name exists: no check-then-write race) or, with
     * --force, by rename() (atomic replacement). fchmod: the umask could
     * only narrow 0600, but the file must be exactly owner read-write. */
    tn_atomic_file af;
    int rc = -1;
    if (tn_atomic_open(&af, path, 0600)) goto out;
    if (fchmod(af.fd, 0600) != 0) {
        tn_fail_errno("%s: chmod 0600", af.tmp);
        tn_atomic_abort(&af);
        goto out;
    }
    if (tn_write_all(af.fd, text, strlen(text), af.tmp)) {
        tn_atomic_abort(&af);
        goto out;
    }
    if (tn_atomic_commit(&af, force)) {
        if (!force && errno == EEXIST)
            tn_fail("%s: already exists; refusing to overwrite a key (use --force)", path);
        goto out;
    }
    rc = 0;
out:
    sodium_memzero(text, strlen(text));
    free(text);
    return rc;
}

/* Reads a hex field of exactly n bytes. */
static int hex_field(const json_t *root, const char *key, const char *path, unsigned char *out, size_t n) {
    const json_t *v = json_object_get(root, key);
    if (!v) return tn_fail("%s: missing field %s", path, key);
    if (!json_is_string(v))
        return tn_fail("%s: field %s: expected a hex string, got %s", path, key, tn_json_type_name(v));
    char *what = tn_sprintf("%s: field %s", path, key);
    int rc = tn_hex_decode(json_string_value(v), out, n, what);
    free(what);
    return rc;
}

int tn_keypair_load(tn_keypair *kp, const char *path) {
    if (tn_crypto_init()) return -1;
    memset(kp, 0, sizeof *kp);
    struct stat st;
    if (stat(path, &st) != 0) return tn_fail_errno("%s: cannot open key file", path);
    if (st.st_mode & 077)
        tn_warn("%s: key file is readable by others (mode %03o); chmod 600 it", path, (unsigned)(st.st_mode & 0777));
    json_t *root = tn_json_load_file(path);
    if (!root) return -1;
    int rc = -1;
    if (!json_is_object(root)) {
        tn_fail("%s: expected a JSON object with fields public and secret, got %s", path, tn_json_type_name(root));
        goto out;
    }
    if (hex_field(root, "public", path, kp->pub, TN_KEY_PUB_BYTES)) goto out;
    if (hex_field(root, "secret", path, kp->sec, TN_KEY_SEC_BYTES)) goto out;
    /* The secret key embeds its public key: a file whose halves disagree was
     * edited by hand or assembled from two keys, and would sign with a key
     * nobody expects. */
    unsigned char derived[TN_KEY_PUB_BYTES];
    crypto_sign_ed25519_sk_to_pk(derived, kp->sec);
    if (sodium_memcmp(derived, kp->pub, TN_KEY_PUB_BYTES) != 0) {
        tn_fail("%s: field public does not match the public half of field secret", path);
        goto out;
    }
    tn_hex_encode(kp->pub, TN_KEY_PUB_BYTES, kp->id);
    rc = 0;
out:;
    /* jansson keeps the secret's hex in its own string; clear it before freeing */
    json_t *s = json_object_get(root, "secret");
    if (json_is_string(s)) sodium_memzero((void *)json_string_value(s), json_string_length(s));
    json_decref(root);
    if (rc) tn_keypair_wipe(kp);
    return rc;
}
