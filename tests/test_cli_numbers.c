/* test_cli_numbers.c - garbage for every numeric flag of every subcommand.
 *
 * Each flag gets 'abc', '', '1e999', '12x', '-1' (where a negative value is
 * not allowed) and values too large for it, through the real binary
 * ($TUNA_BIN). Every run must exit 1 or 2 (not crash, not start working),
 * print nothing on stdout, name the flag and the bad text on stderr, and
 * leave no output directory or file behind. A control run per command gives
 * good values to all its flags and must get past the parsing. Every
 * subcommand's --help must still work. */
#include "base/fs.h"
#include "base/mem.h"
#include "base/spawn.h"
#include "harness.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* Runs tuna with argv (NULL-terminated, argv[0] is a subcommand), stdout and
 * stderr to heap strings; returns the exit status, or -1 if it did not exit
 * (killed by a signal: a crash, or the alarm when a bad value was taken and
 * the command started working). */
static int run_tuna(char **args, char **out, char **err) {
    char *o = tn_sprintf("%s/run.out", tn_t_tmpdir()), *e = tn_sprintf("%s/run.err", tn_t_tmpdir());
    char *argv[64];
    int n = 0;
    argv[n++] = (char *)tn_t_tuna();
    while (args[n - 1] && n < 63) {
        argv[n] = args[n - 1];
        n++;
    }
    argv[n] = NULL;
    /* a command that took a bad value and started serving is stopped */
    tn_spawn_opts so = {.in_path = "/dev/null", .out_path = o, .err_path = e, .truncate = 1};
    tn_spawn_watch w = {.timeout_s = 60, .sig = SIGKILL};
    tn_spawn_end end = {.code = -1};
    pid_t pid;
    fflush(NULL);
    if (tn_spawn(argv, &so, &pid) == 0) tn_spawn_supervise(pid, &w, &end);
    size_t len;
    *out = tn_read_file(o, &len);
    *err = tn_read_file(e, &len);
    if (!*out) *out = tn_strdup("");
    if (!*err) *err = tn_strdup("");
    free(o);
    free(e);
    return end.timed_out ? -1 : end.code;
}

/* A command line from a template: words separated by spaces; {T}... is a
 * path in the temporary directory, {F} the flag (left out when NULL), {V}
 * the value (one argument, even empty or with spaces). */
typedef struct {
    char *args[64];
    char *own[64]; /* what to free */
    int nown;
} argline;

static void line_build(argline *l, const char *tmpl, const char *flag, const char *value) {
    char *copy = tn_strdup(tmpl), *save = NULL;
    int n = 0;
    l->nown = 0;
    l->own[l->nown++] = copy;
    for (char *w = strtok_r(copy, " ", &save); w && n < 63; w = strtok_r(NULL, " ", &save)) {
        if (!strcmp(w, "{F}")) {
            if (flag) l->args[n++] = (char *)flag;
        } else if (!strcmp(w, "{V}")) {
            l->args[n++] = (char *)value;
        } else if (!strncmp(w, "{T}", 3) && l->nown < 64) {
            l->args[n++] = l->own[l->nown++] = tn_sprintf("%s%s", tn_t_tmpdir(), w + 3);
        } else {
            l->args[n++] = w;
        }
    }
    l->args[n] = NULL;
}

static void line_free(argline *l) {
    for (int i = 0; i < l->nown; i++) free(l->own[i]);
}

/* A subcommand's line, the paths it must not create, and its numeric flags. */
typedef struct {
    const char *tmpl;
    const char *outputs; /* space-separated, under {T} */
} command;

/* kind: i int, l int64, u uint64, d double, t duration, p HOST:PORT, s bench's M,N,K */
typedef struct {
    int cmd;            /* index into CMDS */
    const char *flag;   /* NULL: a positional argument ({F} dropped) */
    const char *named;  /* what the message must name (default: flag) */
    char kind;
    int neg_ok;         /* -1 is a valid value at this flag */
    const char *big[3]; /* too large for this flag (NULL-ended) */
} flag_case;

enum { TRAIN, EVAL, GENERATE, CHECK, VALIDATOR, MINER, PRETRAIN, ARENA, BENCH_TRAIN, BENCH_SGEMM, SELFCHECK,
       ADMIN_TASK, ADMIN_RESCORE, ADMIN_GET, NCMDS };

