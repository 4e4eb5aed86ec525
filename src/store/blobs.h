/* blobs.h - content-addressed blob store in a directory.
 *
 * Base models, dataset splits, manifests and uploads are stored once, under
 * the SHA-256 of their bytes:   ROOT/ab/cdef...   (2 + 62 hex characters).
 * A blob is written to ROOT/tmp, fsync'ed, then renamed into place, and its
 * directory fsync'ed: a crash leaves either no blob or the whole blob, so a
 * database row that names a hash committed after the put never points at
 * half a file. Blob files are read-only (0444): a hard link handed out by
 * tn_blobs_materialize cannot be modified in place by accident.
 *
 * Directory manifests describe a model directory (or an upload):
 *   {"files": {"config.json": {"sha256": "...", "size": 123}, ...}}
 * stored as a blob of its own in canonical form (compact, sorted keys), so
 * the same directory always has the same manifest hash.
 *
 * Functions return 0 / -1 with tn_errmsg() (base/err.h) unless noted.
 */
#ifndef TN_BLOBS_H
#define TN_BLOBS_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#define TN_HASH_HEX 64

typedef struct tn_blobs tn_blobs;

/* Opens (creating) the store at `root`. Removes temporary files left by
 * puts of processes that no longer exist (crashed mid-write). */
tn_blobs *tn_blobs_open(const char *root);
void tn_blobs_close(tn_blobs *b);
const char *tn_blobs_root(const tn_blobs *b);

/* Stores a file by streaming copy (models do not fit in memory twice).
 * `expected` (NULL = none) is a hash the content must have: on mismatch
 * nothing is stored and the temporary file is removed. */
int tn_blobs_put_file(tn_blobs *b, const char *path, const char *expected,
                      char out[TN_HASH_HEX + 1]);
int tn_blobs_put_mem(tn_blobs *b, const void *data, size_t len, const char *expected,
                     char out[TN_HASH_HEX + 1]);
/* The path a blob has (or would have): heap string; NULL for a malformed hash. */
char *tn_blobs_path(const tn_blobs *b, const char *hash);
/* 1 when the blob is present, 0 when not (or the hash is malformed). */
int tn_blobs_exists(const tn_blobs *b, const char *hash);
/* Re-hashes the blob: 0 when intact, -1 when missing or corrupt. */
int tn_blobs_verify(const tn_blobs *b, const char *hash);
/* Reads a (small) blob into memory, checking its hash. */
char *tn_blobs_read(const tn_blobs *b, const char *hash, size_t *len);

/* Stores every regular file under `dir` (recursively; names use '/') and
 * the manifest describing them. *manifest_out (may be NULL) gets the
 * manifest, hash_out its blob hash. Symlinks to files are followed (HF
 * caches are made of them); symlinked directories and special files are
 * refused. */
int tn_blobs_put_dir(tn_blobs *b, const char *dir, json_t **manifest_out,
                     char hash_out[TN_HASH_HEX + 1]);
/* Loads and validates (tn_manifest_check) a manifest blob. */
json_t *tn_blobs_load_manifest(const tn_blobs *b, const char *hash);

enum {
    TN_MATERIALIZE_COPY = 1,   /* copies instead of hard links (writable files) */
    TN_MATERIALIZE_VERIFY = 2, /* re-hash every blob before using it */
};
/* Recreates the manifest's files under `dir`, which must not exist or be
 * empty. Hard links by default (free, read-only), falling back to copies
 * across filesystems. On failure the files made so far are removed. */
int tn_blobs_materialize(const tn_blobs *b, const json_t *manifest, const char *dir,
                         unsigned flags);

/* A manifest file name is relative, '/'-separated, with no empty, "." or
 * ".." component, no NUL, backslash or control character: nothing that
 * could escape the directory it is materialized into. len = bytes of name
 * (JSON keys may contain NUL). */
int tn_manifest_name_ok(const char *name, size_t len);
/* Structure, names, hashes and sizes of a manifest. */
int tn_manifest_check(const json_t *manifest);
/* sha256 of the concatenation of the files' hex hashes in sorted order.
 * Independent of names on purpose: renaming files does not make a copied
 * submission look new. */
int tn_manifest_content_hash(const json_t *manifest, char out[TN_HASH_HEX + 1]);
/* Total size in bytes of the manifest's files. */
uint64_t tn_manifest_total_size(const json_t *manifest);

/* Streaming SHA-256 of a file (lowercase hex); *size (may be NULL) gets its length. */
int tn_sha256_file_hex(const char *path, char out[TN_HASH_HEX + 1], uint64_t *size);
/* 1 when s is 64 lowercase hex characters. */
int tn_hash_hex_ok(const char *s);

#endif
