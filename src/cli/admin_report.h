/* admin_report.h - `tuna admin report`: the participants' report (cmd_admin.c
 * dispatches to it). */
#ifndef TN_CLI_ADMIN_REPORT_H
#define TN_CLI_ADMIN_REPORT_H

#include "net/keys.h"

/* argv[0] is "report"; options --json | --csv, --task ID. Returns the exit
 * status (0, 1 failure, 2 usage). */
int admin_report(const char *url, const tn_keypair *key, int argc, char **argv);

#endif