static const command CMDS[NCMDS] = {
    [TRAIN] = {"train --model {T}/nomodel --data {T}/nodata.jsonl --out {T}/train-out {F} {V}", "train-out"},
    [EVAL] = {"eval --model {T}/nomodel --data {T}/nodata.jsonl --dump {T}/eval-dump.jsonl {F} {V}", "eval-dump.jsonl"},
    [GENERATE] = {"generate --model {T}/nomodel --prompt hello {F} {V}", ""},
    [CHECK] = {"check --base {T}/nobase --submission {T}/nosub {F} {V}", ""},
    [VALIDATOR] = {"validator --data-dir {T}/validator-data --admin-key 00 {F} {V}", "validator-data"},
    [MINER] = {"miner --work-dir {T}/miner-work --key {T}/nokey --validator-key 00 {F} {V}", "miner-work"},
    [PRETRAIN] = {"pretrain --out {T}/pretrain-out --data-out {T}/pretrain-data {F} {V}", "pretrain-out pretrain-data"},
    [ARENA] = {"arena --work {T}/arena-work {F} {V}", "arena-work"},
    [BENCH_TRAIN] = {"bench train --config stories15M {F} {V}", ""},
    [BENCH_SGEMM] = {"bench sgemm {F} {V}", ""},
    [SELFCHECK] = {"selfcheck {F} {V}", ""},
    [ADMIN_TASK] = {"admin --url http://127.0.0.1:9 --key {T}/admin.key task create --model m --dataset d {F} {V}", ""},
    [ADMIN_RESCORE] = {"admin --url http://127.0.0.1:9 --key {T}/admin.key rescore {F} {V}", ""},
    [ADMIN_GET] = {"admin --url http://127.0.0.1:9 task {V}", ""},
};

#define I32_BIG {"2147483648", "99999999999999999999", NULL}
#define I64_BIG {"99999999999999999999", NULL}
#define U64_BIG {"18446744073709551616", NULL}

