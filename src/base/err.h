/* err.h - error reporting for the whole library.
 *
 * Convention (as in SQLite/Redis): a function that can fail returns int, 0 on
 * success and -1 on failure, and leaves a human-readable message in a
 * thread-local buffer. The caller may add context in front of the message with
 * tn_err_prefix() ("loading model dir/: " + "config.json: field ...") and
 * propagate -1. The outermost caller (the CLI) prints tn_errmsg().
 *
 * Messages name the file, the field or tensor, and the line where known.
 */
#ifndef TN_ERR_H
#define TN_ERR_H

#include <stdarg.h>

#if defined(__GNUC__)
#define TN_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define TN_PRINTF(a, b)
#endif

/* Sets the error message and returns -1, so that `return tn_fail(...)` reads well. */
int tn_fail(const char *fmt, ...) TN_PRINTF(1, 2);
/* Like tn_fail but appends ": strerror(errno)". */
int tn_fail_errno(const char *fmt, ...) TN_PRINTF(1, 2);
/* Puts "<prefix>: " in front of the current message. Returns -1. */
int tn_err_prefix(const char *fmt, ...) TN_PRINTF(1, 2);
/* The current message ("" when none). Valid until the next tn_fail on this thread. */
const char *tn_errmsg(void);
void tn_err_clear(void);

#endif
