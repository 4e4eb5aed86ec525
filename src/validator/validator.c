/* validator.c - start-up, the scheduler loop and shutdown (see validator.h). */
#include "validator/vstate.h"
#include "validator/evaljob.h"
#include "base/clock.h"
#include "base/err.h"
#include "base/fs.h"
#include "base/json.h"
#include "base/log.h"
#include "base/mem.h"

#include <errno.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void tn_validator_opts_default(tn_validator_opts *o) {
    memset(o, 0, sizeof *o);
    o->bind = "127.0.0.1";
    o->offer_timeout_ms = 3000;
    o->max_upload_bytes = (uint64_t)4 << 30;
    o->seq_len = 512;
    o->eval_mem_mb = TN_EVAL_MEM_AUTO; /* per job, from the memory model (evaljob.h) */
    o->eval_cpu_s = 3600;
    o->eval_wall_s = 1800;
    o->tick_s = 0.25;
    o->max_miners = 20;
    o->lease_s = 30;
}

static vstate *g_v;
static void on_signal(int sig) {
    if (g_v) g_v->stop = sig;
}

/* The verifier asks whether a key may sign: the admin key, or an enabled
 * registered miner's. */
static int key_known(void *ud, const char *key_id) {
    vstate *v = ud;
    if (!strcmp(key_id, v->o.admin_key)) return 1;
    tn_miner m;
    memset(&m, 0, sizeof m);
    pthread_mutex_lock(&v->db);
    int rc = tn_store_miner_by_key(v->store, key_id, &m);
    pthread_mutex_unlock(&v->db);
    int ok = rc == 0 && m.enabled;
    tn_miner_clear(&m);
    return ok;
}

/* The URL-signing secret: random once, kept in data_dir so download URLs
 * handed out before a restart stay valid after it. */
static int load_secret(vstate *v) {
    char *p = v_path(v, "url.secret");
    size_t n = 0;
    char *s = tn_file_exists(p) ? tn_read_file(p, &n) : NULL;
    int rc = 0;
    if (s && n == sizeof v->url_secret) {
        memcpy(v->url_secret, s, n);
    } else {
        randombytes_buf(v->url_secret, sizeof v->url_secret);
        rc = tn_write_file_atomic(p, v->url_secret, sizeof v->url_secret);
    }
    free(s);
    free(p);
    return rc;
}

static int load_key(vstate *v) {
    char *def = v_path(v, "validator.key");
    const char *path = v->o.key_path ? v->o.key_path : def;
    int rc;
    if (tn_file_exists(path)) {
        rc = tn_keypair_load(&v->key, path);
    } else {
        rc = tn_keypair_generate(&v->key);
        if (rc == 0) rc = tn_keypair_save(&v->key, path, 0);
        if (rc == 0) tn_info("created the validator's key %s", path);
    }
    free(def);
    return rc;
}

static int write_info(vstate *v) {
    json_t *j = json_pack("{s:s, s:s, s:I}", "url", v->base_url, "public_key", v->key.id, "pid", (json_int_t)getpid());
    char *p = v_path(v, "validator.json");
    int rc = tn_json_save_file(j, p);
    free(p);
    json_decref(j);
    return rc;
}

/* The scheduler's lease (validator.h): taken or renewed once a third of it
 * is used; 1 when this process may act now (two thirds of the lease or
 * more left, so that the tick ends before the lease does). */
typedef struct {
    char owner[160];
    int64_t until; /* our lease's end; 0 when not held */
    int said;      /* "standing by" logged for the current holder */
} sched_lease;

/* Whether holder ("KEY@HOST/PID", as made below) is a process of this host
 * that is gone: a validator restarted after a crash need not wait for its
 * predecessor's lease to run out. A reused pid only makes it wait. */
static int holder_dead_here(const char *holder) {
    char host[64] = "?";
    gethostname(host, sizeof host - 1);
    const char *at = holder ? strchr(holder, '@') : NULL, *slash = holder ? strrchr(holder, '/') : NULL;
    if (!at || !slash || slash < at || (size_t)(slash - at - 1) != strlen(host) || strncmp(at + 1, host, strlen(host)))
        return 0;
    char *end;
    long pid = strtol(slash + 1, &end, 10);
    return pid > 0 && !*end && kill((pid_t)pid, 0) != 0 && errno == ESRCH;
}

