/* util.h - shared pieces of the libFuzzer targets (fuzz/fuzz_*.c).
 *
 * Parsers that only read files get the input through a file whose name is
 * made once per process (in a private temporary directory, removed at exit)
 * and rewritten for every input: no directory churn per execution, and a
 * crash report's path is stable. Errors of the parsers are expected (most
 * inputs are malformed); the targets only care that they return.
 */
#ifndef TN_FUZZ_UTIL_H
#define TN_FUZZ_UTIL_H
#include <stddef.h>
#include <stdint.h>

/* The process's scratch directory (created on first use). */
const char *fz_dir(void);
/* fz_dir()/name, a static path per name (up to 16 names per process). */
const char *fz_path(const char *name);
/* Writes data to fz_path(name) (truncating) and returns that path; aborts
 * on an I/O error, which is the harness's fault, not the parser's. */
const char *fz_write(const char *name, const void *data, size_t len);
/* Silences tuna's log (warnings of parsers on every input would flood). */
void fz_quiet(void);
/* Bytes from the front of the input, for choosing a mode. */
typedef struct {
    const uint8_t *p;
    size_t n;
} fz_in;
unsigned fz_byte(fz_in *in);
/* The rest of the input up to the next "\n--\n" (or the end), as a
 * NUL-terminated heap copy (free it); *len gets its length. */
char *fz_part(fz_in *in, size_t *len);

#endif
