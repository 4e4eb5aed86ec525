/* safetensors.h - HF safetensors reader (mmap, validated) and writer.
 *
 * File format: 8-byte little-endian header length N, N bytes of JSON
 * {"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, ...,
 *  "__metadata__": {"k": "v"}}, then the data section; offsets are relative to
 * the start of the data section.
 *
 * tn_st_open validates everything before any tensor is handed out: header
 * length bounds, valid JSON object, no duplicate names, known dtype, shape of
 * non-negative integers, prod(shape) * dtype size == end - begin (with overflow
 * checks), every range inside the file, ranges neither overlapping nor leaving
 * holes (the upstream format's rule). Errors name the file and the tensor.
 */
#ifndef TN_SAFETENSORS_H
#define TN_SAFETENSORS_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#define TN_ST_MAX_DIMS 8
/* Headers larger than this are refused (the upstream library uses 100 MB). */
#define TN_ST_MAX_HEADER (100u << 20)

typedef enum {
    TN_DT_F32, TN_DT_F16, TN_DT_BF16, TN_DT_F64,
    TN_DT_I64, TN_DT_I32, TN_DT_I16, TN_DT_I8, TN_DT_U8, TN_DT_BOOL,
    TN_DT_COUNT
} tn_dtype;

size_t tn_dtype_size(tn_dtype dt);
const char *tn_dtype_name(tn_dtype dt);         /* "F32", "BF16", ... */
int tn_dtype_parse(const char *name, tn_dtype *out); /* -1 on unknown */

typedef struct tn_st_tensor {
    char *name;
    tn_dtype dtype;
    int ndim;
    int64_t shape[TN_ST_MAX_DIMS];
    size_t numel;
    size_t nbytes;
    const void *data;   /* points into the file's mapping; valid until close */
    const char *path;   /* the file it lives in (for messages) */
} tn_st_tensor;

typedef struct {
    char *path;
    void *map;
    size_t map_size;
    int n;
    tn_st_tensor *tensors; /* in header order */
    json_t *metadata;      /* "__metadata__" object or NULL (owned) */
} tn_st_file;

int tn_st_open(tn_st_file *f, const char *path);
void tn_st_close(tn_st_file *f);
const tn_st_tensor *tn_st_find(const tn_st_file *f, const char *name);

/* Converts a tensor of dtype F32, F16, BF16 or F64 to fp32 into dst, which has
 * room for exactly `count` floats (must equal t->numel). With check_finite, a
 * NaN or Inf element fails with an error naming the file, tensor and index. */
int tn_st_read_f32(const tn_st_tensor *t, float *dst, size_t count, int check_finite);

/* One tensor to write; data is in `dtype` already. */
typedef struct {
    const char *name;
    tn_dtype dtype;
    int ndim;
    int64_t shape[TN_ST_MAX_DIMS];
    const void *data;
} tn_st_entry;

/* Writes a safetensors file atomically (temp file + fsync + rename). Names
 * must be unique. metadata: a JSON object of string values, or NULL. */
int tn_st_write(const char *path, const tn_st_entry *entries, int n, const json_t *metadata);

/* A model's weights: one model.safetensors, or shards listed by
 * model.safetensors.index.json ({"metadata": {...}, "weight_map": {name: file}}).
 * Opening a set validates each shard and the index: every name in the weight
 * map is in the shard it names, no tensor appears in two shards, shard file
 * names stay inside the directory. */
typedef struct tn_st_set {
    int nfiles;
    tn_st_file *files;
    int n;
    const tn_st_tensor **tensors; /* all tensors of all shards, sorted by name */
} tn_st_set;

int tn_st_set_open_dir(tn_st_set *s, const char *dir);
const tn_st_tensor *tn_st_set_find(const tn_st_set *s, const char *name);
void tn_st_set_close(tn_st_set *s);

/* Drops a tensor's pages from this process's mapping (the page cache keeps
 * them; touching the data again reads them back): a pass over a large
 * checkpoint tensor by tensor then holds about one tensor resident, not the
 * whole file. */
void tn_st_tensor_release(const tn_st_tensor *t);

/* Writes entries into dir as model.safetensors, or, when their total size is
 * above max_shard_bytes (0 = never shard), as model-0000i-of-0000N.safetensors
 * plus model.safetensors.index.json, the way HF's save_pretrained does: greedy
 * fill in order, a tensor larger than the limit gets a shard of its own. The
 * index is written last; a stale index (single-file save) or a stale
 * model.safetensors (sharded save) is removed so the directory is unambiguous.
 * Older shard files with other counts are left alone (the index never names
 * them). */
int tn_st_write_dir(const char *dir, const tn_st_entry *entries, int n, size_t max_shard_bytes);

#endif
