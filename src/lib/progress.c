#include "progress.h"

#include "ctx.h"

#define QUIET_MS 1000
#define EVERY_MS 200

void progress_begin(struct progress *p, const struct hearth_ctx *ctx, const char *what, uint64_t total)
{
	*p = (struct progress){ .ctx = ctx, .what = what, .total = total, .started_ms = now_ms() };
}

void progress_add(struct progress *p, uint64_t n)
{
	p->done += n;
	if (!p->ctx || !p->ctx->progress)
		return;
	int64_t now = now_ms();
	if (now - p->started_ms < QUIET_MS || now - p->last_ms < EVERY_MS)
		return;
	p->last_ms = now;
	p->ctx->progress(p->what, p->done, p->total > p->done ? p->total : p->done, p->ctx->progress_arg);
}

void progress_end(struct progress *p)
{
	/* Only work that was shown gets its end shown. */
	if (p->ctx && p->ctx->progress && p->last_ms)
		p->ctx->progress(p->what, p->done, p->done, p->ctx->progress_arg);
}
