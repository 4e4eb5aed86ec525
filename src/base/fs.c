/* fs.c - file and path helpers (see fs.h). */
#include "base/fs.h"
#include "base/err.h"
#include "base/mem.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

char *tn_read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        tn_fail_errno("%s: cannot open", path);
        return NULL;
    }
    if (fseek(f, 0, SEEK_END) != 0) goto fail;
    long n = ftell(f);
    if (n < 0 || fseek(f, 0, SEEK_SET) != 0) goto fail;
    char *buf = tn_malloc((size_t)n + 1);
    if (fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        goto fail;
    }
    buf[n] = 0;
    fclose(f);
    if (len) *len = (size_t)n;
    return buf;
fail:
    tn_fail_errno("%s: cannot read", path);
    fclose(f);
    return NULL;
}

int tn_write_all(int fd, const void *buf, size_t n, const char *what) {
    const char *p = buf;
    while (n > 0) {
        size_t chunk = n < (1u << 30) ? n : (1u << 30);
        ssize_t w = write(fd, p, chunk);
        if (w < 0) {
            if (errno == EINTR) continue;
            return tn_fail_errno("%s: write failed", what);
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

int tn_atomic_open(tn_atomic_file *af, const char *path, unsigned mode) {
    static _Atomic unsigned long counter;
    af->path = tn_strdup(path);
    af->fd = -1;
    /* A name left by a crashed process with the same pid is taken over by
     * the next counter value rather than written through. */
    for (int tries = 0; tries < 100; tries++) {
        af->tmp = tn_sprintf("%s.part.%ld.%lu", path, (long)getpid(), ++counter);
        af->fd = open(af->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, (mode_t)mode);
        if (af->fd >= 0) return 0;
        if (errno != EEXIST) break;
        free(af->tmp);
        af->tmp = NULL;
    }
    tn_fail_errno("%s: cannot create a temporary file beside it", path);
    free(af->tmp);
    free(af->path);
    af->tmp = af->path = NULL;
    return -1;
}

int tn_atomic_commit(tn_atomic_file *af, int replace) {
    if (fsync(af->fd) != 0) {
        tn_fail_errno("%s: fsync failed", af->tmp);
        goto fail;
    }
    int fd = af->fd;
    af->fd = -1;
    if (close(fd) != 0) {
        tn_fail_errno("%s: close failed", af->tmp);
        goto fail;
    }
    if (replace) {
        if (rename(af->tmp, af->path) != 0) {
            tn_fail_errno("%s: cannot rename to %s", af->tmp, af->path);
            goto fail;
        }
    } else {
        if (link(af->tmp, af->path) != 0) {
            tn_fail_errno("%s: cannot create", af->path);
            goto fail;
        }
        unlink(af->tmp);
    }
    free(af->tmp);
    free(af->path);
    af->tmp = af->path = NULL;
    return 0;
fail:
    tn_atomic_abort(af);
    return -1;
}

void tn_atomic_abort(tn_atomic_file *af) {
    int saved = errno; /* callers may still read errno (EEXIST) after aborting */
    if (af->fd >= 0) close(af->fd);
    af->fd = -1;
    if (af->tmp) unlink(af->tmp);
    free(af->tmp);
    free(af->path);
    af->tmp = af->path = NULL;
    errno = saved;
}

int tn_write_file_atomic(const char *path, const void *data, size_t len) {
    tn_atomic_file af;
    if (tn_atomic_open(&af, path, 0644)) return -1;
    if (tn_write_all(af.fd, data, len, af.tmp) || tn_atomic_commit(&af, 1)) {
        tn_atomic_abort(&af);
        return -1;
    }
    return 0;
}

int tn_copy_file(const char *src, const char *dst) {
    size_t n;
    char *buf = tn_read_file(src, &n);
    if (!buf) return -1;
    int rc = tn_write_file_atomic(dst, buf, n);
    free(buf);
    return rc;
}

int tn_mkdir_p(const char *path) {
    char *p = tn_strdup(path);
    for (char *s = p + 1; *s; s++) {
        if (*s != '/') continue;
        *s = 0;
        if (mkdir(p, 0755) != 0 && errno != EEXIST) {
            tn_fail_errno("%s: cannot create directory", p);
            free(p);
            return -1;
        }
        *s = '/';
    }
    if (mkdir(p, 0755) != 0 && errno != EEXIST) {
        tn_fail_errno("%s: cannot create directory", p);
        free(p);
        return -1;
    }
    free(p);
    return 0;
}

int tn_file_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

int tn_dir_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

char *tn_path_join(const char *dir, const char *name) {
    size_t n = strlen(dir);
    if (n > 0 && dir[n - 1] == '/') return tn_sprintf("%s%s", dir, name);
    return tn_sprintf("%s/%s", dir, name);
}

int tn_rm_rf(const char *path) {
    struct stat st;
    if (lstat(path, &st) != 0) return errno == ENOENT ? 0 : tn_fail_errno("%s: stat", path);
    if (S_ISDIR(st.st_mode)) {
        DIR *d = opendir(path);
        if (!d) return tn_fail_errno("%s: opendir", path);
        struct dirent *e;
        int rc = 0;
        while ((e = readdir(d)) != NULL) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
            char *child = tn_path_join(path, e->d_name);
            if (tn_rm_rf(child) != 0) rc = -1;
            free(child);
        }
        closedir(d);
        if (rc == 0 && rmdir(path) != 0) return tn_fail_errno("%s: rmdir", path);
        return rc;
    }
    if (unlink(path) != 0) return tn_fail_errno("%s: unlink", path);
    return 0;
}
