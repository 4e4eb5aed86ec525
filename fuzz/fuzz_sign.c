/* fuzz_sign - the signed-request checks every server runs before a handler
 * (src/net/sign.c): the four X-Tuna-* header values, the method, the request
 * target and the body, split by "\n--\n" in that order (method, target, key,
 * time, nonce, signature, body). The first input byte picks:
 *   even  the fields as given, verified at a fixed clock by a verifier that
 *         knows one key (the fuzzer can put that key in the key field)
 *   odd   the request signed by the harness with that key over the fuzzed
 *         method, target and body, at a time the fuzzer shifts: verification
 *         must agree with the freshness rule, and a second verification of
 *         the same request must be refused as a replay */
#include "net/keys.h"
#include "net/sign.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NOW 1700000000

static tn_keypair g_kp;
static tn_verifier *g_fixed, *g_live;
static int64_t g_clock = NOW;

static void init(void) {
    fz_quiet();
    if (tn_crypto_init() || tn_keypair_generate(&g_kp)) abort();
    g_fixed = tn_verifier_new(300, 1024);
    g_live = tn_verifier_new(300, 1024);
    if (!g_fixed || !g_live || tn_verifier_allow(g_fixed, g_kp.id) || tn_verifier_allow(g_live, g_kp.id)) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!g_fixed) init();
    fz_in in = {data, size};
    unsigned mode = fz_byte(&in);
    char *part[7];
    size_t len[7];
    for (int i = 0; i < 7; i++) part[i] = fz_part(&in, &len[i]);
    unsigned char body_sha[TN_SHA256_BYTES];
    tn_sha256(part[6], len[6], body_sha);
    tn_auth_status st;
    if (!(mode & 1)) {
        tn_sig_fields h = {len[2] || mode & 2 ? part[2] : NULL, part[3], part[4], part[5]};
        if ((mode & 4) && !strcmp(part[2], "K")) h.key = g_kp.id;
        unsigned char pub[TN_KEY_PUB_BYTES];
        (void)tn_key_id_parse(part[2], pub);
        if (tn_verify_precheck(g_fixed, &h, NOW, &st) == 0) {
            if (tn_verify_request(g_fixed, part[0], part[1], &h, body_sha, NOW, &st) == 0) abort(); /* forged */
        }
        (void)tn_auth_http_status(st);
        free(tn_sign_canonical(part[0], part[1], part[3], part[4], body_sha));
    } else {
        /* a fresh clock per signed request: the nonces of earlier ones expire */
        g_clock += 1000;
        int shift = (int)(signed char)(mode & 0xfe) * 4; /* -512 .. 508 s */
        tn_sig_headers sh;
        if (tn_sign_request(&g_kp, part[0], part[1], body_sha, g_clock + shift, &sh)) abort();
        tn_sig_fields h = {sh.key, sh.time, sh.nonce, sh.sig};
        int ok = tn_verify_request(g_live, part[0], part[1], &h, body_sha, g_clock, &st) == 0;
        if (ok != (abs(shift) <= 300)) abort(); /* fresh and genuine <=> accepted */
        if (ok && tn_verify_request(g_live, part[0], part[1], &h, body_sha, g_clock, &st) == 0) abort(); /* replay */
        if (ok && len[6]) {
            /* the same headers over another body are refused */
            body_sha[0] ^= 1;
            if (tn_verify_request(g_live, part[0], part[1], &h, body_sha, g_clock, &st) == 0) abort();
        }
    }
    for (int i = 0; i < 7; i++) free(part[i]);
    return 0;
}