static const flag_case FLAGS[] = {
    {TRAIN, "--time", 0, 't', 0, {"99999999999h", NULL}},
    {TRAIN, "--epochs", 0, 'i', 0, I32_BIG},
    {TRAIN, "--max-steps", 0, 'l', 0, {"1000000000001", "99999999999999999999", NULL}},
    {TRAIN, "--seq-len", 0, 'i', 0, {"1048577", "2147483648", NULL}},
    {TRAIN, "--batch", 0, 'i', 0, {"1025", "2147483648", NULL}},
    {TRAIN, "--grad-accum", 0, 'i', 0, I32_BIG},
    {TRAIN, "--lr", 0, 'd', 0, {"11", "1e300", NULL}},
    {TRAIN, "--warmup", 0, 'i', 0, I32_BIG},
    {TRAIN, "--weight-decay", 0, 'd', 0, {"1e300", NULL}},
    {TRAIN, "--clip", 0, 'd', 0, {"1e300", NULL}},
    {TRAIN, "--seed", 0, 'l', 0, {"9000000000000001", "99999999999999999999", NULL}},
    {TRAIN, "--lora-r", 0, 'i', 0, {"4097", "2147483648", NULL}},
    {TRAIN, "--lora-alpha", 0, 'd', 0, {"1e300", NULL}},
    {TRAIN, "--lora-dropout", 0, 'd', 0, {"1", NULL}},
    {TRAIN, "--val-size", 0, 'd', 0, {"1e300", NULL}},
    {TRAIN, "--eval-every", 0, 'i', 0, I32_BIG},
    {TRAIN, "--early-stop", 0, 'i', 0, I32_BIG},
    {TRAIN, "--save-every", 0, 'i', 0, I32_BIG},
    {EVAL, "--seq-len", 0, 'i', 0, I32_BIG},
    {EVAL, "--batch", 0, 'i', 0, {"1025", "2147483648", NULL}},
    {GENERATE, "--max-new-tokens", 0, 'i', 0, I32_BIG},
    {GENERATE, "--temperature", 0, 'd', 0, {"1e39", NULL}}, /* a float: 1e39 is infinite */
    {GENERATE, "--top-k", 0, 'i', 0, I32_BIG},
    {GENERATE, "--top-p", 0, 'd', 0, {"1e39", "2", NULL}},
    {GENERATE, "--seed", 0, 'u', 0, U64_BIG},
    /* the rule values: any finite number passes the parser; tn_check_rules_valid then judges
     * them together and names the rule (dup_max_residual), which test_anticheat checks */
    {CHECK, "--min-cosine", 0, 'd', 1, {NULL}},
    {CHECK, "--max-rel-distance", 0, 'd', 1, {NULL}},
    {CHECK, "--untouched-eps", 0, 'd', 1, {NULL}},
    {CHECK, "--dup-max-residual", 0, 'd', 1, {NULL}},
    {CHECK, "--dup-max-structure", 0, 'd', 1, {NULL}},
    {CHECK, "--dup-min-significance", 0, 'd', 1, {NULL}},
    {CHECK, "--seq-len", 0, 'i', 0, I32_BIG},
    {CHECK, "--batch", 0, 'i', 0, {"1025", "2147483648", NULL}},
    {CHECK, "--sketch-k", 0, 'i', 0, {"65537", "2147483648", NULL}},
    {CHECK, "--sketch-seed", 0, 'u', 0, U64_BIG},
    {VALIDATOR, "--offer-timeout", 0, 'i', 0, I32_BIG},
    {VALIDATOR, "--pool", 0, 'i', 0, I32_BIG},
    {VALIDATOR, "--seq-len", 0, 'i', 0, {"1048577", "2147483648", NULL}},
    {VALIDATOR, "--eval-mem", 0, 'l', 0, {"1073741825", "99999999999999999999", NULL}},
    {VALIDATOR, "--eval-time", 0, 'd', 0, {"1e300", NULL}},
    {VALIDATOR, "--max-upload", 0, 'u', 0, {"1073741825", "18446744073709551616", NULL}},
    {VALIDATOR, "--max-miners", 0, 'i', 0, I32_BIG},
    {VALIDATOR, "--listen", 0, 'p', 0, {"127.0.0.1:65536", "127.0.0.1:99999999999999999999", NULL}},
    {MINER, "--slots", 0, 'i', 0, {"65", "2147483648", NULL}},
    {MINER, "--threads-per-job", 0, 'i', 0, {"1025", "2147483648", NULL}},
    {MINER, "--listen", 0, 'p', 0, {"127.0.0.1:65536", "127.0.0.1:99999999999999999999", NULL}},
    {PRETRAIN, "--seconds", 0, 'd', 0, {"86401", "1e300", NULL}},
    {PRETRAIN, "--steps", 0, 'i', 0, I32_BIG},
    {PRETRAIN, "--seed", 0, 'u', 0, {"9007199254740993", "18446744073709551616", NULL}},
    {PRETRAIN, "--rows", 0, 'i', 0, {"10000001", "18446744073709551616", NULL}},
    {PRETRAIN, "--vocab", 0, 'i', 0, {"65537", "2147483648", NULL}},
    {PRETRAIN, "--dim", 0, 'i', 0, I32_BIG},
    {PRETRAIN, "--layers", 0, 'i', 0, I32_BIG},
    {PRETRAIN, "--heads", 0, 'i', 0, I32_BIG},
    {PRETRAIN, "--hidden", 0, 'i', 0, I32_BIG},
    {PRETRAIN, "--seq-len", 0, 'i', 0, I32_BIG},
    {PRETRAIN, "--batch", 0, 'i', 0, I32_BIG},
    {PRETRAIN, "--lr", 0, 'd', 0, {"2", "1e300", NULL}},
    {PRETRAIN, "--threads", 0, 'i', 0, I32_BIG},
    {ARENA, "--tasks", 0, 'i', 0, I32_BIG},
    {ARENA, "--minutes", 0, 'd', 0, {"1e300", NULL}},
    {ARENA, "--pretrain-seconds", 0, 'd', 0, {"86401", "1e300", NULL}},
    {ARENA, "--seed", 0, 'u', 0, U64_BIG},
    {BENCH_TRAIN, "--batch", 0, 'i', 0, {"1048577", "2147483648", NULL}},
    {BENCH_TRAIN, "--seq", 0, 'i', 0, I32_BIG},
    {BENCH_TRAIN, "--steps", 0, 'i', 0, I32_BIG},
    {BENCH_TRAIN, "--lora", 0, 'i', 0, I32_BIG},
    {BENCH_SGEMM, "--shape", 0, 's', 0, I32_BIG}, /* each in the N field */
    {SELFCHECK, "--steps", 0, 'i', 0, I32_BIG},
    {ADMIN_TASK, "--hours", 0, 'd', 0, {"1e300", NULL}},
    {ADMIN_TASK, "--minutes", 0, 'd', 0, {"1e300", NULL}},
    {ADMIN_TASK, "--seq-len", 0, 'i', 0, I32_BIG},
    {ADMIN_RESCORE, "--task", 0, 'l', 0, I64_BIG},
    {ADMIN_GET, NULL, "task ID", 'l', 0, I64_BIG},
};

