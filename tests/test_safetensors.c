/* test_safetensors.c - safetensors reader/writer: round trips, sharded sets,
 * every validation error on hand-built bad files, and cross-checks against an
 * independent numpy implementation (tools/st_check.py). */
#include "harness.h"
#include "base/err.h"
#include "base/fs.h"
#include "base/half.h"
#include "base/mem.h"
#include "io/safetensors.h"

#include <stdint.h>
#include <unistd.h>

/* A path in the test's temp dir; heap string. */
static char *tmp_path(const char *name) { return tn_path_join(tn_t_tmpdir(), name); }

/* Writes a safetensors file by hand: 8-byte LE length, header text, data. */
static void write_raw_len(const char *path, uint64_t hlen, const char *hdr, const void *data,
                          size_t dlen) {
    size_t n = strlen(hdr);
    unsigned char *buf = tn_malloc(8 + n + dlen);
    for (int i = 0; i < 8; i++) buf[i] = (unsigned char)(hlen >> (8 * i));
    memcpy(buf + 8, hdr, n);
    if (dlen) memcpy(buf + 8 + n, data, dlen);
    if (tn_write_file_atomic(path, buf, 8 + n + dlen) != 0) {
        fprintf(stderr, "cannot write %s: %s\n", path, tn_errmsg());
        exit(2);
    }
    free(buf);
}

static void write_raw(const char *path, const char *hdr, const void *data, size_t dlen) {
    write_raw_len(path, strlen(hdr), hdr, data, dlen);
}

static const unsigned char zeros[64];

/* Opening `name` (built by the caller in the temp dir) must fail with a message
 * that names the file and contains `needle`, leaving the struct empty. */
#define CHECK_OPEN_FAILS(name, needle)                                            \
    do {                                                                         \
        char *p_ = tmp_path(name);                                               \
        tn_st_file f_;                                                           \
        CHECK_ERR(tn_st_open(&f_, p_), needle);                                  \
        CHECKF(strstr(tn_errmsg(), p_) != NULL, "message does not name the file: %s", tn_errmsg()); \
        CHECK(f_.map == NULL && f_.tensors == NULL && f_.path == NULL && f_.n == 0); \
        tn_st_close(&f_);                                                        \
        free(p_);                                                                \
    } while (0)

/* ---- round trips --------------------------------------------------------- */

