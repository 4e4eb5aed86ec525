/* test_base.c - src/base's shared helpers: the atomic file writer and the
 * write-all loop (fs.h), the counter-based mixer (rng.h; the stateful
 * generator's known answers are in test_data), FNV-1a (hash.h). */
#include "harness.h"

#include "base/err.h"
#include "base/fs.h"
#include "base/hash.h"
#include "base/rng.h"
#include "base/mem.h"

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

int main(void) {
    RUN(atomic_replace_and_refuse);
    RUN(write_all_errors);
    RUN(mix_and_hash);
    return tn_test_summary("base");
}
