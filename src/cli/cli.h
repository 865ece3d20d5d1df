/* Shared by the CLI's commands: error printing and exit codes. */
#ifndef HEARTH_CLI_H
#define HEARTH_CLI_H

#include <getopt.h>
#include <stdio.h>

#include <stdint.h>
#include <stdlib.h>

#include "hearth/hearth.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

static inline void cli_freep(void *p)
{
	free(*(void **)p);
}
#define _cleanup_free_ __attribute__((cleanup(cli_freep)))
#define EXIT_USAGE 2

/* Prints "hearth: error: MESSAGE" once, frees ERR, returns the exit code
 * its kind calls for (2 for invalid input, else 1). */
int cli_fail(struct hearth_error *err);

/* Prints "hearth: error: ..." and returns EXIT_USAGE. */
int cli_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* getopt_long's own complaint was printed; say how to get help. */
int cli_bad_option(const char *cmd);

/* A formatted string; exits on out of memory. */
char *cli_asprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
char *cli_vasprintf(const char *fmt, va_list ap);

/* A decimal number within [MIN, MAX]; -1 on junk. */
int cli_parse_uint(const char *s, uint64_t min, uint64_t max, uint64_t *ret) __attribute__((warn_unused_result));

/* PATH made absolute against the working directory ("./x" as "x"):
 * libhearth takes absolute paths only. Non-existent paths stay as given,
 * made absolute, so a validation error names what the user meant. */
char *cli_absolute(const char *path);

/* --tls-verify=true|false: false makes every registry insecure for this
 * run (HEARTH_INSECURE_REGISTRIES=*). -1 after saying what is wrong. */
int cli_tls_verify(struct hearth_ctx *ctx, const char *value);

int cmd_build(struct hearth_ctx *ctx, int argc, char **argv);
int cmd_run(struct hearth_ctx *ctx, int argc, char **argv);
/* hearth run's parsing and start; with MAKE_TEMPLATE, the guest it
 * describes becomes that template instead (hearth template create). */
int cli_run(struct hearth_ctx *ctx, int argc, char **argv, const char *make_template);
int cmd_template(struct hearth_ctx *ctx, int argc, char **argv);
int cmd_clone(struct hearth_ctx *ctx, int argc, char **argv);
int cmd_ps(struct hearth_ctx *ctx, int argc, char **argv);
int cmd_inspect(struct hearth_ctx *ctx, int argc, char **argv);
int cmd_status(struct hearth_ctx *ctx, int argc, char **argv);
int cmd_logs(struct hearth_ctx *ctx, int argc, char **argv);
int cmd_stop(struct hearth_ctx *ctx, int argc, char **argv);
int cmd_attach(struct hearth_ctx *ctx, int argc, char **argv);
int cmd_cp(struct hearth_ctx *ctx, int argc, char **argv);
int cmd_exec(struct hearth_ctx *ctx, int argc, char **argv);
int cmd_ping(struct hearth_ctx *ctx, int argc, char **argv);
int cmd_pause(struct hearth_ctx *ctx, int argc, char **argv);
int cmd_resume(struct hearth_ctx *ctx, int argc, char **argv);
int cmd_rm(struct hearth_ctx *ctx, int argc, char **argv);
int cmd_backends(struct hearth_ctx *ctx, int argc, char **argv);
int cmd_version(struct hearth_ctx *ctx, int argc, char **argv);
int cmd_network(struct hearth_ctx *ctx, int argc, char **argv);
int cmd_snapshot(struct hearth_ctx *ctx, int argc, char **argv);
int cmd_image(struct hearth_ctx *ctx, int argc, char **argv);
int cmd_start(struct hearth_ctx *ctx, int argc, char **argv);

#endif
