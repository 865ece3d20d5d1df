/* The inside of struct hearth_ctx: every file of libhearth reads its
 * settings from here, never from the environment. */
#ifndef HEARTH_CTX_H
#define HEARTH_CTX_H

#include <stdbool.h>
#include <sys/types.h>

#include "hearth/context.h"

struct hearth_ctx {
	char *set[HEARTH_SETTING_COUNT];      /* what the caller set, or NULL */
	char *resolved[HEARTH_SETTING_COUNT]; /* defaults, made once on first use */
	/* Whom files handed to guests must be readable by: the caller, or
	 * the user who ran sudo. */
	bool invoker_sudo;
	uid_t invoker_uid;
	gid_t invoker_gid;
	int log_fd; /* where programs run for the caller write their messages */
	hearth_progress_fn *progress;
	void *progress_arg;
	bool engine_silent; /* a Docker Engine call timed out: later ones fail at once */
};

/* Setting S, its default resolved; NULL where the default is a PATH
 * lookup (the programs) or a probe (ACCEL). */
const char *ctx_get(const struct hearth_ctx *ctx, enum hearth_setting s);

/* Whether S was set by the caller rather than defaulted. */
bool ctx_is_set(const struct hearth_ctx *ctx, enum hearth_setting s);

/* The console log cap in bytes. */
uint64_t ctx_console_log_max(const struct hearth_ctx *ctx);

#endif
