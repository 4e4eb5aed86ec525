/* test_protocol.c - keys, key files, request signing, verification, replay
 * cache, and the `tuna keygen` command. (HTTP transport: test_http.c.) */
#include "harness.h"

#include "net/keys.h"
#include "net/sign.h"
#include "base/err.h"
#include "base/fs.h"
#include "base/mem.h"

#include <pthread.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define T0 1700000000

static char *tmp_path(const char *name) { return tn_path_join(tn_t_tmpdir(), name); }

static void write_text(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
    chmod(path, 0600);
}

TEST(hex) {
    unsigned char b[4] = {0x00, 0x9f, 0xa0, 0xff}, back[4];
    char hex[9];
    tn_hex_encode(b, 4, hex);
    CHECK(!strcmp(hex, "009fa0ff"));
    CHECK(tn_hex_decode("009FA0ff", back, 4, "x") == 0 && !memcmp(b, back, 4));
    CHECK_ERR(tn_hex_decode("009fa0f", back, 4, "field x"), "field x: expected 8 hex characters, got 7");
    CHECK_ERR(tn_hex_decode("009fa0fg", back, 4, "field x"), "bad hex character 'g' at offset 7");
}

TEST(key_file_roundtrip) {
    tn_keypair kp, back;
    CHECK(tn_keypair_generate(&kp) == 0);
    CHECK(strlen(kp.id) == TN_KEY_ID_LEN);
    char *path = tmp_path("k1.json");
    CHECK(tn_keypair_save(&kp, path, 0) == 0);
    struct stat st;
    CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600);
    CHECK(tn_keypair_load(&back, path) == 0);
    CHECK(!memcmp(kp.pub, back.pub, sizeof kp.pub) && !memcmp(kp.sec, back.sec, sizeof kp.sec));
    CHECK(!strcmp(kp.id, back.id));
    /* no overwrite without force; with force, the new key replaces it */
    tn_keypair other;
    CHECK(tn_keypair_generate(&other) == 0);
    CHECK_ERR(tn_keypair_save(&other, path, 0), "already exists; refusing to overwrite");
    CHECK(tn_keypair_load(&back, path) == 0 && !strcmp(back.id, kp.id));
    CHECK(tn_keypair_save(&other, path, 1) == 0);
    CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600);
    CHECK(tn_keypair_load(&back, path) == 0 && !strcmp(back.id, other.id));
    /* no temporary files left next to it */
    char *dir = tn_path_join(tn_t_tmpdir(), "k1.json.tmp");
    CHECK(!tn_file_exists(dir));
    free(dir);
    tn_keypair_wipe(&back);
    free(path);
}

TEST(key_file_errors) {
    tn_keypair kp, good;
    CHECK(tn_keypair_generate(&good) == 0);
    char sec[2 * TN_KEY_SEC_BYTES + 1];
    tn_hex_encode(good.sec, TN_KEY_SEC_BYTES, sec);
    char *path = tmp_path("bad.json");
    char *missing = tmp_path("nope.json");
    CHECK_ERR(tn_keypair_load(&kp, missing), "nope.json: cannot open key file");

    write_text(path, "[1]");
    CHECK_ERR(tn_keypair_load(&kp, path), "expected a JSON object");
    write_text(path, "{\"public\": \"00\"");
    CHECK_ERR(tn_keypair_load(&kp, path), "invalid JSON");

    char *text = tn_sprintf("{\"secret\": \"%s\"}", sec);
    write_text(path, text);
    CHECK_ERR(tn_keypair_load(&kp, path), "bad.json: missing field public");
    free(text);

    text = tn_sprintf("{\"public\": \"%s\", \"secret\": \"abcd\"}", good.id);
    write_text(path, text);
    CHECK_ERR(tn_keypair_load(&kp, path), "bad.json: field secret: expected 128 hex characters, got 4");
    free(text);

    text = tn_sprintf("{\"public\": 7, \"secret\": \"%s\"}", sec);
    write_text(path, text);
    CHECK_ERR(tn_keypair_load(&kp, path), "field public: expected a hex string, got an integer");
    free(text);

    char badpub[TN_KEY_ID_LEN + 1];
    memcpy(badpub, good.id, sizeof badpub);
    badpub[10] = 'z';
    text = tn_sprintf("{\"public\": \"%s\", \"secret\": \"%s\"}", badpub, sec);
    write_text(path, text);
    CHECK_ERR(tn_keypair_load(&kp, path), "field public: bad hex character 'z' at offset 10");
    free(text);

    tn_keypair other;
    CHECK(tn_keypair_generate(&other) == 0);
    text = tn_sprintf("{\"public\": \"%s\", \"secret\": \"%s\"}", other.id, sec);
    write_text(path, text);
    CHECK_ERR(tn_keypair_load(&kp, path), "field public does not match the public half of field secret");
    free(text);
    free(path);
    free(missing);
}