TEST(roundtrip_types) {
    float a[6] = {1, -2, 3.5f, 0, 1e-3f, 65504};
    uint16_t b[4], h[4];
    float bsrc[4] = {1.5f, -0.25f, 3e30f, 7};
    float hsrc[4] = {0.5f, -1, 1000, 6e-5f};
    for (int i = 0; i < 4; i++) {
        b[i] = tn_f32_to_bf16(bsrc[i]);
        h[i] = tn_f32_to_f16(hsrc[i]);
    }
    int32_t ints[3] = {-7, 0, 123456};
    float scalar = 42.25f;
    tn_st_entry e[] = {
        {"a", TN_DT_F32, 2, {2, 3}, a},
        {"b.bf16", TN_DT_BF16, 1, {4}, b},
        {"h", TN_DT_F16, 2, {2, 2}, h},
        {"ints", TN_DT_I32, 1, {3}, ints},
        {"scalar", TN_DT_F32, 0, {0}, &scalar},
        {"empty", TN_DT_F32, 2, {0, 4}, NULL},
    };
    char *p = tmp_path("rt.safetensors");
    CHECK(tn_st_write(p, e, 6, NULL) == 0);

    /* data section 8-byte aligned, header padded with spaces */
    size_t len;
    char *raw = tn_read_file(p, &len);
    CHECK(raw != NULL);
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = (hlen << 8) | (unsigned char)raw[i];
    CHECK((8 + hlen) % 8 == 0);
    CHECK(len == 8 + hlen + 24 + 8 + 8 + 12 + 4);
    free(raw);

    tn_st_file f;
    CHECK(tn_st_open(&f, p) == 0);
    CHECK(f.n == 6);
    for (int i = 0; i < f.n && i < 6; i++) {
        const tn_st_tensor *t = &f.tensors[i];
        CHECK(strcmp(t->name, e[i].name) == 0); /* header order kept */
        CHECK(t->dtype == e[i].dtype && t->ndim == e[i].ndim);
        for (int d = 0; d < t->ndim; d++) CHECK(t->shape[d] == e[i].shape[d]);
        CHECK(t->path == f.path);
        if (t->nbytes) CHECK(memcmp(t->data, e[i].data, t->nbytes) == 0);
    }
    CHECK(f.metadata == NULL);
    CHECK(tn_st_find(&f, "nope") == NULL);
    const tn_st_tensor *t = tn_st_find(&f, "scalar");
    CHECK(t && t->ndim == 0 && t->numel == 1 && t->nbytes == 4);
    t = tn_st_find(&f, "empty");
    CHECK(t && t->numel == 0 && t->nbytes == 0);
    float out[6];
    CHECK(t && tn_st_read_f32(t, out, 0, 1) == 0);

    t = tn_st_find(&f, "a");
    CHECK(t && tn_st_read_f32(t, out, 6, 1) == 0);
    for (int i = 0; i < 6; i++) CHECK(out[i] == a[i]);
    t = tn_st_find(&f, "b.bf16");
    CHECK(t && tn_st_read_f32(t, out, 4, 1) == 0);
    for (int i = 0; i < 4; i++) CHECK_NEAR(out[i], bsrc[i], 1.0 / 128, 0);
    t = tn_st_find(&f, "h");
    CHECK(t && tn_st_read_f32(t, out, 4, 1) == 0);
    for (int i = 0; i < 4; i++) CHECK_NEAR(out[i], hsrc[i], 1.0 / 1024, 1e-7);
    t = tn_st_find(&f, "scalar");
    CHECK(t && tn_st_read_f32(t, out, 1, 1) == 0 && out[0] == 42.25f);

    /* wrong count and non-float dtype are errors naming file and tensor */
    t = tn_st_find(&f, "a");
    if (t) CHECK_ERR(tn_st_read_f32(t, out, 5, 0), "tensor a: has 6 elements, caller expected 5");
    t = tn_st_find(&f, "ints");
    if (t) {
        CHECK_ERR(tn_st_read_f32(t, out, 3, 0), "tensor ints: dtype I32 cannot be read");
        CHECK(strstr(tn_errmsg(), p) != NULL);
    }
    tn_st_close(&f);
    tn_st_close(&f); /* idempotent */
    free(p);
}

TEST(f64_read) {
    double d[3] = {1.25, -3.0, 1e300};
    tn_st_entry e = {"d", TN_DT_F64, 1, {3}, d};
    char *p = tmp_path("f64.safetensors");
    CHECK(tn_st_write(p, &e, 1, NULL) == 0);
    tn_st_file f;
    CHECK(tn_st_open(&f, p) == 0);
    float out[3];
    CHECK(tn_st_read_f32(&f.tensors[0], out, 3, 0) == 0);
    CHECK(out[0] == 1.25f && out[1] == -3.0f && isinf(out[2]));
    CHECK_ERR(tn_st_read_f32(&f.tensors[0], out, 3, 1), "tensor d: element 2 is Inf");
    tn_st_close(&f);
    free(p);
}

TEST(metadata_roundtrip) {
    float x = 1;
    tn_st_entry e = {"x", TN_DT_F32, 1, {1}, &x};
    json_t *md = json_pack("{s:s, s:s}", "format", "pt", "note", "tuna \"test\" \xc3\xa9");
    char *p = tmp_path("md.safetensors");
    CHECK(tn_st_write(p, &e, 1, md) == 0);
    tn_st_file f;
    CHECK(tn_st_open(&f, p) == 0);
    CHECK(f.n == 1 && f.metadata && json_equal(f.metadata, md));
    tn_st_close(&f);
    json_decref(md);

    /* a non-string metadata value is refused by the writer and the reader */
    md = json_pack("{s:i}", "n", 3);
    CHECK_ERR(tn_st_write(p, &e, 1, md), "metadata: key n: expected a string");
    json_decref(md);
    static const float one = 1;
    write_raw(p, "{\"__metadata__\":{\"n\":3},\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}",
              &one, 4);
    CHECK_OPEN_FAILS("md.safetensors", "__metadata__: key n: expected a string");
    free(p);
}

