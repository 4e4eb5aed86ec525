/* miner.h - `tuna miner`: serve task offers, fine-tune, upload (docs/miner.md).
 *
 * The miner serves POST /task_offer, POST /start_training and GET /status
 * (docs/protocol.md), each signed by the validator's key, runs accepted
 * tasks as jobs in a fixed number of slots (each job trains in a child
 * process, `tuna train`), uploads the result to the validator before the
 * deadline, and records every submission in a ledger. All its state lives
 * in the work directory:
 *   WORK_DIR/miner.sqlite      offers, jobs, job events, the ledger
 *   WORK_DIR/profile.json      the measured training speed
 *   WORK_DIR/jobs/<task_id>/   base/ (downloaded model), data.jsonl, out/, train.log
 */
#ifndef TN_MINER_H
#define TN_MINER_H

#include "miner/config.h"

#include <stdio.h>

/* Serves until SIGINT/SIGTERM; unfinished jobs resume at the next start. */
int tn_miner_run(tn_miner_config *cfg);

/* `tuna miner ledger`: prints WORK_DIR's ledger as JSON (an array), CSV, or
 * a table for people. */
typedef enum { TN_LEDGER_TABLE = 0, TN_LEDGER_JSON, TN_LEDGER_CSV } tn_ledger_fmt;
int tn_miner_ledger_print(const char *work_dir, tn_ledger_fmt fmt, FILE *out);

#endif
