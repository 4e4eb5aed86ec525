/* competition.h - a competition that runs itself: the schedule file
 * (docs/validator.md, "Competition schedule"), its admin calls and the
 * scheduler tick that creates its tasks.
 *
 * The schedule is kept in the settings table: `competition` holds the parsed
 * schedule as JSON (its settings version is the competition's id) and
 * `competition.state` says running, paused or ended; a state set before the
 * schedule was loaded (an older settings version) belongs to the schedule
 * before, so loading is a single write. Each task the schedule
 * creates is recorded as a slot (store.h tn_store_task_create_in_slot), slot
 * i being the moment start + i * cadence: the slot's primary key makes a
 * second task for the same moment impossible, so a restarted validator (or
 * a second one on the same store) goes on without duplicates.
 */
#ifndef TN_V_COMPETITION_H
#define TN_V_COMPETITION_H

#include "validator/vstate.h"

#include <jansson.h>

/* Parses schedule file text (`label` names it in messages): the schedule as
 * JSON, or NULL with the error set ("LABEL:LINE: KEY: ..."). Catalog names
 * are not checked here (v_comp_check_catalog). `scratch` is a file the text
 * is written to for libyaml. */
json_t *v_comp_parse(const char *label, const char *text, const char *scratch);

/* The task time limit of the table (docs/validator.md) for a model of
 * `params` parameters and a dataset of `rows` rows, in seconds, before a
 * phase's scale and caps. */
double v_comp_table_limit_s(double params, int64_t rows);

/* One scheduler tick: creates the task of the current slot when the
 * competition is running, inside its window, the slot has none yet and the
 * phase's concurrency allows. -1 only when the store fails. */
int v_comp_tick(vstate *v);

/* POST /v1/admin/competition/{load,show,pause,resume,end} (api.c). */
void v_comp_admin(vstate *v, tn_http_req *r, const char *what, json_t *body);

#endif
