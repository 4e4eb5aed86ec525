/* uploads.c - what stands between a miner's upload and the disk: the file
 * name as it was sent, the completion gate, the quotas and the removal of
 * staging files nobody will complete (declared in vstate.h).
 *
 * Layout: data_dir/uploads/tmp holds bodies while they stream in (the HTTP
 * server's temporary files); data_dir/uploads/<token>/staging the files of a
 * submission uploaded but not yet completed; a completion moves the staging
 * directory to data_dir/submissions/<token>/<ms>/ in one rename. */
#include "validator/vstate.h"
#include "base/clock.h"
#include "base/err.h"
#include "base/fs.h"
#include "base/log.h"
#include "base/mem.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <utf8proc.h>

/* ---- the file name -------------------------------------------------------------- */

static int hexval(int c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* The decoded path handed to handlers is a C string: a %00 in it silently
 * cuts the name short. So the name is decoded again here from the target as
 * it was sent, with its length, and every byte of it is judged. */
int v_upload_name(const tn_http_req *r, char *out, size_t cap, char *why, size_t whycap) {
    const char *t = r->target ? r->target : r->path;
    const char *f = strstr(t, "/files/");
    if (!f) {
        snprintf(why, whycap, "upload to /v1/submissions/{id}/files/{name}");
        return -1;
    }
    f += strlen("/files/");
    size_t n = 0;
    for (const char *p = f; *p && *p != '?' && *p != '#'; p++) {
        int c = (unsigned char)*p;
        if (c == '%') {
            int hi = hexval((unsigned char)p[1]), lo = hi < 0 ? -1 : hexval((unsigned char)p[2]);
            if (lo < 0) {
                snprintf(why, whycap, "file name: malformed %%-escape");
                return -1;
            }
            c = hi * 16 + lo;
            p += 2;
        }
        if (n + 1 >= cap) {
            snprintf(why, whycap, "file name longer than %zu bytes", cap - 1);
            return -1;
        }
        out[n++] = (char)c;
    }
    out[n] = 0;
    if (memchr(out, 0, n)) {
        snprintf(why, whycap, "file name contains a NUL byte (%%00)");
        return -1;
    }
    for (size_t i = 0; i < n;) {
        utf8proc_int32_t cp;
        utf8proc_ssize_t k = utf8proc_iterate((const utf8proc_uint8_t *)out + i, (utf8proc_ssize_t)(n - i), &cp);
        if (k <= 0) {
            snprintf(why, whycap, "file name is not valid UTF-8 (byte %zu)", i);
            return -1;
        }
        i += (size_t)k;
    }
    return 0;
}

/* ---- the completion gate ------------------------------------------------------- */

static size_t gate_find(const vstate *v, const char *token) {
    for (size_t i = 0; i < v->ncompleting; i++)
        if (!strcmp(v->completing[i], token)) return i;
    return (size_t)-1;
}

int v_gate_completing(const vstate *v, const char *token) { return gate_find(v, token) != (size_t)-1; }

int v_gate_enter(vstate *v, const char *token) {
    if (v_gate_completing(v, token)) return -1;
    v->completing = tn_realloc(v->completing, (v->ncompleting + 1) * sizeof *v->completing);
    v->completing[v->ncompleting++] = tn_strdup(token);
    return 0;
}

void v_gate_leave(vstate *v, const char *token) {
    pthread_mutex_lock(&v->up_mu);
    size_t i = gate_find(v, token);
    if (i != (size_t)-1) {
        free(v->completing[i]);
        v->completing[i] = v->completing[--v->ncompleting];
    }
    pthread_mutex_unlock(&v->up_mu);
}

/* ---- quotas ---------------------------------------------------------------------- */

/* Regular files directly in dir (count, bytes), leaving out `except` (the
 * name an upload replaces: its old size is what the new one takes over). A
 * missing dir is empty. */
static void dir_usage(const char *dir, const char *except, uint64_t *count, uint64_t *bytes) {
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.' && (!e->d_name[1] || (e->d_name[1] == '.' && !e->d_name[2]))) continue;
        if (except && !strcmp(e->d_name, except)) continue;
        char *p = tn_path_join(dir, e->d_name);
        struct stat st;
        if (lstat(p, &st) == 0) {
            if (S_ISREG(st.st_mode)) {
                if (count) (*count)++;
                *bytes += (uint64_t)st.st_size;
            } else if (S_ISDIR(st.st_mode)) {
                dir_usage(p, NULL, NULL, bytes); /* submissions/<token>/<ms>/ */
            }
        }
        free(p);
    }
    closedir(d);
}

static int setting_u64(vstate *v, const char *key, uint64_t def, uint64_t *out) {
    double x;
    if (v_setting_num(v, key, (double)def, &x)) return -1;
    *out = x >= 0 && x < 1.8e19 ? (uint64_t)x : def;
    return 0;
}

int v_upload_limits(vstate *v, v_limits *l) {
    return setting_u64(v, "upload.max_files", V_DEFAULT_MAX_FILES, &l->max_files) ||
           setting_u64(v, "upload.max_submission_bytes", V_DEFAULT_MAX_SUBMISSION_BYTES, &l->max_submission_bytes) ||
           setting_u64(v, "upload.max_miner_bytes", V_DEFAULT_MAX_MINER_BYTES, &l->max_miner_bytes) ||
           setting_u64(v, "upload.staging_ttl_s", V_DEFAULT_STAGING_TTL_S, &l->staging_ttl_s);
}

/* What the miner keeps on disk for the tasks still taking uploads: staged
 * and completed files under each of its tokens (re-uploads included, so
 * completing again and again cannot fill the disk either). */
