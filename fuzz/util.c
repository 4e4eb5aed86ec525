/* util.c - see util.h. */
#include "util.h"

#include "base/fs.h"
#include "base/log.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char g_dir[64];
static struct {
    char name[48];
    char path[128];
} g_paths[16];
static int g_npaths;

static void cleanup(void) {
    if (g_dir[0]) tn_rm_rf(g_dir);
}

const char *fz_dir(void) {
    if (!g_dir[0]) {
        const char *t = getenv("TMPDIR");
        snprintf(g_dir, sizeof g_dir, "%s/tnfuzz-XXXXXX", t && *t && strlen(t) < 40 ? t : "/tmp");
        if (!mkdtemp(g_dir)) {
            perror("fuzz: mkdtemp");
            abort();
        }
        atexit(cleanup);
    }
    return g_dir;
}

const char *fz_path(const char *name) {
    for (int i = 0; i < g_npaths; i++)
        if (!strcmp(g_paths[i].name, name)) return g_paths[i].path;
    if (g_npaths == 16 || strlen(name) >= sizeof g_paths[0].name) abort();
    snprintf(g_paths[g_npaths].name, sizeof g_paths[0].name, "%s", name);
    snprintf(g_paths[g_npaths].path, sizeof g_paths[0].path, "%s/%s", fz_dir(), name);
    return g_paths[g_npaths++].path;
}

const char *fz_write(const char *name, const void *data, size_t len) {
    const char *p = fz_path(name);
    int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0 || (len && tn_write_all(fd, data, len, p)) || close(fd)) {
        perror("fuzz: write");
        abort();
    }
    return p;
}

void fz_quiet(void) { tn_log_set_level((tn_log_level)(TN_LOG_ERROR + 1)); }

unsigned fz_byte(fz_in *in) {
    if (!in->n) return 0;
    in->n--;
    return *in->p++;
}

char *fz_part(fz_in *in, size_t *len) {
    static const char sep[] = "\n--\n";
    const uint8_t *e = memmem(in->p, in->n, sep, 4);
    size_t n = e ? (size_t)(e - in->p) : in->n;
    char *s = malloc(n + 1);
    if (!s) abort();
    memcpy(s, in->p, n);
    s[n] = 0;
    in->p += e ? n + 4 : n;
    in->n -= e ? n + 4 : n;
    if (len) *len = n;
    return s;
}
