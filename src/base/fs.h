/* fs.h - file and path helpers.
 *
 * Writes that matter go through tn_write_file_atomic: write to a temporary file
 * in the same directory, fsync, rename over the target. A crash leaves either
 * the old file or the new one, never half of each.
 */
#ifndef TN_FS_H
#define TN_FS_H

#include <stddef.h>

/* Reads a whole file into a NUL-terminated heap buffer; *len gets its size
 * (without the NUL). Returns NULL and sets the error on failure. */
char *tn_read_file(const char *path, size_t *len);
int tn_write_file_atomic(const char *path, const void *data, size_t len);

/* Writes all n bytes to fd: retries short writes and EINTR, and asks for at
 * most 1 GiB per call (Linux writes ~2 GiB at most). 0, or -1 with the error
 * set to "WHAT: write failed: ...". */
int tn_write_all(int fd, const void *buf, size_t n, const char *what);

/* A file that gets its name only once it is whole: tn_atomic_open creates a
 * fresh temporary file beside `path` (same directory, so the rename is atomic;
 * named PATH.part.PID.N, O_EXCL with a per-process counter, so two writers
 * never share one; the miner's uploader skips ".part." names), the
 * caller writes through `fd`, and tn_atomic_commit fsyncs, closes and moves
 * it over `path` (replace = 1) or links it to `path` and fails with EEXIST
 * when that name exists (replace = 0: no check-then-write race). Any failure,
 * and tn_atomic_abort, removes the temporary file; abort after a commit does
 * nothing, so `if (rc) tn_atomic_abort(&af);` is a complete cleanup. */
typedef struct {
    char *path, *tmp;
    int fd;
} tn_atomic_file;
int tn_atomic_open(tn_atomic_file *af, const char *path, unsigned mode);
int tn_atomic_commit(tn_atomic_file *af, int replace);
void tn_atomic_abort(tn_atomic_file *af);
int tn_copy_file(const char *src, const char *dst);
int tn_mkdir_p(const char *path);
int tn_file_exists(const char *path);
int tn_dir_exists(const char *path);
/* Joins a directory and a name with one '/'. Heap string. */
char *tn_path_join(const char *dir, const char *name);
/* Removes a directory tree (used for temporary output on failure). */
int tn_rm_rf(const char *path);

#endif
