#include "progress.h"

#define QUIET_MS 1000
#define EVERY_MS 200

static hearth_progress_fn *report;
static void *report_arg;

void hearth_set_progress(hearth_progress_fn *fn, void *arg)
{
	report = fn;
	report_arg = arg;
}

void progress_begin(struct progress *p, const char *what, uint64_t total)
{
	*p = (struct progress){ .what = what, .total = total, .started_ms = now_ms() };
}

void progress_add(struct progress *p, uint64_t n)
{
	p->done += n;
	if (!report)
		return;
	int64_t now = now_ms();
	if (now - p->started_ms < QUIET_MS || now - p->last_ms < EVERY_MS)
		return;
	p->last_ms = now;
	report(p->what, p->done, p->total > p->done ? p->total : p->done, report_arg);
}

void progress_end(struct progress *p)
{
	/* Only work that was shown gets its end shown. */
	if (report && p->last_ms)
		report(p->what, p->done, p->done, report_arg);
}