static int miner_usage(vstate *v, int64_t miner_id, const char *token, const char *replaced, uint64_t *bytes) {
    tn_offer *os = NULL;
    size_t no = 0;
    LOCK(v);
    int rc = tn_store_offers_for_miner(v->store, miner_id, &os, &no);
    for (size_t i = 0; rc >= 0 && i < no; i++) {
        tn_task t;
        memset(&t, 0, sizeof t);
        rc = tn_store_task_get(v->store, os[i].task_id, &t);
        int open = rc >= 0 && t.state == TN_TASK_TRAINING;
        tn_task_clear(&t);
        if (!open) continue;
        char *st = v_path(v, "uploads/%s/staging", os[i].token), *sub = v_path(v, "submissions/%s", os[i].token);
        dir_usage(st, strcmp(os[i].token, token) ? NULL : replaced, NULL, bytes);
        dir_usage(sub, NULL, NULL, bytes);
        free(st);
        free(sub);
    }
    UNLOCK(v);
    tn_offers_free(os, no);
    return rc < 0 ? -1 : 0;
}

int v_upload_quota(vstate *v, const v_limits *l, const tn_offer *of, const char *staging, const char *name,
                   uint64_t size, char *why, size_t whycap) {
    uint64_t count = 0, bytes = 0;
    dir_usage(staging, name, &count, &bytes);
    if (count + 1 > l->max_files) {
        snprintf(why, whycap, "submission %s has %llu files already (limit %llu files, setting upload.max_files)",
                 of->token, (unsigned long long)count, (unsigned long long)l->max_files);
        return 409;
    }
    if (bytes + size > l->max_submission_bytes) {
        snprintf(why, whycap, "submission %s would hold %llu bytes with this file (limit %llu bytes, setting "
                 "upload.max_submission_bytes)", of->token, (unsigned long long)(bytes + size),
                 (unsigned long long)l->max_submission_bytes);
        return 413;
    }
    uint64_t mine = 0;
    if (miner_usage(v, of->miner_id, of->token, name, &mine)) {
        snprintf(why, whycap, "%s", tn_errmsg());
        return 500;
    }
    if (mine + size > l->max_miner_bytes) {
        snprintf(why, whycap, "this miner would keep %llu bytes in open tasks with this file (limit %llu bytes, "
                 "setting upload.max_miner_bytes)", (unsigned long long)(mine + size),
                 (unsigned long long)l->max_miner_bytes);
        return 413;
    }
    return 0;
}

/* ---- stale staging ------------------------------------------------------------- */

/* Removes, under up_mu, the files of one staging directory that are older
 * than ttl_ms (all of them when all = 1), then the directory if empty. */
static void sweep_dir(vstate *v, const char *token, const char *dir, int all, int64_t ttl_ms, int *removed) {
    pthread_mutex_lock(&v->up_mu);
    if (!v_gate_completing(v, token)) {
        DIR *d = opendir(dir);
        struct dirent *e;
        int64_t now = tn_wall_ms();
        while (d && (e = readdir(d))) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
            char *p = tn_path_join(dir, e->d_name);
            struct stat st;
            if (lstat(p, &st) == 0 && (all || now - (int64_t)st.st_mtime * 1000 > ttl_ms) && tn_rm_rf(p) == 0)
                (*removed)++;
            free(p);
        }
        if (d) closedir(d);
        rmdir(dir); /* fails, harmlessly, while files remain */
    }
    pthread_mutex_unlock(&v->up_mu);
}

int v_sweep_staging(vstate *v, int startup) {
    v_limits l;
    if (v_upload_limits(v, &l)) return -1;
    int removed = 0;
    char *up = v_path(v, "uploads");
    if (startup) {
        /* bodies that were streaming when the last process died: the server
         * is not serving yet, so every temporary file is an orphan */
        char *tmp = v_path(v, "uploads/tmp");
        DIR *d = opendir(tmp);
        struct dirent *e;
        while (d && (e = readdir(d))) {
            if (strncmp(e->d_name, ".upload.", 8)) continue;
            char *p = tn_path_join(tmp, e->d_name);
            if (unlink(p) == 0) removed++;
            free(p);
        }
        if (d) closedir(d);
        free(tmp);
    }
    DIR *d = opendir(up);
    struct dirent *e;
    int rc = 0;
    while (d && (e = readdir(d))) {
        if (e->d_name[0] == '.' || !strcmp(e->d_name, "tmp")) continue;
        char *tokdir = tn_path_join(up, e->d_name);
        if (!tn_dir_exists(tokdir)) { /* e.g. a dataset being converted */
            free(tokdir);
            continue;
        }
        /* a staging directory outlives its use once its task stops taking
         * uploads (or its token is unknown); before that, only files older
         * than the TTL go */
        tn_offer of;
        tn_task t;
        memset(&of, 0, sizeof of);
        memset(&t, 0, sizeof t);
        LOCK(v);
        int src = tn_store_offer_by_token(v->store, e->d_name, &of);
        if (src >= 0) src = tn_store_task_get(v->store, of.task_id, &t);
        UNLOCK(v);
        if (src < 0 && src != TN_STORE_NOT_FOUND) {
            rc = -1;
        } else {
            int dead = src < 0 || t.state != TN_TASK_TRAINING || (t.deadline > 0 && tn_wall_ms() > t.deadline);
            char *st = tn_path_join(tokdir, "staging");
            sweep_dir(v, e->d_name, st, dead, (int64_t)l.staging_ttl_s * 1000, &removed);
            free(st);
            rmdir(tokdir); /* only when empty */
        }
        tn_offer_clear(&of);
        tn_task_clear(&t);
        free(tokdir);
    }
    if (d) closedir(d);
    free(up);
    if (removed) tn_info("uploads: removed %d stale staging file%s", removed, removed == 1 ? "" : "s");
    return rc;
}