/* The values every flag must refuse (raw), and as given on the command line:
 * bench's --shape gets each in its middle field, --listen after a host. */
static void bad_values(const flag_case *f, const char **v, const char **raw, char bufs[][64], int *n) {
    static const char *common[] = {"abc", "", "1e999", "12x", " 5", "nan"};
    *n = 0;
    for (size_t i = 0; i < sizeof common / sizeof *common; i++) raw[(*n)++] = common[i];
    if (!f->neg_ok) raw[(*n)++] = "-1";
    for (int i = 0; f->big[i]; i++) raw[(*n)++] = f->big[i];
    for (int i = 0; i < *n; i++) {
        v[i] = raw[i];
        if (f->kind == 's' && !strchr(raw[i], ',')) {
            snprintf(bufs[i], 64, "64,%s,64", raw[i]);
            v[i] = bufs[i];
        } else if (f->kind == 'p' && !strchr(raw[i], ':')) {
            snprintf(bufs[i], 64, "127.0.0.1:%s", raw[i]);
            v[i] = raw[i] = bufs[i]; /* the message quotes the whole HOST:PORT */
        }
    }
}

/* The text must appear in the message: quoted by the parser ("" for an empty
 * value), or as given by a command's own range check (generate's --top-p 2). */
static int names_value(const char *err, const char *v) {
    if (!*v) return strstr(err, "\"\"") != NULL;
    return strstr(err, v) != NULL;
}

static int any_output_left(const command *c, char *which, size_t cap) {
    char *copy = tn_strdup(c->outputs), *save = NULL;
    int found = 0;
    for (char *w = strtok_r(copy, " ", &save); w && !found; w = strtok_r(NULL, " ", &save)) {
        char *p = tn_path_join(tn_t_tmpdir(), w);
        if (tn_file_exists(p) || tn_dir_exists(p)) {
            found = 1;
            snprintf(which, cap, "%s", p);
        }
        free(p);
    }
    free(copy);
    return found;
}

static int have_binary(void) { return access(tn_t_tuna(), X_OK) == 0; }

/* The admin commands that change things need a key file before they parse
 * their flags. */
static int make_admin_key(void) {
    char *key = tn_path_join(tn_t_tmpdir(), "admin.key");
    int ok = tn_file_exists(key);
    if (!ok) {
        char *args[] = {"keygen", "--out", key, NULL}, *out, *err;
        ok = run_tuna(args, &out, &err) == 0;
        free(out);
        free(err);
    }
    free(key);
    return ok;
}

TEST(garbage_to_every_numeric_flag) {
    if (!have_binary()) SKIP("%s not built (set TUNA_BIN)", tn_t_tuna());
    CHECK(make_admin_key());
    int runs = 0;
    for (size_t k = 0; k < sizeof FLAGS / sizeof *FLAGS; k++) {
        const flag_case *f = &FLAGS[k];
        const command *c = &CMDS[f->cmd];
        const char *named = f->named ? f->named : f->flag;
        const char *vals[16], *raw[16];
        char bufs[16][64];
        int nv;
        bad_values(f, vals, raw, bufs, &nv);
        for (int i = 0; i < nv; i++) {
            argline l;
            char *out, *err, left[1024];
            line_build(&l, c->tmpl, f->flag, vals[i]);
            int rc = run_tuna(l.args, &out, &err);
            const char *cmd = l.args[0];
            runs++;
            CHECKF(rc == 1 || rc == 2, "%s %s '%s': exit %d (want 1 or 2), stderr \"%s\"", cmd, named, vals[i], rc, err);
            CHECKF(strstr(err, named) && names_value(err, raw[i]),
                   "%s %s '%s': stderr \"%s\" does not name the flag and the value", cmd, named, vals[i], err);
            CHECKF(!*out, "%s %s '%s': stdout \"%s\"", cmd, named, vals[i], out);
            /* in the sanitizer build a report also exits 1: it must not be one */
            CHECKF(!strstr(err, "Sanitizer") && !strstr(err, "runtime error:"), "%s %s '%s': %s", cmd, named, vals[i], err);
            CHECKF(!any_output_left(c, left, sizeof left), "%s %s '%s': created %s", cmd, named, vals[i], left);
            free(out);
            free(err);
            line_free(&l);
        }
    }
    CHECK(runs > 400);
}

