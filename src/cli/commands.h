/* commands.h - the subcommand table. Each subcommand lives in src/cli/cmd_<name>.c
 * and exposes `int cmd_<name>(int argc, char **argv)` (argv[0] is the
 * subcommand's name); it returns the process exit status, prints --help, and
 * reports errors through tn_errmsg() as "tuna <name>: <message>". */
#ifndef TN_COMMANDS_H
#define TN_COMMANDS_H

int cmd_admin(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_arena(int argc, char **argv);
int cmd_check(int argc, char **argv);
int cmd_convert(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_generate(int argc, char **argv);
int cmd_serve(int argc, char **argv);
int cmd_eval_submission(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_keygen(int argc, char **argv);
int cmd_miner(int argc, char **argv);
int cmd_pretrain(int argc, char **argv);
int cmd_selfcheck(int argc, char **argv);
int cmd_tokenize(int argc, char **argv);
int cmd_train(int argc, char **argv);
int cmd_validator(int argc, char **argv);
int cmd_worker(int argc, char **argv);

/* Helpers shared by the subcommands (src/cli/cli_util.c). */
int cli_wants_help(int argc, char **argv);
/* Prints "tuna <cmd>: <current error>" to stderr and returns 1. */
int cli_fail(const char *cmd);
/* The same for a bad command line (a flag's value, base/num.h): returns 2,
 * the usage-error exit status. */
int cli_usage_fail(const char *cmd);

#endif
