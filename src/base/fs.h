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
int tn_copy_file(const char *src, const char *dst);
int tn_mkdir_p(const char *path);
int tn_file_exists(const char *path);
int tn_dir_exists(const char *path);
/* Joins a directory and a name with one '/'. Heap string. */
char *tn_path_join(const char *dir, const char *name);
/* Removes a directory tree (used for temporary output on failure). */
int tn_rm_rf(const char *path);

#endif
