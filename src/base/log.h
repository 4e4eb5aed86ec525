/* log.h - leveled logging to stderr. */
#ifndef TN_LOG_H
#define TN_LOG_H

#include "base/err.h"

typedef enum { TN_LOG_DEBUG = 0, TN_LOG_INFO = 1, TN_LOG_WARN = 2, TN_LOG_ERROR = 3 } tn_log_level;

void tn_log_set_level(tn_log_level lvl);
tn_log_level tn_log_get_level(void);
void tn_log(tn_log_level lvl, const char *fmt, ...) TN_PRINTF(2, 3);
#define tn_debug(...) tn_log(TN_LOG_DEBUG, __VA_ARGS__)
#define tn_info(...) tn_log(TN_LOG_INFO, __VA_ARGS__)
#define tn_warn(...) tn_log(TN_LOG_WARN, __VA_ARGS__)


#endif
