/* test_blobs.c - content-addressed blob store and directory manifests (src/store/blobs.c). */
#include "harness.h"

#include "store/blobs.h"
#include "base/err.h"
#include "base/fs.h"
#include "base/mem.h"

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

/* sha256("abc"), FIPS 180-2 */
static const char *ABC = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

static char *tmp(const char *name) { return tn_path_join(tn_t_tmpdir(), name); }

static size_t count_files(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return 0;
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue;
        char *p = tn_path_join(dir, e->d_name);
        if (tn_dir_exists(p))
            n += count_files(p);
        else
            n++;
        free(p);
    }
    closedir(d);
    return n;
}

static void write_text(const char *path, const char *text) {
    CHECKF(tn_write_file_atomic(path, text, strlen(text)) == 0, "%s", tn_errmsg());
}

TEST(put_get_verify) {
    char *root = tmp("b1");
    tn_blobs *b = tn_blobs_open(root);
    CHECKF(b != NULL, "%s", tn_errmsg());
    if (!b) goto out;
    char h[TN_HASH_HEX + 1];
    CHECK(tn_blobs_put_mem(b, "abc", 3, NULL, h) == 0 && !strcmp(h, ABC));
    char *p = tn_blobs_path(b, h);
    char *want = tn_sprintf("%s/ba/%s", root, ABC + 2);
    CHECK(p && !strcmp(p, want));
    struct stat st;
    CHECK(stat(p, &st) == 0 && (st.st_mode & 0777) == 0444); /* read-only */
    free(want);
    free(p);
    CHECK(tn_blobs_exists(b, h) == 1 && tn_blobs_verify(b, h) == 0);
    size_t n = 0;
    char *data = tn_blobs_read(b, h, &n);
    CHECK(data && n == 3 && !memcmp(data, "abc", 3));
    free(data);

    /* from a file, streamed; more than one chunk */
    char *src = tmp("big.bin");
    size_t big = (3u << 20) + 17;
    unsigned char *buf = tn_malloc(big);
    for (size_t i = 0; i < big; i++) buf[i] = (unsigned char)(i * 2654435761u >> 13);
    CHECK(tn_write_file_atomic(src, buf, big) == 0);
    char hf[TN_HASH_HEX + 1], hm[TN_HASH_HEX + 1];
    CHECKF(tn_blobs_put_file(b, src, NULL, hf) == 0, "%s", tn_errmsg());
    uint64_t sz = 0;
    CHECK(tn_sha256_file_hex(src, hm, &sz) == 0 && sz == big && !strcmp(hf, hm));
    CHECK(tn_blobs_verify(b, hf) == 0);
    free(buf);
    free(src);

    CHECK(tn_blobs_exists(b, "not-a-hash") == 0);
    CHECK(tn_blobs_path(b, "ABC") == NULL);
    CHECK(tn_blobs_exists(b, "0000000000000000000000000000000000000000000000000000000000000000") == 0);
    CHECK(tn_blobs_verify(b, "0000000000000000000000000000000000000000000000000000000000000000") == -1);
    tn_blobs_close(b);
out:
    free(root);
}

TEST(dedupe) {
    char *root = tmp("b2");
    tn_blobs *b = tn_blobs_open(root);
    if (!b) goto out;
    char h1[TN_HASH_HEX + 1], h2[TN_HASH_HEX + 1], h3[TN_HASH_HEX + 1];
    CHECK(tn_blobs_put_mem(b, "same", 4, NULL, h1) == 0);
    CHECK(tn_blobs_put_mem(b, "same", 4, NULL, h2) == 0);
    char *src = tmp("same.txt");
    write_text(src, "same");
    CHECK(tn_blobs_put_file(b, src, h1, h3) == 0);
    free(src);
    CHECK(!strcmp(h1, h2) && !strcmp(h1, h3));
    /* one blob file, and no temporary left */
    char *tmpdir = tn_path_join(root, "tmp");
    CHECK(count_files(root) == 1);
    CHECK(count_files(tmpdir) == 0);
    free(tmpdir);
    tn_blobs_close(b);
out:
    free(root);
}

