/* job_steps.h - the work of each job state (job_fetch.c, job_train.c,
 * job_upload.c), called by the state machine in jobs.c. Each returns 1 when
 * interrupted by a stop (state unchanged), 0 done, -1 failed (error set).
 */
#ifndef TN_MINER_JOB_STEPS_H
#define TN_MINER_JOB_STEPS_H

#include "miner/miner_internal.h"

/* job_fetch.c: downloads (model files, dataset) with hash checks */
int tn_job_fetch(tn_job *j);

/* job_train.c: decides what to upload (strategy), trains when needed; on
 * success row.src_dir is set and the next state is uploading. */
int tn_job_train(tn_job *j);

/* job_upload.c: 0 when the validator answered (accepted or refused: both end
 * the job, which tn_job_upload has moved to submitted or failed). */
int tn_job_upload(tn_job *j);
/* {"model_type", "hidden_size", ...} of a model directory, or NULL */
json_t *tn_job_shape(const char *model_dir);

#endif
