/* common.c - helpers that several files of the validator share: its clock,
 * paths under data_dir, signed download URLs, settings (declared in vstate.h). */
#include "validator/vstate.h"
#include "net/keys.h"
#include "base/clock.h"
#include "base/fs.h"
#include "base/mem.h"

#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char *v_path(const vstate *v, const char *fmt, ...) {
    char rel[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(rel, sizeof rel, fmt, ap);
    va_end(ap);
    return tn_path_join(v->o.data_dir, rel);
}

/* ---- signed download URLs --------------------------------------------------- */

void v_url_mac(const vstate *v, const char *hash, long long exp, char out[65]) {
    char msg[128];
    snprintf(msg, sizeof msg, "%s|%lld", hash, exp);
    unsigned char mac[crypto_auth_hmacsha256_BYTES];
    crypto_auth_hmacsha256(mac, (const unsigned char *)msg, strlen(msg), v->url_secret);
    tn_hex_encode(mac, sizeof mac, out);
}

char *v_blob_url(const vstate *v, const char *hash, int64_t ttl_s) {
    long long exp = (long long)(tn_wall_ms() / 1000 + ttl_s);
    char mac[65];
    v_url_mac(v, hash, exp, mac);
    return tn_sprintf("%s/blobs/%s?exp=%lld&sig=%s", v->base_url, hash, exp, mac);
}

/* ---- settings ---------------------------------------------------------------------- */

/* A numeric setting, or `def` when it is unset or not a number. Fails (-1,
 * message set) only when the store does. */
int v_setting_num(vstate *v, const char *key, double def, double *out) {
    char *s = NULL;
    int64_t ver;
    LOCK(v);
    int rc = tn_store_setting_get(v->store, key, &s, &ver);
    UNLOCK(v);
    *out = def;
    if (rc < 0 && rc != TN_STORE_NOT_FOUND) return -1;
    if (rc == 0 && s) {
        char *end;
        double x = strtod(s, &end);
        if (end != s) *out = x;
    }
    free(s);
    return 0;
}

/* The score parameters: the defaults of scoring.h unless settings override them. */
int v_score_params(vstate *v, tn_score_params *sp) {
    tn_score_params_default(sp);
    if (v_setting_num(v, "score.alpha", sp->alpha, &sp->alpha) || v_setting_num(v, "score.R", sp->R, &sp->R) ||
        v_setting_num(v, "score.floor", sp->floor, &sp->floor))
        return -1;
    return 0;
}

/* ---- public text -------------------------------------------------------------------- */

/* Ends a path inside a message: "...: <path>: reason", "(<path>)", "'<path>'". */
static int path_end(char c) { return !c || strchr(" \t\r\n:;,'\"()[]{}<>", c) != NULL; }

/* Replaces each path under `root` (a prefix followed by '/') by its last
 * component: "cannot open /data/submissions/<token>/1/model.safetensors" ->
 * "cannot open model.safetensors". */
static void strip_root(char *s, const char *root) {
    size_t rl = strlen(root);
    while (rl > 1 && root[rl - 1] == '/') rl--;
    if (rl == 0) return;
    char *p = s;
    while ((p = strstr(p, root)) != NULL) {
        /* "/data2" is not under "/data", nor "x/data" under "data" */
        if ((p[rl] != '/' && !path_end(p[rl])) || (p > s && !path_end(p[-1]))) {
            p += rl;
            continue;
        }
        char *end = p + rl, *base = end;
        while (!path_end(*end)) {
            if (*end == '/') base = end + 1;
            end++;
        }
        size_t bl = (size_t)(end - base);
        memmove(p, base, bl);
        memmove(p + bl, end, strlen(end) + 1);
        p += bl;
    }
}

char *v_public_text(const vstate *v, const char *text, const char *const *tokens, size_t ntok) {
    if (!text) return NULL;
    char *s = tn_strdup(text);
    /* the data directory as given and as the kernel resolves it (a child
     * may report either) */
    char *real = realpath(v->o.data_dir, NULL);
    if (real) strip_root(s, real);
    strip_root(s, v->o.data_dir);
    free(real);
    for (size_t i = 0; i < ntok; i++) {
        size_t tl = tokens[i] ? strlen(tokens[i]) : 0;
        if (tl < 8) continue;
        char *p;
        while ((p = strstr(s, tokens[i])) != NULL) {
            memcpy(p, "[id]", 4);
            memmove(p + 4, p + tl, strlen(p + tl) + 1);
        }
    }
    return s;
}
