/* Which backends this host offers, and the choice `auto` makes. */
#include <string.h>

#include "backends/backend.h"
#include "core.h"

void hearth_backends_probe(struct hearth_ctx *ctx, struct hearth_backend_info **ret, size_t *ret_n)
{
	size_t n = 0;
	while (backend_at(n))
		n++;
	struct hearth_backend_info *infos = xcalloc(n, sizeof(*infos));
	for (size_t i = 0; i < n; i++) {
		infos[i].name = backend_at(i)->name;
		infos[i].caps = backend_at(i)->caps;
		backend_at(i)->probe(ctx, &infos[i], true);
	}
	*ret = infos;
	*ret_n = n;
}

void hearth_backend_infos_free(struct hearth_backend_info *infos, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(infos[i].reason);
		free(infos[i].version);
	}
	free(infos);
}

int hearth_backend_choose(struct hearth_ctx *ctx, const char *want, const char **ret_name, char **ret_why,
			  struct hearth_error **err)
{
	if (want && strcmp(want, "auto") != 0) {
		const struct hearth_backend_ops *ops = backend_find(want);
		if (!ops)
			return fail_invalid(err, "backend: unknown backend (%s)", want);
		struct hearth_backend_info info = { .name = ops->name };
		ops->probe(ctx, &info, false);
		int rc = 0;
		if (!info.available)
			rc = fail_invalid(err, "backend: %s is not available: %s", want, info.reason);
		else
			*ret_name = ops->name;
		if (rc == 0 && ret_why)
			*ret_why = xasprintf("asked for %s: %s", ops->name, info.reason);
		free(info.reason);
		free(info.version);
		return rc;
	}
	struct strbuf tried = { 0 };
	for (size_t i = 0; backend_at(i); i++) {
		if (backend_at(i)->needs_runner || backend_at(i)->explicit_only)
			continue;
		struct hearth_backend_info info = { .name = backend_at(i)->name };
		backend_at(i)->probe(ctx, &info, false);
		bool ok = info.available;
		if (ok) {
			*ret_name = backend_at(i)->name;
			if (ret_why)
				*ret_why = xasprintf("auto chose %s: %s", info.name, info.reason);
		} else {
			strbuf_printf(&tried, "%s%s: %s", tried.len ? "; " : "", info.name, info.reason);
		}
		free(info.reason);
		free(info.version);
		if (ok) {
			strbuf_release(&tried);
			return 0;
		}
	}
	int rc = fail_runtime(err, "backend: none available (%s)", tried.buf ? tried.buf : "none built");
	strbuf_release(&tried);
	return rc;
}

int backend_for(struct hearth_ctx *ctx, const struct hearth_config *cfg, const char *want, const char **ret,
		struct hearth_error **err)
{
	/* A build with a runner runs it, unless a backend was asked for. */
	if ((!want || strcmp(want, "auto") == 0) && cfg->runner_dir)
		for (size_t i = 0; backend_at(i); i++)
			if (backend_at(i)->needs_runner)
				want = backend_at(i)->name;
	return hearth_backend_choose(ctx, want, ret, NULL, err);
}
