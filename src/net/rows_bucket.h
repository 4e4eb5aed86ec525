/* rows_bucket.h - a dataset's size as a task offer states it: a range, not
 * the exact row count.
 *
 * The exact count helps a miner find the public dataset a task was drawn
 * from (docs/anticheat.md, "Test-set hunting"); a range is all the accept
 * policy needs. Ranges follow the 1-2-5 series (0-10, 10-20, 20-50, 50-100,
 * 100-200, ..., 1k-2k, 2k-5k, 5k-10k, ..., 1M-2M, ...): LO inclusive, HI
 * exclusive, numbers written with k (10^3), M (10^6) or G (10^9) when they
 * divide evenly. The reader accepts any "LO-HI" in that notation with
 * 0 <= LO < HI, so other validators may choose other ranges.
 */
#ifndef TN_NET_ROWS_BUCKET_H
#define TN_NET_ROWS_BUCKET_H

#include <stddef.h>
#include <stdint.h>

/* The label of the range holding n (n >= 0) into buf ("2k-5k"). */
void tn_rows_bucket(int64_t n, char *buf, size_t cap);
/* Reads a label; -1 with an error naming `what` when malformed. */
int tn_rows_bucket_parse(const char *label, const char *what, int64_t *lo, int64_t *hi);

#endif