TEST(canonical_string) {
    unsigned char sha[TN_SHA256_BYTES];
    tn_sha256("", 0, sha);
    char *s = tn_sign_canonical("POST", "/task_offer?x=1", "1700000000", "00112233445566778899aabbccddeeff", sha);
    CHECK(!strcmp(s, "TUNA1\nPOST\n/task_offer?x=1\n1700000000\n00112233445566778899aabbccddeeff\n"
                     "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"));
    free(s);
    /* sha256("abc"), the FIPS 180-2 example */
    char hex[65];
    tn_sha256("abc", 3, sha);
    tn_hex_encode(sha, 32, hex);
    CHECK(!strcmp(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"));
}

static tn_sig_fields fields_of(const tn_sig_headers *h) {
    tn_sig_fields f = {h->key, h->time, h->nonce, h->sig};
    return f;
}

TEST(sign_and_verify) {
    tn_keypair kp, stranger;
    CHECK(tn_keypair_generate(&kp) == 0 && tn_keypair_generate(&stranger) == 0);
    tn_verifier *v = tn_verifier_new(0, 0);
    CHECK(v && tn_verifier_skew(v) == 300);
    CHECK(tn_verifier_allow(v, kp.id) == 0);
    const char *body = "{\"task_id\":\"t1\"}";
    unsigned char sha[32], other_sha[32];
    tn_sha256(body, strlen(body), sha);
    tn_sha256("{\"task_id\":\"t2\"}", 16, other_sha);
    tn_sig_headers h;
    tn_auth_status st;
    CHECK(tn_sign_request(&kp, "POST", "/task_offer", sha, T0, &h) == 0);
    CHECK(strlen(h.nonce) == 32 && strlen(h.sig) == 128 && !strcmp(h.key, kp.id) && !strcmp(h.time, "1700000000"));
    tn_sig_fields f = fields_of(&h);

    /* forgeries: body, path, method changed after signing */
    CHECK_ERR(tn_verify_request(v, "POST", "/task_offer", &f, other_sha, T0, &st), "bad signature");
    CHECK(st == TN_AUTH_BAD_SIG && tn_auth_http_status(st) == 401);
    CHECK_ERR(tn_verify_request(v, "POST", "/start_training", &f, sha, T0, &st), "bad signature");
    CHECK_ERR(tn_verify_request(v, "PUT", "/task_offer", &f, sha, T0, &st), "bad signature");
    /* a tampered time or nonce breaks the signature too */
    tn_sig_headers h2 = h;
    snprintf(h2.time, sizeof h2.time, "%d", T0 + 1);
    tn_sig_fields f2 = fields_of(&h2);
    CHECK_ERR(tn_verify_request(v, "POST", "/task_offer", &f2, sha, T0, &st), "bad signature");

    /* the genuine request passes once (the failed attempts did not burn the nonce), then is a replay */
    CHECK(tn_verify_request(v, "POST", "/task_offer", &f, sha, T0 + 5, &st) == 0 && st == TN_AUTH_OK);
    CHECK_ERR(tn_verify_request(v, "POST", "/task_offer", &f, sha, T0 + 6, &st), "replayed nonce");
    CHECK(st == TN_AUTH_REPLAY && tn_auth_http_status(st) == 401);

    /* stale in both directions */
    CHECK(tn_sign_request(&kp, "POST", "/task_offer", sha, T0 - 421, &h) == 0);
    f = fields_of(&h);
    CHECK_ERR(tn_verify_request(v, "POST", "/task_offer", &f, sha, T0, &st), "stale timestamp (skew 421 s > 300 s");
    CHECK(st == TN_AUTH_STALE && tn_auth_http_status(st) == 401);
    CHECK(tn_sign_request(&kp, "POST", "/task_offer", sha, T0 + 301, &h) == 0);
    f = fields_of(&h);
    CHECK_ERR(tn_verify_request(v, "POST", "/task_offer", &f, sha, T0, &st), "stale timestamp (skew 301 s > 300 s");
    CHECK(strstr(tn_errmsg(), "ahead of"));
    /* the edge of the window is accepted */
    CHECK(tn_sign_request(&kp, "POST", "/task_offer", sha, T0 - 300, &h) == 0);
    f = fields_of(&h);
    CHECK(tn_verify_request(v, "POST", "/task_offer", &f, sha, T0, &st) == 0);

    /* unknown key: 403, and the message shows the first 16 hex digits */
    CHECK(tn_sign_request(&stranger, "POST", "/task_offer", sha, T0, &h) == 0);
    f = fields_of(&h);
    char want[64];
    snprintf(want, sizeof want, "unknown key %.16s...", stranger.id);
    CHECK_ERR(tn_verify_request(v, "POST", "/task_offer", &f, sha, T0, &st), want);
    CHECK(st == TN_AUTH_UNKNOWN_KEY && tn_auth_http_status(st) == 403);

    /* missing and malformed headers */
    CHECK(tn_sign_request(&kp, "GET", "/status", sha, T0, &h) == 0);
    const char *names[] = {"X-Tuna-Key", "X-Tuna-Time", "X-Tuna-Nonce", "X-Tuna-Signature"};
    for (int i = 0; i < 4; i++) {
        f = fields_of(&h);
        const char **slot[] = {&f.key, &f.time, &f.nonce, &f.sig};
        *slot[i] = NULL;
        char msg[64];
        snprintf(msg, sizeof msg, "missing header %s", names[i]);
        CHECK_ERR(tn_verify_request(v, "GET", "/status", &f, sha, T0, &st), msg);
        CHECK(st == TN_AUTH_MISSING);
    }
    f = fields_of(&h);
    f.time = "17e8";
    CHECK_ERR(tn_verify_request(v, "GET", "/status", &f, sha, T0, &st), "malformed header X-Tuna-Time");
    f = fields_of(&h);
    f.nonce = "abc";
    CHECK_ERR(tn_verify_request(v, "GET", "/status", &f, sha, T0, &st), "malformed header X-Tuna-Nonce");
    CHECK(st == TN_AUTH_MALFORMED);
    tn_verifier_free(v);
}

static int lookup_yes(void *ud, const char *id) { return !strcmp((const char *)ud, id); }

TEST(lookup_and_not_before) {
    tn_keypair kp;
    CHECK(tn_keypair_generate(&kp) == 0);
    tn_verifier *v = tn_verifier_new(60, 16);
    unsigned char sha[32];
    tn_sha256("", 0, sha);
    tn_sig_headers h;
    tn_auth_status st;
    CHECK(tn_sign_request(&kp, "GET", "/status", sha, T0, &h) == 0);
    tn_sig_fields f = fields_of(&h);
    CHECK_ERR(tn_verify_request(v, "GET", "/status", &f, sha, T0, &st), "unknown key");
    tn_verifier_set_lookup(v, lookup_yes, kp.id);
    CHECK(tn_verify_request(v, "GET", "/status", &f, sha, T0, &st) == 0);
    /* a server that (re)started at T0+10 refuses a request signed before, even within the skew */
    tn_verifier_set_not_before(v, T0 + 10);
    CHECK(tn_sign_request(&kp, "GET", "/status", sha, T0 + 5, &h) == 0);
    f = fields_of(&h);
    CHECK_ERR(tn_verify_request(v, "GET", "/status", &f, sha, T0 + 12, &st), "before this server's start");
    CHECK(st == TN_AUTH_STALE);
    tn_verifier_free(v);
}

TEST(replay_cache_bounded_with_expiry) {
    tn_keypair kp;
    CHECK(tn_keypair_generate(&kp) == 0);
    tn_verifier *v = tn_verifier_new(10, 4); /* nonces live 20 s; at most 4 */
    CHECK(tn_verifier_allow(v, kp.id) == 0);
    unsigned char sha[32];
    tn_sha256("", 0, sha);
    tn_sig_headers h[6];
    tn_auth_status st;
    for (int i = 0; i < 4; i++) {
        CHECK(tn_sign_request(&kp, "GET", "/status", sha, T0, &h[i]) == 0);
        tn_sig_fields f = fields_of(&h[i]);
        CHECK(tn_verify_request(v, "GET", "/status", &f, sha, T0 + i, &st) == 0);
    }
    /* full of live nonces: fail closed with 503 rather than forget one */
    CHECK(tn_sign_request(&kp, "GET", "/status", sha, T0, &h[4]) == 0);
    tn_sig_fields f4 = fields_of(&h[4]);
    CHECK_ERR(tn_verify_request(v, "GET", "/status", &f4, sha, T0 + 5, &st), "replay cache full");
    CHECK(st == TN_AUTH_BUSY && tn_auth_http_status(st) == 503);
    /* the first nonce expires at T0+20: room again, and the others are still remembered */
    CHECK(tn_sign_request(&kp, "GET", "/status", sha, T0 + 15, &h[5]) == 0);
    tn_sig_fields f5 = fields_of(&h[5]);
    CHECK(tn_verify_request(v, "GET", "/status", &f5, sha, T0 + 20, &st) == 0);
    tn_sig_fields f1 = fields_of(&h[1]);
    CHECK_ERR(tn_verify_request(v, "GET", "/status", &f1, sha, T0 + 10, &st), "replayed nonce");
    /* after all expiries, a new one goes in */
    CHECK(tn_sign_request(&kp, "GET", "/status", sha, T0 + 40, &h[4]) == 0);
    f4 = fields_of(&h[4]);
    CHECK(tn_verify_request(v, "GET", "/status", &f4, sha, T0 + 40, &st) == 0);
    tn_verifier_free(v);
}

/* Many threads verify the very same request at once: exactly one wins. */
typedef struct {
    tn_verifier *v;
    tn_sig_fields f;
    unsigned char sha[32];
    int ok;
} race_arg;

static void *race_thread(void *p) {
    race_arg *a = p;
    tn_auth_status st;
    a->ok = tn_verify_request(a->v, "POST", "/x", &a->f, a->sha, T0, &st) == 0;
    return NULL;
}

TEST(replay_race) {
    tn_keypair kp;
    CHECK(tn_keypair_generate(&kp) == 0);
    tn_verifier *v = tn_verifier_new(0, 0);
    CHECK(tn_verifier_allow(v, kp.id) == 0);
    unsigned char sha[32];
    tn_sha256("x", 1, sha);
    tn_sig_headers h;
    CHECK(tn_sign_request(&kp, "POST", "/x", sha, T0, &h) == 0);
    enum { N = 8 };
    pthread_t th[N];
    race_arg a[N];
    for (int i = 0; i < N; i++) {
        a[i] = (race_arg){.v = v, .f = fields_of(&h)};
        memcpy(a[i].sha, sha, 32);
        pthread_create(&th[i], NULL, race_thread, &a[i]);
    }
    int wins = 0;
    for (int i = 0; i < N; i++) {
        pthread_join(th[i], NULL);
        wins += a[i].ok;
    }
    CHECK(wins == 1);
    tn_verifier_free(v);
}

/* Runs `tuna keygen ARGS`, capturing stdout into out. Returns the exit status. */
static int run_keygen(const char *bin, const char *args, char *out, size_t outsz) {
    char *cmd = tn_sprintf("%s keygen %s 2>&1", bin, args);
    FILE *p = popen(cmd, "r");
    free(cmd);
    if (!p) return -1;
    size_t n = fread(out, 1, outsz - 1, p);
    out[n] = 0;
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

TEST(keygen_cli) {
    const char *bin = getenv("TUNA_BIN");
    if (!bin || access(bin, X_OK) != 0) SKIP("TUNA_BIN (the tuna binary) not set or not executable");
    char *path = tmp_path("cli_key.json");
    char out[512];
    char *args = tn_sprintf("--out %s", path);
    CHECK(run_keygen(bin, args, out, sizeof out) == 0);
    CHECK(strlen(out) == TN_KEY_ID_LEN + 1 && out[TN_KEY_ID_LEN] == '\n');
    struct stat st;
    CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600);
    tn_keypair kp;
    CHECK(tn_keypair_load(&kp, path) == 0);
    CHECK(!strncmp(kp.id, out, TN_KEY_ID_LEN));
    /* refuses to overwrite, and the key on disk is untouched */
    CHECK(run_keygen(bin, args, out, sizeof out) == 1);
    CHECK(strstr(out, "already exists"));
    tn_keypair again;
    CHECK(tn_keypair_load(&again, path) == 0 && !strcmp(again.id, kp.id));
    free(args);
    args = tn_sprintf("--out %s --force", path);
    CHECK(run_keygen(bin, args, out, sizeof out) == 0);
    CHECK(tn_keypair_load(&again, path) == 0 && strcmp(again.id, kp.id) != 0);
    CHECK(run_keygen(bin, "", out, sizeof out) == 2); /* usage */
    free(args);
    free(path);
}

int main(void) {
    RUN(hex);
    RUN(key_file_roundtrip);
    RUN(key_file_errors);
    RUN(canonical_string);
    RUN(sign_and_verify);
    RUN(lookup_and_not_before);
    RUN(replay_cache_bounded_with_expiry);
    RUN(replay_race);
    RUN(keygen_cli);
    return tn_test_summary("protocol");
}