TEST(corruption_detected) {
    char *root = tmp("b3");
    tn_blobs *b = tn_blobs_open(root);
    if (!b) goto out;
    char h[TN_HASH_HEX + 1];
    CHECK(tn_blobs_put_mem(b, "precious weights", 16, NULL, h) == 0);
    char *p = tn_blobs_path(b, h);
    chmod(p, 0644);
    write_text(p, "precious weighty"); /* same size, one byte off */
    CHECK_ERR(tn_blobs_verify(b, h), "corrupt");
    size_t n;
    CHECK(tn_blobs_read(b, h, &n) == NULL);
    /* a fresh put of the right content repairs a blob of the wrong size */
    write_text(p, "short");
    CHECK(tn_blobs_put_mem(b, "precious weights", 16, NULL, h) == 0);
    CHECK(tn_blobs_verify(b, h) == 0);
    free(p);
    tn_blobs_close(b);
out:
    free(root);
}

TEST(expected_hash_mismatch) {
    char *root = tmp("b4");
    tn_blobs *b = tn_blobs_open(root);
    if (!b) goto out;
    char h[TN_HASH_HEX + 1];
    CHECK_ERR(tn_blobs_put_mem(b, "abd", 3, ABC, h), "does not match the expected");
    char *src = tmp("abd.txt");
    write_text(src, "abd");
    CHECK_ERR(tn_blobs_put_file(b, src, ABC, h), "does not match");
    free(src);
    CHECK_ERR(tn_blobs_put_mem(b, "abc", 3, "ABC", h), "malformed expected hash");
    CHECK(count_files(root) == 0); /* no blob, no temporary */
    CHECK(tn_blobs_exists(b, ABC) == 0);
    CHECK(tn_blobs_put_mem(b, "abc", 3, ABC, h) == 0 && !strcmp(h, ABC));

    /* temporaries of a dead process are cleaned at open */
    char *stale = tn_sprintf("%s/tmp/put-999999999-abcdef", root);
    write_text(stale, "half a blob");
    tn_blobs_close(b);
    b = tn_blobs_open(root);
    CHECK(b && !tn_file_exists(stale));
    free(stale);
    tn_blobs_close(b);
out:
    free(root);
}

TEST(manifest_roundtrip) {
    char *root = tmp("b5"), *model = tmp("model"), *out = tmp("model-out"), *out2 = tmp("model-copy");
    tn_blobs *b = tn_blobs_open(root);
    if (!b) goto done;
    CHECK(tn_mkdir_p(model) == 0);
    char *f1 = tn_path_join(model, "config.json"), *sub = tn_path_join(model, "tok");
    char *f2 = tn_path_join(sub, "tokenizer.json"), *f3 = tn_path_join(model, "model.safetensors");
    CHECK(tn_mkdir_p(sub) == 0);
    write_text(f1, "{\"hidden_size\": 8}");
    write_text(f2, "{\"model\": {}}");
    write_text(f3, "weights");
    json_t *m = NULL;
    char mh[TN_HASH_HEX + 1], mh2[TN_HASH_HEX + 1];
    CHECKF(tn_blobs_put_dir(b, model, &m, mh) == 0, "%s", tn_errmsg());
    CHECK(m && json_object_size(json_object_get(m, "files")) == 3);
    json_t *e = json_object_get(json_object_get(m, "files"), "tok/tokenizer.json");
    CHECK(e && json_integer_value(json_object_get(e, "size")) == 13);
    CHECK(tn_manifest_total_size(m) == 18 + 13 + 7);
    /* same directory, same manifest hash */
    CHECK(tn_blobs_put_dir(b, model, NULL, mh2) == 0 && !strcmp(mh, mh2));
    json_t *loaded = tn_blobs_load_manifest(b, mh);
    CHECK(loaded && json_equal(loaded, m));

    /* content hash: independent of names */
    char c1[TN_HASH_HEX + 1], c2[TN_HASH_HEX + 1];
    CHECK(tn_manifest_content_hash(m, c1) == 0);
    json_t *renamed = json_deep_copy(m);
    json_t *files = json_object_get(renamed, "files");
    json_object_set(files, "renamed.safetensors", json_object_get(files, "model.safetensors"));
    json_object_del(files, "model.safetensors");
    CHECK(tn_manifest_content_hash(renamed, c2) == 0 && !strcmp(c1, c2));
    json_decref(renamed);

    /* materialize: hard links (read-only) and copies (writable) */
    CHECKF(tn_blobs_materialize(b, loaded, out, 0) == 0, "%s", tn_errmsg());
    CHECKF(tn_blobs_materialize(b, loaded, out2, TN_MATERIALIZE_COPY | TN_MATERIALIZE_VERIFY) == 0,
           "%s", tn_errmsg());
    const char *names[] = {"config.json", "tok/tokenizer.json", "model.safetensors"};
    const char *texts[] = {"{\"hidden_size\": 8}", "{\"model\": {}}", "weights"};
    for (int i = 0; i < 3; i++) {
        char *a = tn_path_join(out, names[i]), *c = tn_path_join(out2, names[i]);
        size_t n = 0;
        char *t = tn_read_file(a, &n);
        CHECKF(t && !strcmp(t, texts[i]), "%s", names[i]);
        free(t);
        t = tn_read_file(c, &n);
        CHECKF(t && !strcmp(t, texts[i]), "%s", names[i]);
        free(t);
        struct stat st;
        CHECK(stat(c, &st) == 0 && (st.st_mode & 0200));
        free(a);
        free(c);
    }
    /* not into a directory with something in it */
    CHECK_ERR(tn_blobs_materialize(b, loaded, out, 0), "non-empty");

    /* a missing blob: nothing half-made is left behind */
    char *victim = tn_blobs_path(b, json_string_value(json_object_get(e, "sha256")));
    unlink(victim);
    char *out3 = tmp("model-broken");
    CHECK_ERR(tn_blobs_materialize(b, loaded, out3, 0), "missing");
    CHECK(!tn_dir_exists(out3));
    free(out3);
    free(victim);

    json_decref(loaded);
    json_decref(m);
    free(f1);
    free(f2);
    free(f3);
    free(sub);
    tn_blobs_close(b);
done:
    free(root);
    free(model);
    free(out);
    free(out2);
}

