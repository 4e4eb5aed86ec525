/* safetensors.c - validated mmap reader and atomic writer for one
 * safetensors file (see safetensors.h). Sharded sets live in safetensors_dir.c.
 *
 * The reader trusts nothing in the file: every length, offset and shape is
 * checked (with overflow checks) before a pointer into the mapping is handed
 * out, so a truncated download or a lying header fails at open with a message
 * naming the file and tensor instead of crashing later in a matmul.
 */
#include "io/safetensors.h"
#include "base/err.h"
#include "base/fs.h"
#include "base/half.h"
#include "base/json.h"
#include "base/mem.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- dtypes ------------------------------------------------------------ */

static const struct {
    const char *name;
    size_t size;
} dtypes[TN_DT_COUNT] = {
    [TN_DT_F32] = {"F32", 4},  [TN_DT_F16] = {"F16", 2}, [TN_DT_BF16] = {"BF16", 2},
    [TN_DT_F64] = {"F64", 8},  [TN_DT_I64] = {"I64", 8}, [TN_DT_I32] = {"I32", 4},
    [TN_DT_I16] = {"I16", 2},  [TN_DT_I8] = {"I8", 1},   [TN_DT_U8] = {"U8", 1},
    [TN_DT_BOOL] = {"BOOL", 1},
};

size_t tn_dtype_size(tn_dtype dt) { return (unsigned)dt < TN_DT_COUNT ? dtypes[dt].size : 0; }

const char *tn_dtype_name(tn_dtype dt) { return (unsigned)dt < TN_DT_COUNT ? dtypes[dt].name : "?"; }

int tn_dtype_parse(const char *name, tn_dtype *out) {
    for (int i = 0; i < TN_DT_COUNT; i++) {
        if (strcmp(name, dtypes[i].name) == 0) {
            *out = (tn_dtype)i;
            return 0;
        }
    }
    return -1;
}

/* prod(shape) and prod(shape) * dtype size, refusing size_t overflow (a lying
 * header must not wrap around to a small, "valid" byte count). */
static int shape_bytes(const int64_t *shape, int ndim, tn_dtype dt, size_t *numel, size_t *nbytes) {
    size_t n = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0) return -1;
        uint64_t d = (uint64_t)shape[i];
        if (d > SIZE_MAX) return -1;
        if (d != 0 && n > SIZE_MAX / (size_t)d) return -1;
        n *= (size_t)d;
    }
    size_t es = tn_dtype_size(dt);
    if (es == 0 || (n != 0 && n > SIZE_MAX / es)) return -1;
    *numel = n;
    *nbytes = n * es;
    return 0;
}

/* ---- reader ------------------------------------------------------------ */

void tn_st_close(tn_st_file *f) {
    if (!f) return;
    if (f->map) munmap(f->map, f->map_size);
    for (int i = 0; i < f->n && f->tensors; i++) free(f->tensors[i].name);
    free(f->tensors);
    if (f->metadata) json_decref(f->metadata);
    free(f->path);
    memset(f, 0, sizeof *f);
}

/* A tensor's byte range inside the data section, for the overlap/hole check. */
typedef struct {
    uint64_t begin, end;
    int idx;
} st_range;

static int range_cmp(const void *a, const void *b) {
    const st_range *x = a, *y = b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end) return x->end < y->end ? -1 : 1;
    return x->idx - y->idx;
}

static int parse_metadata(const char *path, json_t *v) {
    if (!json_is_object(v))
        return tn_fail("%s: header: __metadata__: expected an object, got %s", path,
                       tn_json_type_name(v));
    const char *k;
    json_t *s;
    json_object_foreach(v, k, s) {
        if (!json_is_string(s))
            return tn_fail("%s: header: __metadata__: key %s: expected a string, got %s", path, k,
                           tn_json_type_name(s));
    }
    return 0;
}

