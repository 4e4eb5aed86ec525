/* blobs.c - content-addressed blob store (see blobs.h). */
#include "store/blobs.h"
#include "base/err.h"
#include "base/fs.h"
#include "base/mem.h"
#include "base/sha256.h"
#include "net/keys.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CHUNK (1 << 20)

struct tn_blobs {
    char *root;
    char *tmpdir; /* ROOT/tmp: same filesystem, so rename() is atomic */
};

int tn_hash_hex_ok(const char *s) {
    if (!s || strlen(s) != TN_HASH_HEX) return 0;
    for (const char *p = s; *p; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f'))) return 0;
    return 1;
}

static void to_hex(const unsigned char dig[TN_SHA256_BYTES], char out[TN_HASH_HEX + 1]) {
    tn_hex_encode(dig, TN_SHA256_BYTES, out);
}

static int write_all(int fd, const void *data, size_t len) {
    const char *p = data;
    while (len > 0) {
        ssize_t w = write(fd, p, len);
        if (w < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

static ssize_t read_some(int fd, void *buf, size_t cap) {
    for (;;) {
        ssize_t r = read(fd, buf, cap);
        if (r >= 0 || errno != EINTR) return r;
    }
}

/* fsync of a directory makes a rename or a new entry in it durable. */
static int fsync_dir(const char *dir) {
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    if (fd < 0) return tn_fail_errno("%s: cannot open directory", dir);
    int rc = fsync(fd) == 0 ? 0 : tn_fail_errno("%s: fsync", dir);
    close(fd);
    return rc;
}

int tn_sha256_file_hex(const char *path, char out[TN_HASH_HEX + 1], uint64_t *size) {
    unsigned char dig[TN_SHA256_BYTES];
    if (tn_sha256_file(path, dig, size)) return -1;
    to_hex(dig, out);
    return 0;
}

/* ---- open / close ------------------------------------------------------------ */

/* Temporary names carry the writer's pid: "put-<pid>-XXXXXX". A temp whose
 * process is gone is the remains of a crash; one whose process lives may be
 * a put in progress in another validator process and is left alone. */
static void clean_stale_tmp(const char *tmpdir) {
    DIR *d = opendir(tmpdir);
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        long pid = 0;
        if (sscanf(e->d_name, "put-%ld-", &pid) != 1 || pid <= 0) continue;
        if (kill((pid_t)pid, 0) == 0 || errno != ESRCH) continue;
        char *p = tn_path_join(tmpdir, e->d_name);
        unlink(p);
        free(p);
    }
    closedir(d);
}

tn_blobs *tn_blobs_open(const char *root) {
    if (!root || !*root) {
        tn_fail("blobs: empty root directory");
        return NULL;
    }
    tn_blobs *b = tn_calloc(1, sizeof *b);
    b->root = tn_strdup(root);
    b->tmpdir = tn_path_join(root, "tmp");
    if (tn_mkdir_p(b->tmpdir) != 0) {
        tn_err_prefix("blobs");
        tn_blobs_close(b);
        return NULL;
    }
    clean_stale_tmp(b->tmpdir);
    return b;
}

void tn_blobs_close(tn_blobs *b) {
    if (!b) return;
    free(b->root);
    free(b->tmpdir);
    free(b);
}

const char *tn_blobs_root(const tn_blobs *b) { return b->root; }

char *tn_blobs_path(const tn_blobs *b, const char *hash) {
    if (!tn_hash_hex_ok(hash)) {
        tn_fail("blobs: malformed hash '%.80s' (want 64 lowercase hex)", hash ? hash : "(null)");
        return NULL;
    }
    return tn_sprintf("%s/%.2s/%s", b->root, hash, hash + 2);
}

int tn_blobs_exists(const tn_blobs *b, const char *hash) {
    if (!tn_hash_hex_ok(hash)) return 0;
    char *p = tn_blobs_path(b, hash);
    int ok = tn_file_exists(p);
    free(p);
    return ok;
}

/* ---- put ----------------------------------------------------------------------- */

/* One put in progress: a temporary file being written and hashed. */
typedef struct {
    const tn_blobs *b;
    char *tmp;
    int fd;
    uint64_t size;
    tn_sha256_ctx h;
} writer;

static int writer_open(writer *w, const tn_blobs *b) {
    memset(w, 0, sizeof *w);
    w->b = b;
    w->tmp = tn_sprintf("%s/put-%ld-XXXXXX", b->tmpdir, (long)getpid());
    w->fd = mkstemp(w->tmp);
    if (w->fd < 0) {
        tn_fail_errno("blobs: cannot create a temporary file in %s", b->tmpdir);
        free(w->tmp);
        w->tmp = NULL;
        return -1;
    }
    tn_sha256_init(&w->h);
    return 0;
}

static int writer_feed(writer *w, const void *data, size_t len) {
    tn_sha256_update(&w->h, data, len);
    w->size += len;
    if (write_all(w->fd, data, len) != 0) return tn_fail_errno("blobs: writing %s", w->tmp);
    return 0;
}

static void writer_abort(writer *w) {
    if (w->fd >= 0) close(w->fd);
    w->fd = -1;
    if (w->tmp) unlink(w->tmp);
    free(w->tmp);
    w->tmp = NULL;
}

static int file_size(const char *path, uint64_t *out) {
    struct stat st;
    if (stat(path, &st) != 0) return -1;
    *out = (uint64_t)st.st_size;
    return 0;
}

/* Finishes a put: checks the expected hash, makes the data durable, and
 * renames it into place (or drops it when an intact-looking copy is there). */
static int writer_commit(writer *w, const char *expected, char out[TN_HASH_HEX + 1]) {
    unsigned char dig[TN_SHA256_BYTES];
    char hex[TN_HASH_HEX + 1];
    tn_sha256_final(&w->h, dig);
    to_hex(dig, hex);
    if (expected && strcmp(hex, expected) != 0) {
        tn_fail("blobs: content hash %s does not match the expected %s", hex, expected);
        writer_abort(w);
        return -1;
    }
    /* 0444: a hard-linked copy cannot be modified in place by accident. */
    if (fchmod(w->fd, 0444) != 0 || fsync(w->fd) != 0) {
        tn_fail_errno("blobs: finishing %s", w->tmp);
        writer_abort(w);
        return -1;
    }
    close(w->fd);
    w->fd = -1;
    char *dir = tn_sprintf("%s/%.2s", w->b->root, hex);
    char *dst = tn_sprintf("%s/%s", dir, hex + 2);
    int rc = 0;
    uint64_t have = 0;
    if (file_size(dst, &have) == 0 && have == w->size) {
        /* Dedupe: same name means same content. A present blob of the wrong
         * size is damaged and gets replaced by this good copy below. */
        unlink(w->tmp);
    } else {
        int fresh = !tn_dir_exists(dir);
        if (tn_mkdir_p(dir) != 0) {
            rc = -1;
        } else if (rename(w->tmp, dst) != 0) {
            rc = tn_fail_errno("blobs: cannot rename %s to %s", w->tmp, dst);
            unlink(w->tmp);
        } else {
            rc = fsync_dir(dir);
            if (rc == 0 && fresh) rc = fsync_dir(w->b->root);
        }
    }
    free(w->tmp);
    w->tmp = NULL;
    free(dir);
    free(dst);
    if (rc == 0) memcpy(out, hex, sizeof hex);
    return rc;
}

static int check_expected(const char *expected) {
    if (expected && !tn_hash_hex_ok(expected))
        return tn_fail("blobs: malformed expected hash '%.80s' (want 64 lowercase hex)", expected);
    return 0;
}

int tn_blobs_put_mem(tn_blobs *b, const void *data, size_t len, const char *expected,
                     char out[TN_HASH_HEX + 1]) {
    if (check_expected(expected) != 0) return -1;
    writer w;
    if (writer_open(&w, b) != 0) return -1;
    if (writer_feed(&w, data, len) != 0) {
        writer_abort(&w);
        return -1;
    }
    return writer_commit(&w, expected, out);
}

int tn_blobs_put_file(tn_blobs *b, const char *path, const char *expected,
                      char out[TN_HASH_HEX + 1]) {
    if (check_expected(expected) != 0) return -1;
    int fd = open(path, O_RDONLY);
    if (fd < 0) return tn_fail_errno("blobs: %s: cannot open", path);
    writer w;
    if (writer_open(&w, b) != 0) {
        close(fd);
        return -1;
    }
    unsigned char *buf = tn_malloc(CHUNK);
    ssize_t r;
    int rc = 0;
    while (rc == 0 && (r = read_some(fd, buf, CHUNK)) != 0) {
        if (r < 0)
            rc = tn_fail_errno("blobs: %s: read failed", path);
        else
            rc = writer_feed(&w, buf, (size_t)r);
    }
    free(buf);
    close(fd);
    if (rc != 0) {
        writer_abort(&w);
        return -1;
    }
    if (writer_commit(&w, expected, out) != 0) return tn_err_prefix("%s", path);
    return 0;
}

int tn_blobs_verify(const tn_blobs *b, const char *hash) {
    char *p = tn_blobs_path(b, hash);
    if (!p) return -1;
    char got[TN_HASH_HEX + 1];
    int rc = tn_sha256_file_hex(p, got, NULL);
    if (rc == 0 && strcmp(got, hash) != 0)
        rc = tn_fail("blobs: %s is corrupt: its content hashes to %s", p, got);
    free(p);
    return rc;
}

char *tn_blobs_read(const tn_blobs *b, const char *hash, size_t *len) {
    char *p = tn_blobs_path(b, hash);
    if (!p) return NULL;
    size_t n = 0;
    char *data = tn_read_file(p, &n);
    if (data) {
        unsigned char dig[TN_SHA256_BYTES];
        char got[TN_HASH_HEX + 1];
        tn_sha256(data, n, dig);
        to_hex(dig, got);
        if (strcmp(got, hash) != 0) {
            tn_fail("blobs: %s is corrupt: its content hashes to %s", p, got);
            free(data);
            data = NULL;
        }
    }
    free(p);
    if (data && len) *len = n;
    return data;
}

/* ---- manifests -------------------------------------------------------------------- */

int tn_manifest_name_ok(const char *name, size_t len) {
    if (!name || len == 0) return tn_fail("manifest: empty file name");
    if (memchr(name, 0, len)) return tn_fail("manifest: file name contains a NUL byte");
    if (len > 1024) return tn_fail("manifest: file name longer than 1024 bytes");
    if (name[0] == '/') return tn_fail("manifest: '%s': absolute file name", name);
    const char *p = name, *end = name + len;
    while (p <= end) {
        const char *slash = memchr(p, '/', (size_t)(end - p));
        const char *ce = slash ? slash : end;
        size_t clen = (size_t)(ce - p);
        if (clen == 0) return tn_fail("manifest: '%s': empty path component", name);
        if ((clen == 1 && p[0] == '.') || (clen == 2 && p[0] == '.' && p[1] == '.'))
            return tn_fail("manifest: '%s': '.' or '..' component (path traversal)", name);
        if (clen > 255) return tn_fail("manifest: '%s': path component longer than 255", name);
        for (const char *c = p; c < ce; c++)
            if ((unsigned char)*c < 0x20 || *c == '\\' || *c == 0x7f)
                return tn_fail("manifest: '%s': control character or backslash in name", name);
        if (!slash) break;
        p = slash + 1;
    }
    return 0;
}

int tn_manifest_check(const json_t *manifest) {
    const json_t *files = json_is_object(manifest) ? json_object_get(manifest, "files") : NULL;
    if (!json_is_object(files)) return tn_fail("manifest: expected an object with a \"files\" object");
    const char *name;
    size_t len;
    json_t *e;
    json_object_keylen_foreach((json_t *)files, name, len, e) {
        if (tn_manifest_name_ok(name, len) != 0) return -1;
        const json_t *h = json_object_get(e, "sha256");
        const json_t *sz = json_object_get(e, "size");
        if (!json_is_object(e) || !json_is_string(h) || !tn_hash_hex_ok(json_string_value(h)))
            return tn_fail("manifest: '%s': missing or malformed sha256", name);
        if (!json_is_integer(sz) || json_integer_value(sz) < 0)
            return tn_fail("manifest: '%s': missing or negative size", name);
    }
    return 0;
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

int tn_manifest_content_hash(const json_t *manifest, char out[TN_HASH_HEX + 1]) {
    if (tn_manifest_check(manifest) != 0) return -1;
    const json_t *files = json_object_get(manifest, "files");
    size_t n = json_object_size(files), i = 0;
    const char **hashes = tn_calloc(n ? n : 1, sizeof *hashes);
    const char *name;
    json_t *e;
    json_object_foreach((json_t *)files, name, e) hashes[i++] =
        json_string_value(json_object_get(e, "sha256"));
    qsort(hashes, n, sizeof *hashes, cmp_str);
    tn_sha256_ctx h;
    tn_sha256_init(&h);
    for (i = 0; i < n; i++) tn_sha256_update(&h, hashes[i], TN_HASH_HEX);
    unsigned char dig[TN_SHA256_BYTES];
    tn_sha256_final(&h, dig);
    to_hex(dig, out);
    free(hashes);
    return 0;
}

uint64_t tn_manifest_total_size(const json_t *manifest) {
    const json_t *files = json_object_get(manifest, "files");
    const char *name;
    json_t *e;
    uint64_t total = 0;
    json_object_foreach((json_t *)files, name, e) {
        json_int_t v = json_integer_value(json_object_get(e, "size"));
        if (v > 0) total += (uint64_t)v;
    }
    return total;
}

/* Walks dir/rel, storing files and adding them to `files`. */
static int put_tree(tn_blobs *b, const char *top, const char *rel, json_t *files, int depth) {
    if (depth > 32) return tn_fail("blobs: %s/%s: directories nested too deep", top, rel);
    char *dir = rel[0] ? tn_path_join(top, rel) : tn_strdup(top);
    DIR *d = opendir(dir);
    if (!d) {
        tn_fail_errno("blobs: %s: cannot open directory", dir);
        free(dir);
        return -1;
    }
    int rc = 0;
    struct dirent *e;
    while (rc == 0 && (e = readdir(d)) != NULL) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        char *name = rel[0] ? tn_sprintf("%s/%s", rel, e->d_name) : tn_strdup(e->d_name);
        char *path = tn_path_join(dir, e->d_name);
        struct stat lst, st;
        if (lstat(path, &lst) != 0 || stat(path, &st) != 0) {
            rc = tn_fail_errno("blobs: %s", path);
        } else if (tn_manifest_name_ok(name, strlen(name)) != 0) {
            rc = tn_err_prefix("blobs: %s", dir);
        } else if (S_ISDIR(lst.st_mode)) {
            rc = put_tree(b, top, name, files, depth + 1);
        } else if (S_ISREG(st.st_mode)) {
            char hash[TN_HASH_HEX + 1];
            rc = tn_blobs_put_file(b, path, NULL, hash);
            uint64_t size = 0;
            char *p = rc == 0 ? tn_blobs_path(b, hash) : NULL;
            if (rc == 0 && (!p || file_size(p, &size) != 0))
                rc = tn_fail("blobs: %s vanished after being stored", hash);
            free(p);
            if (rc == 0)
                json_object_set_new(files, name,
                                    json_pack("{s:s, s:I}", "sha256", hash, "size", (json_int_t)size));
        } else {
            rc = tn_fail("blobs: %s: not a regular file or directory (symlinked directories and "
                         "special files are refused)",
                         path);
        }
        free(name);
        free(path);
    }
    closedir(d);
    free(dir);
    return rc;
}

int tn_blobs_put_dir(tn_blobs *b, const char *dir, json_t **manifest_out,
                     char hash_out[TN_HASH_HEX + 1]) {
    if (manifest_out) *manifest_out = NULL;
    if (!tn_dir_exists(dir)) return tn_fail("blobs: %s: not a directory", dir);
    json_t *files = json_object();
    json_t *m = json_pack("{s:o}", "files", files);
    int rc = put_tree(b, dir, "", files, 0);
    char *text = NULL;
    if (rc == 0) {
        /* Canonical text: the same directory always gets the same hash. */
        text = json_dumps(m, JSON_COMPACT | JSON_SORT_KEYS);
        if (!text) rc = tn_fail("blobs: cannot serialize the manifest of %s", dir);
    }
    if (rc == 0) rc = tn_blobs_put_mem(b, text, strlen(text), NULL, hash_out);
    free(text);
    if (rc != 0 || !manifest_out)
        json_decref(m);
    else
        *manifest_out = m;
    return rc;
}

json_t *tn_blobs_load_manifest(const tn_blobs *b, const char *hash) {
    size_t len = 0;
    char *text = tn_blobs_read(b, hash, &len);
    if (!text) return NULL;
    json_error_t err;
    json_t *m = json_loadb(text, len, 0, &err);
    free(text);
    if (!m) {
        tn_fail("blobs: manifest %.12s...: %s (line %d)", hash, err.text, err.line);
        return NULL;
    }
    if (tn_manifest_check(m) != 0) {
        tn_err_prefix("blobs: manifest %.12s...", hash);
        json_decref(m);
        return NULL;
    }
    return m;
}

/* ---- materialize ---------------------------------------------------------------------- */

static int copy_stream(const char *src, const char *dst) {
    int in = open(src, O_RDONLY);
    if (in < 0) return tn_fail_errno("%s: cannot open", src);
    int out = open(dst, O_WRONLY | O_CREAT | O_EXCL, 0644);
    if (out < 0) {
        close(in);
        return tn_fail_errno("%s: cannot create", dst);
    }
    unsigned char *buf = tn_malloc(CHUNK);
    ssize_t r;
    int rc = 0;
    while (rc == 0 && (r = read_some(in, buf, CHUNK)) != 0) {
        if (r < 0)
            rc = tn_fail_errno("%s: read failed", src);
        else if (write_all(out, buf, (size_t)r) != 0)
            rc = tn_fail_errno("%s: write failed", dst);
    }
    free(buf);
    close(in);
    if (close(out) != 0 && rc == 0) rc = tn_fail_errno("%s: close failed", dst);
    return rc;
}

static int dir_is_empty(const char *path) {
    DIR *d = opendir(path);
    if (!d) return 0;
    struct dirent *e;
    int empty = 1;
    while ((e = readdir(d)) != NULL)
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
            empty = 0;
            break;
        }
    closedir(d);
    return empty;
}

static int materialize_one(const tn_blobs *b, const char *dir, const char *name, const json_t *e,
                           unsigned flags) {
    const char *hash = json_string_value(json_object_get(e, "sha256"));
    json_int_t want = json_integer_value(json_object_get(e, "size"));
    char *src = tn_blobs_path(b, hash);
    char *dst = tn_path_join(dir, name);
    int rc = 0;
    uint64_t have = 0;
    if (file_size(src, &have) != 0)
        rc = tn_fail("blobs: '%s': blob %.12s... is missing", name, hash);
    else if (have != (uint64_t)want)
        rc = tn_fail("blobs: '%s': blob %.12s... has %llu bytes, the manifest says %lld", name, hash,
                     (unsigned long long)have, (long long)want);
    else if ((flags & TN_MATERIALIZE_VERIFY) && tn_blobs_verify(b, hash) != 0)
        rc = tn_err_prefix("blobs: '%s'", name);
    if (rc == 0) {
        /* Parent directories: names were checked, and we create every
         * directory ourselves inside an empty root, so none is a symlink. */
        char *slash = strrchr(dst, '/');
        *slash = 0;
        rc = tn_mkdir_p(dst);
        *slash = '/';
    }
    if (rc == 0) {
        int linked = 0;
        if (!(flags & TN_MATERIALIZE_COPY)) {
            if (link(src, dst) == 0)
                linked = 1;
            else if (errno != EXDEV && errno != EPERM && errno != EMLINK && errno != EACCES)
                rc = tn_fail_errno("blobs: cannot link %s", dst);
        }
        if (rc == 0 && !linked) rc = copy_stream(src, dst);
    }
    free(src);
    free(dst);
    return rc;
}

int tn_blobs_materialize(const tn_blobs *b, const json_t *manifest, const char *dir,
                         unsigned flags) {
    if (tn_manifest_check(manifest) != 0) return -1;
    int existed = tn_dir_exists(dir);
    if (existed && !dir_is_empty(dir))
        return tn_fail("blobs: %s: refusing to materialize into a non-empty directory", dir);
    if (tn_mkdir_p(dir) != 0) return -1;
    const json_t *files = json_object_get(manifest, "files");
    const char *name;
    json_t *e;
    int rc = 0;
    json_object_foreach((json_t *)files, name, e) {
        if ((rc = materialize_one(b, dir, name, e, flags)) != 0) break;
    }
    if (rc != 0) {
        /* Do not leave half a model behind for someone to load. */
        char saved[1024];
        snprintf(saved, sizeof saved, "%s", tn_errmsg());
        if (existed) {
            DIR *d = opendir(dir);
            struct dirent *de;
            while (d && (de = readdir(d)) != NULL) {
                if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
                char *p = tn_path_join(dir, de->d_name);
                tn_rm_rf(p);
                free(p);
            }
            if (d) closedir(d);
        } else {
            tn_rm_rf(dir);
        }
        tn_fail("%s", saved);
    }
    return rc;
}
