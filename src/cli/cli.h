/* Shared by the CLI's commands: error printing and exit codes. */
#ifndef HEARTH_CLI_H
#define HEARTH_CLI_H

#include <getopt.h>
#include <stdio.h>

#include "hearth/hearth.h"
#include "lib/util.h"

#define EXIT_USAGE 2

/* Prints "hearth: error: MESSAGE" once, frees ERR, returns the exit code
 * its kind calls for (2 for invalid input, else 1). */
int cli_fail(struct hearth_error *err);

/* Prints "hearth: error: ..." and returns EXIT_USAGE. */
int cli_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* getopt_long's own complaint was printed; say how to get help. */
int cli_bad_option(const char *cmd);

int cmd_build(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_ps(int argc, char **argv);
int cmd_inspect(int argc, char **argv);
int cmd_status(int argc, char **argv);
int cmd_logs(int argc, char **argv);
int cmd_stop(int argc, char **argv);
int cmd_ping(int argc, char **argv);
int cmd_pause(int argc, char **argv);
int cmd_resume(int argc, char **argv);
int cmd_rm(int argc, char **argv);
int cmd_backends(int argc, char **argv);
int cmd_version(int argc, char **argv);
int cmd_network(int argc, char **argv);
int cmd_snapshot(int argc, char **argv);

#endif
