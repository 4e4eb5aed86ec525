/* log.c - leveled logging (see log.h). */
#include "base/log.h"

#include <stdarg.h>
#include <stdio.h>

static tn_log_level g_level = TN_LOG_INFO;

void tn_log_set_level(tn_log_level lvl) { g_level = lvl; }
tn_log_level tn_log_get_level(void) { return g_level; }

void tn_log(tn_log_level lvl, const char *fmt, ...) {
    if (lvl < g_level) return;
    static const char *names[] = {"debug", "info", "warning", "error"};
    char msg[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    /* one fprintf per line so that lines from threads do not interleave */
    if (lvl == TN_LOG_INFO)
        fprintf(stderr, "tuna: %s\n", msg);
    else
        fprintf(stderr, "tuna: %s: %s\n", names[lvl], msg);
}