/* Parses one header entry into t (name excluded) and its range r. */
static int parse_entry(const char *path, const char *name, json_t *v, size_t data_size,
                       tn_st_tensor *t, st_range *r) {
    if (!json_is_object(v))
        return tn_fail("%s: tensor %s: expected an object, got %s", path, name, tn_json_type_name(v));

    json_t *dt = json_object_get(v, "dtype");
    if (!dt) return tn_fail("%s: tensor %s: missing field dtype", path, name);
    if (!json_is_string(dt))
        return tn_fail("%s: tensor %s: dtype: expected a string, got %s", path, name,
                       tn_json_type_name(dt));
    if (tn_dtype_parse(json_string_value(dt), &t->dtype) != 0)
        return tn_fail("%s: tensor %s: unknown dtype \"%s\" (supported: F32 F16 BF16 F64 I64 I32 "
                       "I16 I8 U8 BOOL)", path, name, json_string_value(dt));

    json_t *sh = json_object_get(v, "shape");
    if (!sh) return tn_fail("%s: tensor %s: missing field shape", path, name);
    if (!json_is_array(sh))
        return tn_fail("%s: tensor %s: shape: expected an array, got %s", path, name,
                       tn_json_type_name(sh));
    if (json_array_size(sh) > TN_ST_MAX_DIMS)
        return tn_fail("%s: tensor %s: shape has %zu dimensions, at most %d are supported", path,
                       name, json_array_size(sh), TN_ST_MAX_DIMS);
    t->ndim = (int)json_array_size(sh);
    for (int i = 0; i < t->ndim; i++) {
        json_t *d = json_array_get(sh, (size_t)i);
        if (!json_is_integer(d))
            return tn_fail("%s: tensor %s: shape[%d]: expected a non-negative integer, got %s", path,
                           name, i, tn_json_type_name(d));
        if (json_integer_value(d) < 0)
            return tn_fail("%s: tensor %s: shape[%d] is %lld, a negative dimension", path, name, i,
                           (long long)json_integer_value(d));
        t->shape[i] = (int64_t)json_integer_value(d);
    }
    if (shape_bytes(t->shape, t->ndim, t->dtype, &t->numel, &t->nbytes) != 0)
        return tn_fail("%s: tensor %s: shape overflows the address space", path, name);

    json_t *off = json_object_get(v, "data_offsets");
    if (!off) return tn_fail("%s: tensor %s: missing field data_offsets", path, name);
    if (!json_is_array(off) || json_array_size(off) != 2)
        return tn_fail("%s: tensor %s: data_offsets: expected an array [begin, end]", path, name);
    int64_t be[2];
    for (int i = 0; i < 2; i++) {
        json_t *x = json_array_get(off, (size_t)i);
        if (!json_is_integer(x) || json_integer_value(x) < 0)
            return tn_fail("%s: tensor %s: data_offsets[%d]: expected a non-negative integer", path,
                           name, i);
        be[i] = (int64_t)json_integer_value(x);
    }
    if (be[0] > be[1])
        return tn_fail("%s: tensor %s: data_offsets begin %lld > end %lld", path, name,
                       (long long)be[0], (long long)be[1]);
    r->begin = (uint64_t)be[0];
    r->end = (uint64_t)be[1];
    if (r->end - r->begin != (uint64_t)t->nbytes)
        return tn_fail("%s: tensor %s: shape and dtype %s need %zu bytes but data_offsets [%llu, "
                       "%llu] span %llu", path, name, tn_dtype_name(t->dtype), t->nbytes,
                       (unsigned long long)r->begin, (unsigned long long)r->end,
                       (unsigned long long)(r->end - r->begin));
    if (r->end > (uint64_t)data_size)
        return tn_fail("%s: tensor %s: data_offsets end %llu is past the end of the data section "
                       "(%zu bytes; truncated file?)", path, name, (unsigned long long)r->end,
                       data_size);
    return 0;
}

/* Ranges must tile [0, data_size) exactly: no overlap (two tensors aliasing the
 * same bytes) and no holes (bytes no tensor owns), as upstream requires. */