TEST(writer_refuses) {
    float x[2] = {1, 2};
    char *p = tmp_path("wr.safetensors");
    tn_st_entry dup[] = {{"x", TN_DT_F32, 1, {2}, x}, {"x", TN_DT_F32, 1, {1}, x}};
    CHECK_ERR(tn_st_write(p, dup, 2, NULL), "tensor x: duplicate tensor name");
    tn_st_entry null_data = {"y", TN_DT_F32, 1, {2}, NULL};
    CHECK_ERR(tn_st_write(p, &null_data, 1, NULL), "tensor y: data is NULL");
    tn_st_entry neg = {"z", TN_DT_F32, 1, {-1}, x};
    CHECK_ERR(tn_st_write(p, &neg, 1, NULL), "tensor z: negative or overflowing shape");
    CHECK(!tn_file_exists(p)); /* nothing half-written */
    tn_st_entry empty_null = {"e", TN_DT_BF16, 2, {3, 0}, NULL};
    CHECK(tn_st_write(p, &empty_null, 1, NULL) == 0);
    CHECK(tn_st_write(p, NULL, 0, NULL) == 0); /* zero tensors is a valid file */
    tn_st_file f;
    CHECK(tn_st_open(&f, p) == 0 && f.n == 0);
    tn_st_close(&f);
    free(p);
}

static void fill_entries(tn_st_entry *e, float (*data)[16], int n) {
    static char names[8][32];
    for (int i = 0; i < n; i++) {
        snprintf(names[i], sizeof names[i], "layer.%d.w", i);
        for (int j = 0; j < 16; j++) data[i][j] = (float)(i * 100 + j);
        e[i] = (tn_st_entry){names[i], TN_DT_F32, 2, {4, 4}, data[i]};
    }
}

TEST(sharded_roundtrip) {
    float data[5][16];
    tn_st_entry e[5];
    fill_entries(e, data, 5);
    char *dir = tmp_path("sharded");
    /* 64 bytes each, at most 150 per shard: 2 + 2 + 1 */
    CHECK(tn_st_write_dir(dir, e, 5, 150) == 0);
    const char *shards[] = {"model-00001-of-00003.safetensors", "model-00002-of-00003.safetensors",
                            "model-00003-of-00003.safetensors", "model.safetensors.index.json"};
    for (int i = 0; i < 4; i++) {
        char *q = tn_path_join(dir, shards[i]);
        CHECKF(tn_file_exists(q), "%s missing", q);
        free(q);
    }
    char *q = tn_path_join(dir, "model.safetensors.index.json");
    json_t *idx = json_load_file(q, 0, NULL);
    free(q);
    CHECK(idx && json_integer_value(json_object_get(json_object_get(idx, "metadata"), "total_size")) == 320);
    CHECK(idx && !strcmp(json_string_value(json_object_get(json_object_get(idx, "weight_map"), "layer.4.w")),
                         "model-00003-of-00003.safetensors"));
    json_decref(idx);

    tn_st_set s;
    CHECK(tn_st_set_open_dir(&s, dir) == 0);
    CHECK(s.nfiles == 3 && s.n == 5);
    for (int i = 0; i < 5; i++) {
        const tn_st_tensor *t = tn_st_set_find(&s, e[i].name);
        CHECK(t && t->nbytes == 64 && memcmp(t->data, data[i], 64) == 0);
    }
    CHECK(tn_st_set_find(&s, "layer.9.w") == NULL);
    tn_st_set_close(&s);
    tn_st_set_close(&s);

    /* Re-saving unsharded replaces the index, which would otherwise win. */
    CHECK(tn_st_write_dir(dir, e, 5, 0) == 0);
    CHECK(tn_st_set_open_dir(&s, dir) == 0);
    CHECK(s.nfiles == 1 && s.n == 5 && tn_st_set_find(&s, "layer.2.w"));
    tn_st_set_close(&s);
    free(dir);
}