static int may_schedule(vstate *v, sched_lease *l) {
    int64_t lease_ms = (int64_t)(v->o.lease_s * 1000), now = tn_wall_ms();
    if (now >= l->until - 2 * lease_ms / 3) {
        char *holder = NULL;
        LOCK(v);
        int rc = tn_store_lease_take(v->store, "scheduler", l->owner, now, lease_ms, &holder);
        if (rc == TN_STORE_CONFLICT && holder_dead_here(holder) &&
            tn_store_lease_release(v->store, "scheduler", holder) == 0) { /* only if still the dead one's */
            tn_info("scheduler: %s is gone; taking its lease", holder);
            rc = tn_store_lease_take(v->store, "scheduler", l->owner, now, lease_ms, NULL);
        }
        UNLOCK(v);
        if (rc == 0) {
            if (!l->until) tn_info("scheduler: lease taken by %s", l->owner);
            l->until = now + lease_ms;
            l->said = 0;
        } else {
            if (l->until && now < l->until) /* a failed renewal: ours until it expires */
                tn_warn("scheduler: cannot renew the lease: %s", tn_errmsg());
            else if (rc == TN_STORE_CONFLICT && !l->said++)
                tn_info("scheduler: standing by (%s)", tn_errmsg());
            else if (rc != TN_STORE_CONFLICT)
                tn_warn("scheduler: %s", tn_errmsg());
            if (l->until && now >= l->until) {
                tn_warn("scheduler: lease lost");
                l->until = 0;
            }
        }
        free(holder);
    }
    return l->until && now < l->until - lease_ms / 3;
}

int tn_validator_main(const tn_validator_opts *opts) {
    vstate V;
    memset(&V, 0, sizeof V);
    vstate *v = &V;
    v->o = *opts;
    if (!v->o.data_dir) return tn_fail("validator: no data directory");
    if (!v->o.admin_key || tn_key_id_parse(v->o.admin_key, (unsigned char[TN_KEY_PUB_BYTES]){0}))
        return tn_fail("validator: --admin-key must be the organiser's public key (64 hex characters)");
    pthread_mutex_init(&v->db, NULL);
    pthread_mutex_init(&v->up_mu, NULL);
    int rc = -1;
    char *dbpath = NULL, *blobdir = NULL;
    if (tn_crypto_init() || tn_mkdir_p(v->o.data_dir) || load_key(v) || load_secret(v)) goto out;
    dbpath = v->o.store_url ? tn_strdup(v->o.store_url) : v_path(v, "store.sqlite");
    blobdir = v_path(v, "blobs");
    tn_store_opts so = {0};
    so.max_miners_total = v->o.max_miners;
    if (!(v->store = tn_store_open(dbpath, &so))) goto out;
    if (!(v->blobs = tn_blobs_open(blobdir))) goto out;
    v->pool = tn_evalpool_new();
    if (!(v->verifier = tn_verifier_new(TN_SIGN_DEFAULT_SKEW_S, TN_REPLAY_DEFAULT_CAPACITY))) goto out;
    tn_verifier_set_lookup(v->verifier, key_known, v);
    tn_http_server_opts ho = {0};
    ho.bind = v->o.bind;
    ho.port = v->o.port;
    ho.verifier = v->verifier;
    if (!(v->http = tn_http_server_new(&ho)) || v_api_register(v)) goto out;
    /* before serving: the last process's half-streamed bodies are orphans */
    if (v_sweep_staging(v, 1)) tn_warn("uploads: %s", tn_errmsg());
    if (tn_http_server_start(v->http)) goto out;
    snprintf(v->base_url, sizeof v->base_url, "http://%s:%d", v->o.bind, tn_http_server_port(v->http));
    if (write_info(v)) goto out;
    tn_info("validator listening on %s (key %.16s..., data in %s)", v->base_url, v->key.id, v->o.data_dir);
    g_v = v;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    int64_t last_sweep = tn_wall_ms();
    sched_lease lease = {.until = 0};
    char host[64] = "?";
    gethostname(host, sizeof host - 1);
    snprintf(lease.owner, sizeof lease.owner, "%.16s@%s/%d", v->key.id, host, (int)getpid());
    if (!(v->o.lease_s >= 1)) v->o.lease_s = 30;
    while (!v->stop) {
        if (v->o.role != TN_VALIDATOR_API && may_schedule(v, &lease) && v_schedule_tick(v))
            tn_warn("scheduler: %s", tn_errmsg());
        if (tn_wall_ms() - last_sweep >= V_SWEEP_PERIOD_MS) {
            if (v_sweep_staging(v, 0)) tn_warn("uploads: %s", tn_errmsg());
            last_sweep = tn_wall_ms();
        }
        usleep((useconds_t)(v->o.tick_s * 1e6));
    }
    tn_info("validator stopping (signal %d)", (int)v->stop);
    if (lease.until && tn_store_lease_release(v->store, "scheduler", lease.owner) == 0)
        tn_info("scheduler: lease given back");
    rc = 0;
out:
    g_v = NULL;
    /* its children were told to stop (v->stop); their threads end with them */
    if (v->pool) atomic_store(&v->stop, v->stop ? v->stop : SIGTERM);
    tn_evalpool_free(v->pool);
    if (v->http) tn_http_server_free(v->http);
    if (v->verifier) tn_verifier_free(v->verifier);
    if (v->blobs) tn_blobs_close(v->blobs);
    if (v->store) tn_store_close(v->store);
    tn_keypair_wipe(&v->key);
    pthread_mutex_destroy(&v->db);
    pthread_mutex_destroy(&v->up_mu);
    for (size_t i = 0; i < v->ncompleting; i++) free(v->completing[i]);
    free(v->completing);
    free(dbpath);
    free(blobdir);
    return rc;
}
