/* test_base.c - src/base's shared helpers: the atomic file writer and the
 * write-all loop (fs.h), the counter-based mixer (rng.h; the stateful
 * generator's known answers are in test_data), FNV-1a (hash.h). */
#include "harness.h"

#include "base/err.h"
#include "base/fs.h"
#include "base/hash.h"
#include "base/rng.h"
#include "base/mem.h"
#include "base/sha256.h"
#include <sodium.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* Names in dir that contain ".part." (temporary files left behind). */
static int count_parts(const char *dir) {
    int n = 0;
    DIR *d = opendir(dir);
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL) n += strstr(e->d_name, ".part.") != NULL;
    if (d) closedir(d);
    return n;
}

static char *slurp(const char *path) { return tn_read_file(path, NULL); }

TEST(atomic_replace_and_refuse) {
    char *dir = tn_path_join(tn_t_tmpdir(), "atomic");
    CHECK(tn_mkdir_p(dir) == 0);
    char *path = tn_path_join(dir, "f.txt");
    CHECK(tn_write_file_atomic(path, "one", 3) == 0);
    CHECK(tn_write_file_atomic(path, "two!", 4) == 0);
    char *got = slurp(path);
    CHECK(got && !strcmp(got, "two!"));
    free(got);

    /* replace = 0 refuses an existing name with EEXIST and leaves it whole */
    tn_atomic_file af;
    CHECK(tn_atomic_open(&af, path, 0600) == 0);
    CHECK(tn_write_all(af.fd, "three", 5, af.tmp) == 0);
    CHECK(tn_atomic_commit(&af, 0) == -1 && errno == EEXIST);
    CHECK(strstr(tn_errmsg(), "f.txt: cannot create") != NULL);
    tn_atomic_abort(&af); /* after a failed commit: nothing left to do, no double free */
    got = slurp(path);
    CHECK(got && !strcmp(got, "two!"));
    free(got);

    /* replace = 0 on a fresh name links it, with the mode asked for */
    char *fresh = tn_path_join(dir, "secret");
    CHECK(tn_atomic_open(&af, fresh, 0600) == 0);
    CHECK(tn_write_all(af.fd, "s", 1, af.tmp) == 0);
    CHECK(tn_atomic_commit(&af, 0) == 0);
    struct stat st;
    CHECK(stat(fresh, &st) == 0 && (st.st_mode & 0777) == 0600 && st.st_size == 1);

    /* an aborted write leaves neither the target nor a temporary file */
    char *never = tn_path_join(dir, "never");
    CHECK(tn_atomic_open(&af, never, 0644) == 0);
    CHECK(tn_write_all(af.fd, "x", 1, af.tmp) == 0);
    tn_atomic_abort(&af);
    CHECK(access(never, F_OK) != 0);
    CHECK(count_parts(dir) == 0);

    /* a directory that does not exist: a clear error, nothing created */
    char *nodir = tn_path_join(dir, "no/such/dir/f");
    CHECK_ERR(tn_write_file_atomic(nodir, "x", 1), "cannot create a temporary file beside it");
    free(nodir);
    free(never);
    free(fresh);
    free(path);
    free(dir);
}

