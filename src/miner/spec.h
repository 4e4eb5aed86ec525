/* spec.h - checks of /start_training bodies (spec.c; the miner's internals). */
#ifndef TN_MINER_SPEC_H
#define TN_MINER_SPEC_H

#include <jansson.h>
#include <stdint.h>

/* dataset_type keys and the tuna train flags they become */
#define TN_N_DATASET_TYPE_FLAGS 12
extern const char *const tn_dataset_type_flags[TN_N_DATASET_TYPE_FLAGS][2];
/* A plain file name: no '/', not "." or "..", nothing odd. */
int tn_miner_safe_name(const char *name);
/* 0 when body is a well-formed /start_training request at now_ms, else -1
 * with the error naming the field. */
int tn_start_validate(const json_t *body, int64_t now_ms);

#endif