TEST(set_missing) {
    tn_st_set s;
    char *dir = tmp_path("no-such-dir");
    CHECK_ERR(tn_st_set_open_dir(&s, dir), dir);
    CHECK(s.files == NULL && s.tensors == NULL);
    free(dir);
    dir = tmp_path("empty-dir");
    CHECK(tn_mkdir_p(dir) == 0);
    CHECK_ERR(tn_st_set_open_dir(&s, dir), "no model.safetensors or model.safetensors.index.json");
    CHECK(strstr(tn_errmsg(), dir) != NULL);
    free(dir);
}

/* ---- bad files ------------------------------------------------------------ */

TEST(bad_short_file) {
    char *p = tmp_path("short.safetensors");
    CHECK(tn_write_file_atomic(p, "\x05\0\0\0\0", 5) == 0);
    free(p);
    CHECK_OPEN_FAILS("short.safetensors", "shorter than the 8-byte header length");
}

TEST(bad_header_len) {
    char *p = tmp_path("hlen.safetensors");
    write_raw_len(p, 1000, "{}", NULL, 0);
    CHECK_OPEN_FAILS("hlen.safetensors", "header length 1000 is larger than the file");
    write_raw_len(p, (uint64_t)TN_ST_MAX_HEADER + 1, "{}", NULL, 0);
    CHECK_OPEN_FAILS("hlen.safetensors", "exceeds the limit");
    write_raw_len(p, 0, "", NULL, 0);
    CHECK_OPEN_FAILS("hlen.safetensors", "header length is 0");
    free(p);
}

TEST(bad_header_json) {
    char *p = tmp_path("json.safetensors");
    write_raw(p, "{\"a\": {\"dtype\": ", NULL, 0);
    CHECK_OPEN_FAILS("json.safetensors", "header: invalid JSON");
    write_raw(p, "[1, 2]", NULL, 0);
    CHECK_OPEN_FAILS("json.safetensors", "header: expected a JSON object, got an array");
    free(p);
}

TEST(bad_duplicate_name) {
    char *p = tmp_path("dup.safetensors");
    write_raw(p,
              "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
              "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
              zeros, 8);
    CHECK_OPEN_FAILS("dup.safetensors", "duplicate tensor name");
    free(p);
}

TEST(bad_dtype) {
    char *p = tmp_path("dtype.safetensors");
    write_raw(p, "{\"w\":{\"dtype\":\"F8_E4M3\",\"shape\":[4],\"data_offsets\":[0,4]}}", zeros, 4);
    CHECK_OPEN_FAILS("dtype.safetensors", "tensor w: unknown dtype \"F8_E4M3\"");
    write_raw(p, "{\"w\":{\"dtype\":7,\"shape\":[4],\"data_offsets\":[0,4]}}", zeros, 4);
    CHECK_OPEN_FAILS("dtype.safetensors", "tensor w: dtype: expected a string");
    free(p);
}

TEST(bad_shape) {
    char *p = tmp_path("shape.safetensors");
    write_raw(p, "{\"w\":{\"dtype\":\"F32\",\"shape\":[2,\"3\"],\"data_offsets\":[0,24]}}", zeros, 24);
    CHECK_OPEN_FAILS("shape.safetensors", "tensor w: shape[1]: expected a non-negative integer, got a string");
    write_raw(p, "{\"w\":{\"dtype\":\"F32\",\"shape\":[2,1.5],\"data_offsets\":[0,24]}}", zeros, 24);
    CHECK_OPEN_FAILS("shape.safetensors", "tensor w: shape[1]: expected a non-negative integer");
    write_raw(p, "{\"w\":{\"dtype\":\"F32\",\"shape\":[-2,3],\"data_offsets\":[0,24]}}", zeros, 24);
    CHECK_OPEN_FAILS("shape.safetensors", "tensor w: shape[0] is -2, a negative dimension");
    write_raw(p, "{\"w\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,4]}}",
              zeros, 4);
    CHECK_OPEN_FAILS("shape.safetensors", "tensor w: shape has 9 dimensions");
    /* product overflows 64 bits: must not wrap to a small "valid" size */
    write_raw(p, "{\"w\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,0]}}",
              NULL, 0);
    CHECK_OPEN_FAILS("shape.safetensors", "tensor w: shape overflows");
    write_raw(p, "{\"w\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}", zeros, 4);
    CHECK_OPEN_FAILS("shape.safetensors", "tensor w: missing field shape");
    free(p);
}

