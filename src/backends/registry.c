/* Every backend hearth knows, best first: `auto` takes the first one
 * available. Backends that depend on an optional library sit behind
 * #if HEARTH_HAVE_X. */
#include <string.h>

#include "backend.h"

static const struct hearth_backend_ops *const backends[] = {
	&qemu_backend,
	&firecracker_backend,
	&docker_backend,
	&microvm_nix_backend,
	NULL,
};

const struct hearth_backend_ops *backend_find(const char *name)
{
	for (size_t i = 0; backends[i]; i++)
		if (strcmp(backends[i]->name, name) == 0)
			return backends[i];
	return NULL;
}

void hearth_backends_probe(struct hearth_backend_info **ret, size_t *ret_n)
{
	size_t n = 0;
	while (backends[n])
		n++;
	struct hearth_backend_info *infos = xcalloc(n, sizeof(*infos));
	for (size_t i = 0; i < n; i++) {
		infos[i].name = backends[i]->name;
		infos[i].caps = backends[i]->caps;
		backends[i]->probe(&infos[i], true);
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

int hearth_backend_choose(const char *want, const char **ret_name, char **ret_why, struct hearth_error **err)
{
	if (want && strcmp(want, "auto") != 0) {
		const struct hearth_backend_ops *ops = backend_find(want);
		if (!ops)
			return fail_invalid(err, "backend: unknown backend (%s)", want);
		struct hearth_backend_info info = { .name = ops->name };
		ops->probe(&info, false);
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
	for (size_t i = 0; backends[i]; i++) {
		if (backends[i]->needs_runner)
			continue;
		struct hearth_backend_info info = { .name = backends[i]->name };
		backends[i]->probe(&info, false);
		bool ok = info.available;
		if (ok) {
			*ret_name = backends[i]->name;
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