static int check_tiling(const tn_st_file *f, st_range *rs, int n, size_t data_size) {
    qsort(rs, (size_t)n, sizeof *rs, range_cmp);
    uint64_t pos = 0;
    for (int i = 0; i < n; i++) {
        const char *name = f->tensors[rs[i].idx].name;
        if (rs[i].begin < pos)
            return tn_fail("%s: tensor %s: data_offsets [%llu, %llu] overlap tensor %s", f->path,
                           name, (unsigned long long)rs[i].begin, (unsigned long long)rs[i].end,
                           f->tensors[rs[i - 1].idx].name);
        if (rs[i].begin > pos)
            return tn_fail("%s: tensor %s: hole in the data section: bytes [%llu, %llu] before it "
                           "belong to no tensor", f->path, name, (unsigned long long)pos,
                           (unsigned long long)rs[i].begin);
        pos = rs[i].end;
    }
    if (pos != (uint64_t)data_size)
        return tn_fail("%s: header: tensors cover %llu bytes but the data section has %zu (hole or "
                       "trailing bytes at the end)", f->path, (unsigned long long)pos, data_size);
    return 0;
}

static int parse_header(tn_st_file *f, const char *hdr, size_t hlen, size_t data_size) {
    json_error_t e;
    json_t *root = json_loadb(hdr, hlen, JSON_REJECT_DUPLICATES, &e);
    if (!root) {
        if (strstr(e.text, "duplicate"))
            return tn_fail("%s: header: duplicate tensor name or key (%s)", f->path, e.text);
        return tn_fail("%s: header: invalid JSON at line %d column %d: %s", f->path, e.line,
                       e.column, e.text);
    }
    int rc = -1;
    st_range *rs = NULL;
    if (!json_is_object(root)) {
        tn_fail("%s: header: expected a JSON object, got %s", f->path, tn_json_type_name(root));
        goto out;
    }
    size_t cap = json_object_size(root);
    f->tensors = tn_calloc(cap, sizeof *f->tensors);
    rs = tn_calloc(cap, sizeof *rs);
    const char *key;
    json_t *v;
    json_object_foreach(root, key, v) {
        if (strcmp(key, "__metadata__") == 0) {
            if (parse_metadata(f->path, v) != 0) goto out;
            f->metadata = json_incref(v);
            continue;
        }
        tn_st_tensor *t = &f->tensors[f->n];
        t->name = tn_strdup(key);
        t->path = f->path;
        f->n++; /* counted now so that close frees the name on failure */
        if (parse_entry(f->path, key, v, data_size, t, &rs[f->n - 1]) != 0) goto out;
        rs[f->n - 1].idx = f->n - 1;
    }
    if (check_tiling(f, rs, f->n, data_size) != 0) goto out;
    const char *data = hdr + hlen;
    /* rs was sorted by check_tiling: map back by idx. */
    for (int i = 0; i < f->n; i++) f->tensors[rs[i].idx].data = data + rs[i].begin;
    rc = 0;
out:
    free(rs);
    json_decref(root);
    return rc;
}

int tn_st_open(tn_st_file *f, const char *path) {
    memset(f, 0, sizeof *f);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return tn_fail_errno("%s: cannot open", path);
    struct stat st;
    if (fstat(fd, &st) != 0) {
        tn_fail_errno("%s: cannot stat", path);
        close(fd);
        return -1;
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return tn_fail("%s: header: not a regular file", path);
    }
    if (st.st_size < 8) {
        close(fd);
        return tn_fail("%s: header: file is %lld bytes, shorter than the 8-byte header length "
                       "(empty or truncated file?)", path, (long long)st.st_size);
    }
    if ((uint64_t)st.st_size > SIZE_MAX) {
        close(fd);
        return tn_fail("%s: header: file too large to map", path);
    }
    size_t size = (size_t)st.st_size;
    void *map = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
    int map_errno = errno;
    close(fd); /* the mapping keeps the file alive */
    if (map == MAP_FAILED) {
        errno = map_errno;
        return tn_fail_errno("%s: cannot mmap", path);
    }
    f->path = tn_strdup(path);
    f->map = map;
    f->map_size = size;

    const unsigned char *p = map;
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = (hlen << 8) | p[i]; /* little-endian, any host */
    if (hlen == 0) {
        tn_fail("%s: header: header length is 0", path);
        goto fail;
    }
    if (hlen > TN_ST_MAX_HEADER) {
        tn_fail("%s: header: header length %llu exceeds the limit of %u bytes (not a safetensors "
                "file?)", path, (unsigned long long)hlen, TN_ST_MAX_HEADER);
        goto fail;
    }
    if (hlen > size - 8) {
        tn_fail("%s: header: header length %llu is larger than the file (%zu bytes; truncated?)",
                path, (unsigned long long)hlen, size);
        goto fail;
    }
    if (parse_header(f, (const char *)p + 8, (size_t)hlen, size - 8 - (size_t)hlen) != 0) goto fail;
    return 0;
fail:
    tn_st_close(f);
    return -1;
}