TEST(bad_lying_header) {
    char *p = tmp_path("lie.safetensors");
    write_raw(p, "{\"w\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,8]}}", zeros, 8);
    CHECK_OPEN_FAILS("lie.safetensors", "tensor w: shape and dtype F32 need 16 bytes but data_offsets [0, 8] span 8");
    free(p);
}

TEST(bad_truncated) {
    char *p = tmp_path("trunc.safetensors");
    write_raw(p, "{\"w\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", zeros, 9);
    CHECK_OPEN_FAILS("trunc.safetensors", "tensor w: data_offsets end 16 is past the end of the data section (9 bytes");
    free(p);
}

TEST(bad_overlap) {
    char *p = tmp_path("overlap.safetensors");
    write_raw(p,
              "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
              "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
              zeros, 12);
    CHECK_OPEN_FAILS("overlap.safetensors", "tensor b: data_offsets [4, 12] overlap tensor a");
    free(p);
}

TEST(bad_hole) {
    char *p = tmp_path("hole.safetensors");
    write_raw(p,
              "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
              "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}",
              zeros, 12);
    CHECK_OPEN_FAILS("hole.safetensors", "tensor b: hole in the data section: bytes [4, 8]");
    write_raw(p, "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", zeros, 8);
    CHECK_OPEN_FAILS("hole.safetensors", "tensors cover 4 bytes but the data section has 8");
    free(p);
}

TEST(bad_offsets) {
    char *p = tmp_path("offs.safetensors");
    write_raw(p, "{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,4]}}", zeros, 8);
    CHECK_OPEN_FAILS("offs.safetensors", "tensor w: data_offsets begin 8 > end 4");
    write_raw(p, "{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0]}}", zeros, 4);
    CHECK_OPEN_FAILS("offs.safetensors", "tensor w: data_offsets: expected an array [begin, end]");
    write_raw(p, "{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[-4,0]}}", zeros, 4);
    CHECK_OPEN_FAILS("offs.safetensors", "tensor w: data_offsets[0]: expected a non-negative integer");
    write_raw(p, "{\"w\":[1,2]}", NULL, 0);
    CHECK_OPEN_FAILS("offs.safetensors", "tensor w: expected an object, got an array");
    free(p);
}

TEST(nonfinite_weights) {
    float x[4] = {1, 2, NAN, 4};
    uint16_t b[3] = {tn_f32_to_bf16(1), tn_f32_to_bf16(INFINITY), 0};
    tn_st_entry e[] = {{"x", TN_DT_F32, 1, {4}, x}, {"b", TN_DT_BF16, 1, {3}, b}};
    char *p = tmp_path("nan.safetensors");
    CHECK(tn_st_write(p, e, 2, NULL) == 0);
    tn_st_file f;
    CHECK(tn_st_open(&f, p) == 0); /* values are not the header's business */
    float out[4];
    CHECK_ERR(tn_st_read_f32(&f.tensors[0], out, 4, 1), "tensor x: element 2 is NaN");
    CHECK(strstr(tn_errmsg(), p) != NULL);
    CHECK_ERR(tn_st_read_f32(&f.tensors[1], out, 3, 1), "tensor b: element 1 is Inf");
    CHECK(tn_st_read_f32(&f.tensors[0], out, 4, 0) == 0 && isnan(out[2]) && out[3] == 4);
    CHECK(tn_st_read_f32(&f.tensors[1], out, 3, 0) == 0 && isinf(out[1]));
    tn_st_close(&f);
    free(p);
}

/* ---- bad sharded sets ----------------------------------------------------- */

