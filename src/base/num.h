/* num.h - checked parsing of numbers written as text (command-line flags).
 *
 * Every subcommand parses its numeric flags here, so that `--seq-len abc` is
 * refused the same way everywhere. Each function reads the WHOLE of `s`:
 * no empty string, no leading or trailing space, no trailing junk ("12x"),
 * nothing that overflows its type (ERANGE is checked, never wrapped or
 * clamped), no NaN or infinity. On success it stores the value in *out and
 * returns 0; on failure it leaves *out alone, returns -1 and sets the error
 * (base/err.h) to a message that names `what` (the flag) and quotes the text:
 *
 *   --seq-len: "abc" is not an integer in [2, 1048576]
 *   --lr: "20" is not a number in [1e-12, 10]
 *   --temperature: "inf" is not a finite number
 *
 * Ranges are inclusive. Integers are decimal, with an optional sign (a '-'
 * only where lo allows it); unsigned 64-bit values (seeds) may also be
 * written in hex as 0x..., never in octal (a leading 0 is decimal).
 */
#ifndef TN_NUM_H
#define TN_NUM_H

#include <stddef.h>
#include <stdint.h>

int tn_parse_int(const char *what, const char *s, int lo, int hi, int *out);
int tn_parse_i64(const char *what, const char *s, int64_t lo, int64_t hi, int64_t *out);
int tn_parse_u64(const char *what, const char *s, uint64_t lo, uint64_t hi, uint64_t *out);
/* A count or a size in some unit (rows, megabytes): an unsigned decimal integer. */
int tn_parse_size(const char *what, const char *s, size_t lo, size_t hi, size_t *out);

/* A finite decimal number (strtod's syntax: 2e-4, .5, 0x1p-3). With lo = -INFINITY
 * and hi = INFINITY any finite value is accepted. */
int tn_parse_double(const char *what, const char *s, double lo, double hi, double *out);
/* As tn_parse_double, for a float: a value beyond FLT_MAX counts as infinite. */
int tn_parse_float(const char *what, const char *s, float lo, float hi, float *out);

/* A positive duration in seconds: "90", "90s", "15m", "1.5h" (a number and
 * an optional unit s, m or h), at most max_s seconds. */
int tn_parse_duration(const char *what, const char *s, double max_s, double *seconds);

/* "HOST:PORT" or "[V6]:PORT" (the port after the last colon, 0..65535; 0 =
 * any free port). The host, without brackets, goes to host[cap]. */
int tn_parse_host_port(const char *what, const char *s, char *host, size_t cap, int *port);

#endif