TEST(write_all_errors) {
    /* a write error names what was written and keeps errno */
    int fd = open("/dev/full", O_WRONLY);
    if (fd < 0) SKIP("/dev/full is not available");
    CHECK_ERR(tn_write_all(fd, "abc", 3, "full-device"), "full-device: write failed");
    close(fd);
    /* a pipe takes a write larger than its buffer in several pieces */
    int p[2];
    CHECK(pipe(p) == 0);
    size_t n = 1 << 20;
    char *buf = tn_malloc(n);
    for (size_t i = 0; i < n; i++) buf[i] = (char)(i * 7);
    pid_t pid = fork();
    if (pid == 0) {
        close(p[0]);
        _exit(tn_write_all(p[1], buf, n, "pipe") == 0 ? 0 : 1);
    }
    close(p[1]);
    size_t got = 0, bad = 0;
    char chunk[4096];
    ssize_t r;
    while ((r = read(p[0], chunk, sizeof chunk)) > 0) {
        for (ssize_t i = 0; i < r; i++) bad += chunk[i] != (char)((got + (size_t)i) * 7);
        got += (size_t)r;
    }
    close(p[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    CHECK(got == n && bad == 0);
    free(buf);
}

TEST(mix_and_hash) {
    /* tn_mix64(x) is splitmix64's output from state x (reference value for
     * state 0 from the published splitmix64.c) */
    uint64_t st = 0;
    CHECK(tn_mix64(0) == 0xe220a8397b1dcdafULL);
    CHECK(tn_splitmix64(&st) == tn_mix64(0) && st == TN_GOLDEN64);
    CHECK(tn_splitmix64(&st) == tn_mix64(TN_GOLDEN64));
    CHECK(tn_unit_double(0) == 0.0 && tn_unit_double(UINT64_MAX) < 1.0);
    /* FNV-1a 64 test vectors (Fowler, Noll, Vo: the FNV reference suite) */
    CHECK(tn_fnv1a_str("") == 0xcbf29ce484222325ULL);
    CHECK(tn_fnv1a_str("a") == 0xaf63dc4c8601ec8cULL);
    CHECK(tn_fnv1a_str("foobar") == 0x85944171f73967e8ULL);
    CHECK(tn_fnv1a(tn_fnv1a(TN_FNV_OFFSET, "foo", 3), "bar", 3) == tn_fnv1a_str("foobar"));
}

TEST(sha256) {
    /* FIPS 180-2 appendix B vectors: "abc", and the 448-bit two-block message */
    unsigned char d[TN_SHA256_BYTES];
    char hex[2 * TN_SHA256_BYTES + 1];
    tn_sha256("abc", 3, d);
    tn_hex_encode(d, sizeof d, hex);
    CHECK(!strcmp(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"));
    tn_sha256("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", 56, d);
    tn_hex_encode(d, sizeof d, hex);
    CHECK(!strcmp(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"));
    /* against libsodium's independent implementation: lengths across block
     * edges, fed in uneven pieces, and a file through tn_sha256_file */
    size_t n = 300000;
    unsigned char *buf = tn_malloc(n);
    tn_rng r = {{5, 6, 7, 8}};
    for (size_t i = 0; i < n; i++) buf[i] = (unsigned char)(tn_rng_next(&r) >> 56);
    const size_t lens[] = {0, 1, 55, 56, 63, 64, 65, 1000, 299999, 300000};
    for (size_t k = 0; k < sizeof lens / sizeof *lens; k++) {
        unsigned char want[crypto_hash_sha256_BYTES], got[TN_SHA256_BYTES];
        crypto_hash_sha256(want, buf, lens[k]);
        tn_sha256_ctx c;
        tn_sha256_init(&c);
        for (size_t at = 0, step = 1; at < lens[k]; at += step, step = step * 3 + 1)
            tn_sha256_update(&c, buf + at, at + step <= lens[k] ? step : lens[k] - at);
        tn_sha256_final(&c, got);
        CHECK(!memcmp(want, got, sizeof got));
        tn_sha256(buf, lens[k], got);
        CHECK(!memcmp(want, got, sizeof got));
    }
    char path[] = "/tmp/tuna-test-sha-XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0 && write(fd, buf, n) == (ssize_t)n);
    if (fd >= 0) close(fd);
    unsigned char want[crypto_hash_sha256_BYTES], got[TN_SHA256_BYTES];
    uint64_t size = 0;
    crypto_hash_sha256(want, buf, n);
    CHECK(tn_sha256_file(path, got, &size) == 0 && size == n && !memcmp(want, got, sizeof got));
    unlink(path);
    CHECK(tn_sha256_file(path, got, NULL) == -1 && strstr(tn_errmsg(), path));
    free(buf);
}

int main(void) {
    RUN(atomic_replace_and_refuse);
    RUN(write_all_errors);
    RUN(mix_and_hash);
    RUN(sha256);
    return tn_test_summary("base");
}