/* Builds dir with two valid shards (a,b in s1; c in s2) and the given index. */
static char *make_set(const char *name, const char *index_json) {
    char *dir = tmp_path(name);
    tn_mkdir_p(dir);
    float v[3] = {1, 2, 3};
    tn_st_entry s1[] = {{"a", TN_DT_F32, 1, {1}, &v[0]}, {"b", TN_DT_F32, 1, {1}, &v[1]}};
    tn_st_entry s2[] = {{"c", TN_DT_F32, 1, {1}, &v[2]}, {"a2", TN_DT_F32, 1, {1}, &v[0]}};
    char *p = tn_path_join(dir, "s1.safetensors");
    tn_st_write(p, s1, 2, NULL);
    free(p);
    p = tn_path_join(dir, "s2.safetensors");
    tn_st_write(p, s2, 2, NULL);
    free(p);
    p = tn_path_join(dir, "model.safetensors.index.json");
    tn_write_file_atomic(p, index_json, strlen(index_json));
    free(p);
    return dir;
}

#define CHECK_SET_FAILS(dir, file, needle)                                      \
    do {                                                                       \
        tn_st_set s_;                                                          \
        char *f_ = tn_path_join(dir, file);                                    \
        CHECK_ERR(tn_st_set_open_dir(&s_, dir), needle);                       \
        CHECKF(strstr(tn_errmsg(), f_) != NULL, "message does not name %s: %s", f_, tn_errmsg()); \
        CHECK(s_.files == NULL && s_.tensors == NULL && s_.nfiles == 0);       \
        free(f_);                                                              \
    } while (0)

#define IDX "model.safetensors.index.json"

TEST(set_index_ok) {
    char *dir = make_set("set-ok", "{\"metadata\":{\"total_size\":16},\"weight_map\":"
                                   "{\"a\":\"s1.safetensors\",\"b\":\"s1.safetensors\","
                                   "\"c\":\"s2.safetensors\",\"a2\":\"s2.safetensors\"}}");
    tn_st_set s;
    CHECK(tn_st_set_open_dir(&s, dir) == 0);
    CHECK(s.nfiles == 2 && s.n == 4);
    const tn_st_tensor *t = tn_st_set_find(&s, "c");
    float out;
    CHECK(t && strstr(t->path, "s2.safetensors") && tn_st_read_f32(t, &out, 1, 1) == 0 && out == 3);
    tn_st_set_close(&s);
    free(dir);
}

TEST(set_missing_shard) {
    char *dir = make_set("set-miss", "{\"weight_map\":{\"a\":\"s1.safetensors\",\"b\":\"s1.safetensors\","
                                     "\"c\":\"s3.safetensors\",\"a2\":\"s2.safetensors\"}}");
    CHECK_SET_FAILS(dir, IDX, "s3.safetensors listed in weight_map does not exist");
    free(dir);
}

TEST(set_tensor_not_in_shard) {
    char *dir = make_set("set-notin", "{\"weight_map\":{\"a\":\"s1.safetensors\",\"b\":\"s1.safetensors\","
                                      "\"c\":\"s2.safetensors\",\"a2\":\"s2.safetensors\","
                                      "\"zz\":\"s2.safetensors\"}}");
    CHECK_SET_FAILS(dir, IDX, "weight_map.zz: tensor not found in shard");
    free(dir);
    dir = make_set("set-wrong", "{\"weight_map\":{\"a\":\"s2.safetensors\",\"b\":\"s1.safetensors\","
                                "\"c\":\"s2.safetensors\",\"a2\":\"s2.safetensors\"}}");
    CHECK_SET_FAILS(dir, IDX, "weight_map.a: index says shard");
    free(dir);
    /* a tensor in a shard that the index does not map */
    dir = make_set("set-unmapped", "{\"weight_map\":{\"a\":\"s1.safetensors\",\"b\":\"s1.safetensors\","
                                   "\"c\":\"s2.safetensors\"}}");
    CHECK_SET_FAILS(dir, "s2.safetensors", "tensor a2: not listed in");
    free(dir);
}

