/* miner.c - `tuna miner`: start-up, serving, shutdown (see miner.h).
 *
 * Start-up order matters: the database and the speed profile first (an
 * offer cannot be answered without them), then the server, then the jobs a
 * previous process left unfinished. Shutdown is the reverse: the server
 * stops taking requests, then the jobs are told to stop (training children
 * get SIGTERM and write checkpoints; uploads pause) and joined. Nothing is
 * marked failed by a shutdown: the next start resumes it.
 */
#include "miner/miner.h"
#include "miner/jobs.h"
#include "miner/server.h"
#include "miner/profile.h"

#include "net/http_client.h"
#include "base/err.h"
#include "base/fs.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/num.h"

#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t g_signal;

static void on_signal(int sig) { g_signal = sig; }

static char *self_exe(void) {
    char buf[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
    if (n <= 0) return NULL;
    buf[n] = 0;
    return tn_strdup(buf);
}

static int setup(tn_miner *m, tn_miner_config *c) {
    if (tn_miner_config_check(c) || tn_http_global_init()) return -1;
    if (tn_keypair_load(&m->key, c->key_path)) return tn_err_prefix("--key %s", c->key_path);
    char *jobs = tn_path_join(c->work_dir, "jobs");
    int rc = tn_mkdir_p(jobs);
    free(jobs);
    if (rc) return -1;
    if (c->threads_per_job <= 0) {
        long cores = sysconf(_SC_NPROCESSORS_ONLN);
        c->threads_per_job = cores > c->slots ? (int)(cores / c->slots) : 1;
    }
    m->tuna_bin = c->tuna_bin ? tn_strdup(c->tuna_bin) : self_exe();
    if (!m->tuna_bin || access(m->tuna_bin, X_OK) != 0)
        return tn_fail("cannot find the tuna binary to train with (set tuna_bin)");
    if (c->flops > 0) c->policy.flops = c->flops;
    else if (tn_profile_load_or_calibrate(c->work_dir, c->threads_per_job, &c->policy.flops))
        return tn_err_prefix("calibration");
    char *dbp = tn_path_join(c->work_dir, "miner.sqlite");
    m->db = tn_mdb_open(dbp, 1);
    free(dbp);
    if (!m->db) return -1;
    m->ver = tn_verifier_new(0, 0);
    if (!m->ver || tn_verifier_allow(m->ver, c->validator_key)) return -1;
    return 0;
}

int tn_miner_run(tn_miner_config *c) {
    tn_miner m;
    memset(&m, 0, sizeof m);
    m.cfg = c;
    pthread_mutex_init(&m.mu, NULL);
    pthread_mutex_init(&m.offer_mu, NULL);
    atomic_init(&m.stop, 0);
    char host[256];
    int port = 0, rc = -1;
    if (tn_parse_host_port("--listen", c->listen ? c->listen : "", host, sizeof host, &port) || setup(&m, c)) goto out;
    /* handlers only set a flag: the main loop does the work */
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    if (tn_miner_serve(&m, host, port)) goto out;
    tn_info("miner: listening on %s:%d as %.16s..., accepting the validator %.16s...; %d slot(s), %d thread(s) per "
            "job, %.3g FLOP/s, strategy %s, work dir %s",
            host, tn_http_server_port(m.srv), m.key.id, c->validator_key, c->slots, c->threads_per_job,
            c->policy.flops, tn_strategy_name(c->strategy), c->work_dir);
    if (tn_jobs_resume_all(&m)) tn_warn("miner: %s", tn_errmsg());
    while (!g_signal) {
        usleep(200 * 1000);
        tn_jobs_reap(&m, 0);
    }
    tn_info("miner: signal %d: stopping (unfinished jobs resume at the next start)", (int)g_signal);
    rc = 0;
out:
    if (m.srv) tn_http_server_stop(m.srv);
    atomic_store(&m.stop, 1);
    tn_jobs_reap(&m, 1);
    tn_http_server_free(m.srv);
    tn_verifier_free(m.ver);
    tn_mdb_close(m.db);
    tn_keypair_wipe(&m.key);
    free(m.tuna_bin);
    pthread_mutex_destroy(&m.mu);
    pthread_mutex_destroy(&m.offer_mu);
    return rc;
}
