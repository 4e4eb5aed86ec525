/* clock.h - the one clock: seconds for measuring, milliseconds for records.
 *
 * Durations (timeouts, speeds, deadlines) use the monotonic clock, which no
 * one can set back; what is stored or sent (created_ms, deadlines in the
 * protocol, log stamps) uses the wall clock, which other machines share.
 */
#ifndef TN_BASE_CLOCK_H
#define TN_BASE_CLOCK_H

#include <stdint.h>

/* Seconds from an arbitrary origin, monotonic. */
double tn_now(void);
/* Seconds since the Unix epoch (wall clock). */
double tn_wall_now(void);
/* Milliseconds since the Unix epoch (wall clock), exact integer arithmetic. */
int64_t tn_wall_ms(void);

#endif