TEST(set_bad_shard_name) {
    char *dir = make_set("set-dotdot", "{\"weight_map\":{\"a\":\"../x\"}}");
    CHECK_SET_FAILS(dir, IDX, "weight_map.a: shard file name \"../x\" must be a plain file name");
    free(dir);
    dir = make_set("set-slash", "{\"weight_map\":{\"a\":\"/etc/passwd\"}}");
    CHECK_SET_FAILS(dir, IDX, "must be a plain file name");
    free(dir);
    dir = make_set("set-type", "{\"weight_map\":[\"a\"]}");
    CHECK_SET_FAILS(dir, IDX, "field weight_map: expected an object, got an array");
    free(dir);
    dir = make_set("set-nomap", "{\"metadata\":{}}");
    CHECK_SET_FAILS(dir, IDX, "missing required field weight_map");
    free(dir);
    dir = make_set("set-badjson", "{\"weight_map\":");
    CHECK_SET_FAILS(dir, IDX, "invalid JSON");
    free(dir);
}

TEST(set_same_tensor_two_shards) {
    char *dir = make_set("set-two", "{\"weight_map\":{\"a\":\"s1.safetensors\",\"b\":\"s1.safetensors\","
                                    "\"c\":\"s2.safetensors\",\"a2\":\"s2.safetensors\","
                                    "\"x\":\"s3.safetensors\"}}");
    /* s3 holds "b" again (plus x) */
    float v = 5;
    tn_st_entry s3[] = {{"b", TN_DT_F32, 1, {1}, &v}, {"x", TN_DT_F32, 1, {1}, &v}};
    char *p = tn_path_join(dir, "s3.safetensors");
    CHECK(tn_st_write(p, s3, 2, NULL) == 0);
    free(p);
    tn_st_set s;
    CHECK_ERR(tn_st_set_open_dir(&s, dir), "tensor b: also in shard");
    CHECK(strstr(tn_errmsg(), "s1.safetensors") && strstr(tn_errmsg(), "s3.safetensors"));
    free(dir);
}

/* ---- independent implementation (numpy) ----------------------------------- */

/* Runs tools/st_check.py with args; returns its parsed JSON output or NULL with
 * *skip set to a reason when python3/numpy/the tool is unavailable. */
static json_t *run_st_check(const char *args, const char *path, const char **skip) {
    *skip = NULL;
    if (access("/usr/bin/python3", X_OK) != 0) {
        *skip = "/usr/bin/python3 not found";
        return NULL;
    }
    if (!tn_file_exists("tools/st_check.py")) {
        *skip = "tools/st_check.py not found (run from the repository root)";
        return NULL;
    }
    if (system("/usr/bin/python3 -c 'import numpy' >/dev/null 2>&1") != 0) {
        *skip = "numpy not installed for /usr/bin/python3";
        return NULL;
    }
    if (strchr(path, '\'')) {
        *skip = "temp path contains a quote";
        return NULL;
    }
    char *cmd = tn_sprintf("/usr/bin/python3 tools/st_check.py %s '%s'", args, path);
    FILE *pp = popen(cmd, "r");
    free(cmd);
    if (!pp) return NULL;
    char buf[8192];
    size_t n = fread(buf, 1, sizeof buf - 1, pp);
    buf[n] = 0;
    int st = pclose(pp);
    if (st != 0) {
        fprintf(stderr, "  st_check.py failed (status %d): %s\n", st, buf);
        return NULL;
    }
    return json_loads(buf, 0, NULL);
}

