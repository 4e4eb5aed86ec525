/* server.h - the miner's HTTP handlers: /task_offer, /start_training,
 * /status (server.c; the miner's internals).
 */
#ifndef TN_MINER_SERVER_H
#define TN_MINER_SERVER_H

#include "miner/miner_internal.h"

int tn_miner_serve(tn_miner *m, const char *bind, int port);

#endif