const tn_st_tensor *tn_st_find(const tn_st_file *f, const char *name) {
    for (int i = 0; i < f->n; i++)
        if (strcmp(f->tensors[i].name, name) == 0) return &f->tensors[i];
    return NULL;
}

int tn_st_read_f32(const tn_st_tensor *t, float *dst, size_t count, int check_finite) {
    if (count != t->numel)
        return tn_fail("%s: tensor %s: has %zu elements, caller expected %zu", t->path, t->name,
                       t->numel, count);
    /* The data section may start at any offset (the header length is
     * arbitrary), so every load goes through memcpy, never a cast. */
    const unsigned char *src = t->data;
    long long n = (long long)count;
    switch (t->dtype) {
    case TN_DT_F32:
        if (count) memcpy(dst, src, count * 4);
        break;
    case TN_DT_F16:
#pragma omp parallel for if (n > (1 << 20))
        for (long long i = 0; i < n; i++) {
            uint16_t h;
            memcpy(&h, src + 2 * i, 2);
            dst[i] = tn_f16_to_f32(h);
        }
        break;
    case TN_DT_BF16:
#pragma omp parallel for if (n > (1 << 20))
        for (long long i = 0; i < n; i++) {
            uint16_t h;
            memcpy(&h, src + 2 * i, 2);
            dst[i] = tn_bf16_to_f32(h);
        }
        break;
    case TN_DT_F64:
#pragma omp parallel for if (n > (1 << 20))
        for (long long i = 0; i < n; i++) {
            double d;
            memcpy(&d, src + 8 * i, 8);
            dst[i] = (float)d;
        }
        break;
    default:
        return tn_fail("%s: tensor %s: dtype %s cannot be read as floating point", t->path,
                       t->name, tn_dtype_name(t->dtype));
    }
    if (check_finite) {
        for (size_t i = 0; i < count; i++) {
            if (!isfinite(dst[i]))
                return tn_fail("%s: tensor %s: element %zu is %s%s", t->path, t->name, i,
                               isnan(dst[i]) ? "NaN" : "Inf",
                               t->dtype == TN_DT_F64 && !isnan(dst[i]) ? " (out of F32 range?)" : "");
        }
    }
    return 0;
}

/* ---- writer ------------------------------------------------------------ */