TEST(numpy_reads_our_file) {
    float a[6] = {1, -2, 3.5f, 0.125f, 10, -0.5f};
    uint16_t b[5], h[3];
    float bs[5] = {1, 2.5f, -3, 0.0078125f, 100}, hs[3] = {0.5f, -7, 2048};
    for (int i = 0; i < 5; i++) b[i] = tn_f32_to_bf16(bs[i]);
    for (int i = 0; i < 3; i++) h[i] = tn_f32_to_f16(hs[i]);
    int32_t ints[4] = {1, -20, 300, 4000};
    float sc = -9.75f;
    tn_st_entry e[] = {
        {"a", TN_DT_F32, 2, {3, 2}, a},   {"b", TN_DT_BF16, 1, {5}, b}, {"h", TN_DT_F16, 3, {1, 3, 1}, h},
        {"i", TN_DT_I32, 2, {2, 2}, ints}, {"sc", TN_DT_F32, 0, {0}, &sc}, {"z", TN_DT_F32, 1, {0}, NULL},
    };
    double sums[6] = {12.125, 100.5078125, 2041.5, 4281, -9.75, 0};
    char *p = tmp_path("for_numpy.safetensors");
    CHECK(tn_st_write(p, e, 6, NULL) == 0);
    const char *skip;
    json_t *js = run_st_check("", p, &skip);
    free(p);
    if (skip) SKIP("%s", skip);
    CHECK(js != NULL);
    if (!js) return;
    CHECK(json_object_size(js) == 6);
    for (int i = 0; i < 6; i++) {
        json_t *t = json_object_get(js, e[i].name);
        CHECKF(t != NULL, "numpy did not see %s", e[i].name);
        if (!t) continue;
        CHECK(!strcmp(json_string_value(json_object_get(t, "dtype")), tn_dtype_name(e[i].dtype)));
        json_t *shape = json_object_get(t, "shape");
        CHECK(json_array_size(shape) == (size_t)e[i].ndim);
        for (int d = 0; d < e[i].ndim; d++)
            CHECK(json_integer_value(json_array_get(shape, (size_t)d)) == e[i].shape[d]);
        CHECK_NEAR(json_number_value(json_object_get(t, "sum")), sums[i], 1e-9, 1e-9);
    }
    json_decref(js);
}

TEST(we_read_numpy_file) {
    char *p = tmp_path("from_numpy.safetensors");
    const char *skip;
    json_t *js = run_st_check("--write", p, &skip);
    if (skip) {
        free(p);
        SKIP("%s", skip);
    }
    CHECK(js != NULL);
    tn_st_file f;
    CHECK(tn_st_open(&f, p) == 0);
    /* the tool leaves the data section misaligned on purpose */
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = (hlen << 8) | ((const unsigned char *)f.map)[i];
    CHECK((8 + hlen) % 4 != 0);
    CHECK(f.metadata && !strcmp(json_string_value(json_object_get(f.metadata, "format")), "pt"));
    CHECK(js && f.n == (int)json_object_size(js) && f.n == 3);
    for (int i = 0; js && i < f.n; i++) {
        const tn_st_tensor *t = &f.tensors[i];
        json_t *ref = json_object_get(js, t->name);
        CHECKF(ref != NULL, "unexpected tensor %s", t->name);
        if (!ref) continue;
        CHECK(!strcmp(json_string_value(json_object_get(ref, "dtype")), tn_dtype_name(t->dtype)));
        CHECK(json_array_size(json_object_get(ref, "shape")) == (size_t)t->ndim);
        float *buf = tn_malloc((t->numel ? t->numel : 1) * sizeof *buf);
        CHECK(tn_st_read_f32(t, buf, t->numel, 1) == 0);
        double s = 0;
        for (size_t j = 0; j < t->numel; j++) s += buf[j];
        CHECK_NEAR(s, json_number_value(json_object_get(ref, "sum")), 1e-9, 1e-9);
        free(buf);
    }
    tn_st_close(&f);
    json_decref(js);
    free(p);
}

int main(void) {
    RUN(roundtrip_types);
    RUN(f64_read);
    RUN(metadata_roundtrip);
    RUN(writer_refuses);
    RUN(sharded_roundtrip);
    RUN(set_missing);
    RUN(bad_short_file);
    RUN(bad_header_len);
    RUN(bad_header_json);
    RUN(bad_duplicate_name);
    RUN(bad_dtype);
    RUN(bad_shape);
    RUN(bad_lying_header);
    RUN(bad_truncated);
    RUN(bad_overlap);
    RUN(bad_hole);
    RUN(bad_offsets);
    RUN(nonfinite_weights);
    RUN(set_index_ok);
    RUN(set_missing_shard);
    RUN(set_tensor_not_in_shard);
    RUN(set_bad_shard_name);
    RUN(set_same_tensor_two_shards);
    RUN(numpy_reads_our_file);
    RUN(we_read_numpy_file);
    return tn_test_summary("safetensors");
}
