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

/* The current slot at time t (start <= t) of a parsed schedule, and its
 * moment. Slot i+1 comes one cadence after slot i: the cadence of the phase
 * slot i's moment falls in (the phase's own `cadence`, else the schedule's),
 * so a phase's moments go on from the last one before it and are the same
 * after a restart; with one cadence, slot i is at start + i * cadence. */
int64_t v_comp_slot_at(json_t *spec, int64_t t, int64_t *moment);

/* The (model, dataset) pair of slot `slot` of competition `id`: drawn by
 * weight (model weight x dataset weight) among the allowed pairs from a seed
 * of (id, slot), or with `draw: rotate` the allowed pairs in turn (models in
 * file order, each with its datasets in file order; slot i takes pair i mod
 * n). The names point into spec. -1 with the error set when no allowed
 * pair has a weight. */
int v_comp_draw_pair(json_t *spec, int64_t id, int64_t slot, const char **model, const char **dataset);

/* One scheduler tick: creates the task of the current slot when the
 * competition is running, inside its window, the slot has none yet and the
 * phase's concurrency allows. -1 only when the store fails. */
int v_comp_tick(vstate *v);

/* POST /v1/admin/competition/{load,show,pause,resume,end} (api.c). */
void v_comp_admin(vstate *v, tn_http_req *r, const char *what, json_t *body);

#endif