/* Builds the header JSON (compact, entries in order, offsets contiguous). */
static json_t *build_header(const char *path, const tn_st_entry *e, int n, const json_t *metadata) {
    json_t *root = json_object();
    if (metadata) {
        if (!json_is_object(metadata)) {
            tn_fail("%s: metadata: expected an object, got %s", path, tn_json_type_name(metadata));
            goto fail;
        }
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)metadata, k, v) {
            if (!json_is_string(v)) {
                tn_fail("%s: metadata: key %s: expected a string, got %s", path, k,
                        tn_json_type_name(v));
                goto fail;
            }
        }
        /* a deep copy: the caller's object is const and may be shared */
        json_object_set_new(root, "__metadata__", json_deep_copy(metadata));
    }
    uint64_t off = 0;
    for (int i = 0; i < n; i++) {
        const char *name = e[i].name;
        if (!name || !*name) {
            tn_fail("%s: entry %d: empty tensor name", path, i);
            goto fail;
        }
        if (strcmp(name, "__metadata__") == 0 || json_object_get(root, name)) {
            tn_fail("%s: tensor %s: %s", path, name,
                    json_object_get(root, name) ? "duplicate tensor name" : "reserved name");
            goto fail;
        }
        if ((unsigned)e[i].dtype >= TN_DT_COUNT) {
            tn_fail("%s: tensor %s: invalid dtype %d", path, name, (int)e[i].dtype);
            goto fail;
        }
        if (e[i].ndim < 0 || e[i].ndim > TN_ST_MAX_DIMS) {
            tn_fail("%s: tensor %s: %d dimensions, expected 0..%d", path, name, e[i].ndim,
                    TN_ST_MAX_DIMS);
            goto fail;
        }
        size_t numel, nbytes;
        if (shape_bytes(e[i].shape, e[i].ndim, e[i].dtype, &numel, &nbytes) != 0) {
            tn_fail("%s: tensor %s: negative or overflowing shape", path, name);
            goto fail;
        }
        if (nbytes > 0 && !e[i].data) {
            tn_fail("%s: tensor %s: data is NULL for %zu bytes", path, name, nbytes);
            goto fail;
        }
        json_t *shape = json_array();
        for (int d = 0; d < e[i].ndim; d++) json_array_append_new(shape, json_integer(e[i].shape[d]));
        json_t *offs = json_array();
        json_array_append_new(offs, json_integer((json_int_t)off));
        json_array_append_new(offs, json_integer((json_int_t)(off + nbytes)));
        json_object_set_new(root, name,
                            json_pack("{s:s, s:o, s:o}", "dtype", tn_dtype_name(e[i].dtype),
                                      "shape", shape, "data_offsets", offs));
        off += nbytes;
    }
    return root;
fail:
    json_decref(root);
    return NULL;
}

int tn_st_write(const char *path, const tn_st_entry *entries, int n, const json_t *metadata) {
    if (n < 0 || (n > 0 && !entries)) return tn_fail("%s: invalid tensor list", path);
    json_t *root = build_header(path, entries, n, metadata);
    if (!root) return -1;
    char *js = json_dumps(root, JSON_COMPACT);
    json_decref(root);
    if (!js) return tn_fail("%s: cannot serialise the header", path);
    size_t jlen = strlen(js);
    /* Pad with spaces so the data section starts 8-byte aligned (as upstream
     * does): readers that cast the mapping then see aligned tensors. */
    size_t hlen = (jlen + 8 + 7) / 8 * 8 - 8;
    char *hdr = tn_malloc(8 + hlen);
    for (int i = 0; i < 8; i++) hdr[i] = (char)(((uint64_t)hlen >> (8 * i)) & 0xff);
    memcpy(hdr + 8, js, jlen);
    memset(hdr + 8 + jlen, ' ', hlen - jlen);
    free(js);

    tn_atomic_file af;
    if (tn_atomic_open(&af, path, 0644)) {
        free(hdr);
        return -1;
    }
    /* Stream header then each tensor: no copy of the whole model in memory. */
    int rc = tn_write_all(af.fd, hdr, 8 + hlen, af.tmp);
    for (int i = 0; rc == 0 && i < n; i++) {
        size_t numel, nbytes;
        shape_bytes(entries[i].shape, entries[i].ndim, entries[i].dtype, &numel, &nbytes);
        if (nbytes) rc = tn_write_all(af.fd, entries[i].data, nbytes, af.tmp);
    }
    if (rc == 0) rc = tn_atomic_commit(&af, 1);
    if (rc) tn_atomic_abort(&af);
    free(hdr);
    return rc;
}

void tn_st_tensor_release(const tn_st_tensor *t) {
    if (!t->nbytes) return;
    /* outward to whole pages: a neighbour's page dropped too is only read
     * back from the page cache when touched (the mapping is read-only) */
    uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    uintptr_t a = (uintptr_t)t->data & ~(page - 1);
    uintptr_t e = ((uintptr_t)t->data + t->nbytes + page - 1) & ~(page - 1);
    (void)madvise((void *)a, e - a, MADV_DONTNEED); /* advice: failing costs memory, never data */
}
