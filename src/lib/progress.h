/* Progress of long work (an image import, a snapshot's copies), reported
 * to the context's progress function: the CLI draws it on a terminal. */
#ifndef HEARTH_PROGRESS_H
#define HEARTH_PROGRESS_H

#include "hearth/context.h"
#include "util.h"

struct progress {
	const struct hearth_ctx *ctx;
	const char *what;
	uint64_t done, total;
	int64_t started_ms, last_ms;
};

/* WHAT (a static string), TOTAL bytes (0: unknown), reported to CTX's
 * progress function (CTX NULL: to none). */
void progress_begin(struct progress *p, const struct hearth_ctx *ctx, const char *what, uint64_t total);
/* N more bytes done; reports at most five times a second, and only once
 * the work has taken a second (short work stays quiet). */
void progress_add(struct progress *p, uint64_t n);
/* The last report, if any was made. */
void progress_end(struct progress *p);

#endif