static json_t *one_file(const char *name, size_t len) {
    json_t *files = json_object();
    json_object_setn_new(files, name, len,
                         json_pack("{s:s, s:i}", "sha256", ABC, "size", 3));
    return json_pack("{s:o}", "files", files);
}

TEST(traversal_refused) {
    char *root = tmp("b6"), *out = tmp("evil-out");
    tn_blobs *b = tn_blobs_open(root);
    if (!b) goto done;
    char h[TN_HASH_HEX + 1];
    CHECK(tn_blobs_put_mem(b, "abc", 3, NULL, h) == 0);
    struct {
        const char *name;
        size_t len;
        const char *why;
    } bad[] = {
        {"../escape", 9, "traversal"},
        {"a/../../escape", 14, "traversal"},
        {"/etc/passwd", 11, "absolute"},
        {"a\0b", 3, "NUL"},
        {"", 0, "empty"},
        {"a//b", 4, "empty path component"},
        {"dir/", 4, "empty path component"},
        {"./x", 3, "traversal"},
        {"..\\x", 4, "backslash"},
        {"new\nline", 8, "control"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CHECKF(tn_manifest_name_ok(bad[i].name, bad[i].len) == -1 && strstr(tn_errmsg(), bad[i].why),
               "name #%zu: %s", i, tn_errmsg());
        json_t *m = one_file(bad[i].name, bad[i].len);
        CHECKF(tn_blobs_materialize(b, m, out, 0) == -1, "name #%zu materialized", i);
        CHECK(tn_manifest_check(m) == -1);
        json_decref(m);
    }
    CHECK(!tn_dir_exists(out));
    char *outside = tmp("escape");
    CHECK(!tn_file_exists(outside));
    free(outside);
    /* ordinary names pass: dots inside names, subdirectories */
    CHECK(tn_manifest_name_ok("a..b/.hidden/x.json", 19) == 0);
    json_t *ok = one_file("sub/dir/file.bin", 16);
    CHECKF(tn_blobs_materialize(b, ok, out, 0) == 0, "%s", tn_errmsg());
    json_decref(ok);
    /* malformed entries */
    json_t *m = json_pack("{s:{s:{s:s, s:i}}}", "files", "x", "sha256", "zz", "size", 3);
    CHECK_ERR(tn_manifest_check(m), "sha256");
    json_decref(m);
    m = json_pack("{s:{s:{s:s, s:i}}}", "files", "x", "sha256", ABC, "size", -1);
    CHECK_ERR(tn_manifest_check(m), "size");
    json_decref(m);
    m = json_pack("[]");
    CHECK_ERR(tn_manifest_check(m), "files");
    json_decref(m);
    tn_blobs_close(b);
done:
    free(root);
    free(out);
}

int main(void) {
    RUN(put_get_verify);
    RUN(dedupe);
    RUN(corruption_detected);
    RUN(expected_hash_mismatch);
    RUN(manifest_roundtrip);
    RUN(traversal_refused);
    return tn_test_summary("blobs");
}