/* Good values for every flag of the commands that then fail on a missing
 * model: the failure must come after the parsing, not from it. */
TEST(good_values_pass_the_parser) {
    if (!have_binary()) SKIP("%s not built (set TUNA_BIN)", tn_t_tuna());
    static const char *lines[] = {
        "train --model {T}/nomodel --data {T}/nodata.jsonl --out {T}/good-out --time 1.5h --epochs 2 --max-steps 1000000000000 "
        "--seq-len 2 --batch 1024 --grad-accum 3 --lr 2e-4 --warmup 0 --weight-decay 0.01 --clip 0 --seed 9000000000000000 "
        "--lora-r 16 --lora-alpha 32 --lora-dropout 0.1 --val-size 0.05 --eval-every 10 --early-stop 0 --save-every 0",
        "eval --model {T}/nomodel --data {T}/nodata.jsonl --seq-len 0 --batch 8",
        "generate --model {T}/nomodel --prompt hello --max-new-tokens 1 --temperature 0 --top-k 0 --top-p 1 "
        "--seed 18446744073709551615",
        "check --base {T}/nobase --submission {T}/nosub --min-cosine -1 --max-rel-distance 0.5 --untouched-eps 0 "
        "--dup-max-residual 0.1 --dup-max-structure 1.2 --dup-min-significance 3 --sketch-k 128 "
        "--sketch-seed 0x74756e61 --seq-len 64 --batch 4",
    };
    static const char *parse_errors[] = {"is not an integer", "is not a number", "is not a finite number",
                                         "is not a duration", "is longer than"};
    for (size_t i = 0; i < sizeof lines / sizeof *lines; i++) {
        argline l;
        char *out, *err;
        line_build(&l, lines[i], NULL, "");
        int rc = run_tuna(l.args, &out, &err);
        CHECKF(rc == 1, "%s: exit %d (want 1: the model is missing), stderr \"%s\"", l.args[0], rc, err);
        for (size_t j = 0; j < sizeof parse_errors / sizeof *parse_errors; j++)
            CHECKF(!strstr(err, parse_errors[j]), "%s: a good value refused: \"%s\"", l.args[0], err);
        CHECKF(strstr(err, "nomodel") || strstr(err, "nobase") || strstr(err, "nodata"), "%s: stderr \"%s\"", l.args[0],
               err);
        free(out);
        free(err);
        line_free(&l);
    }
}

TEST(every_subcommand_still_has_help) {
    if (!have_binary()) SKIP("%s not built (set TUNA_BIN)", tn_t_tuna());
    static const char *cmds[] = {"admin",    "bench",    "arena",     "check",    "convert", "eval",
                                 "eval-submission", "generate", "info", "keygen", "miner",   "pretrain",
                                 "selfcheck", "tokenize", "train",    "validator"};
    for (size_t i = 0; i < sizeof cmds / sizeof *cmds; i++) {
        char *args[] = {(char *)cmds[i], "--help", NULL}, *out, *err;
        int rc = run_tuna(args, &out, &err);
        char *want = tn_sprintf("usage: tuna %s", cmds[i]);
        CHECKF(rc == 0 && strstr(out, want), "tuna %s --help: exit %d, stdout \"%.200s\"", cmds[i], rc, out);
        free(want);
        free(out);
        free(err);
    }
    char *args[] = {"miner", "ledger", "--help", NULL}, *out, *err;
    CHECK(run_tuna(args, &out, &err) == 0 && strstr(out, "tuna miner ledger"));
    free(out);
    free(err);
    char *version[] = {"--version", NULL};
    CHECK(run_tuna(version, &out, &err) == 0 && !strncmp(out, "tuna 0.", 7) && strchr(out, '\n'));
    free(out);
    free(err);
}

int main(void) {
    RUN(garbage_to_every_numeric_flag);
    RUN(good_values_pass_the_parser);
    RUN(every_subcommand_still_has_help);
    return tn_test_summary("cli_numbers");
}
