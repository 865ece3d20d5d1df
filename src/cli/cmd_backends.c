/* hearth backends: every backend, available or not and why, its
 * version and capabilities. */
#include <jansson.h>
#include <string.h>

#include "cli.h"

static const struct option backends_options[] = {
	{ "json", no_argument, NULL, 'j' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

static const struct {
	unsigned cap;
	const char *name;
} cap_names[] = {
	{ HEARTH_CAP_PAUSE_RESUME, "pause_resume" },
	{ HEARTH_CAP_SNAPSHOTS, "snapshots" },
	{ HEARTH_CAP_VSOCK, "vsock" },
	{ HEARTH_CAP_TAP_NETWORKING, "tap_networking" },
	{ HEARTH_CAP_TEMPLATES, "templates" },
};

int cmd_backends(struct hearth_ctx *ctx, int argc, char **argv)
{
	bool json = false;
	int c;
	while ((c = getopt_long(argc, argv, "h", backends_options, NULL)) != -1) {
		if (c == 'h') {
			puts("usage: hearth backends [--json]\n\nList every backend: available or not and why, its "
			     "version,\nits capabilities, and which one 'auto' picks.");
			return 0;
		}
		if (c != 'j')
			return cli_bad_option("backends");
		json = true;
	}
	struct hearth_backend_info *infos;
	size_t n;
	hearth_backends_probe(ctx, &infos, &n);
	const char *chosen = NULL;
	_cleanup_free_ char *why = NULL;
	if (hearth_backend_choose(ctx, "auto", &chosen, &why, NULL) < 0)
		chosen = NULL; /* none available: no default to mark */
	json_t *arr = json_array();
	for (size_t i = 0; i < n; i++) {
		const struct hearth_backend_info *b = &infos[i];
		json_t *caps = json_array();
		char ct[128] = "";
		for (size_t k = 0; k < ARRAY_SIZE(cap_names); k++)
			if (b->caps & cap_names[k].cap) {
				json_array_append_new(caps, json_string(cap_names[k].name));
				size_t len = strlen(ct);
				snprintf(ct + len, sizeof(ct) - len, "%s%s", len ? "," : "", cap_names[k].name);
			}
		bool is_default = chosen && strcmp(chosen, b->name) == 0;
		if (json) {
			json_array_append_new(arr,
					      json_pack("{s:s, s:b, s:s, s:o, s:o, s:b}", "name", b->name, "available",
							b->available, "reason", b->reason ? b->reason : "", "version",
							b->version ? json_string(b->version) : json_null(),
							"capabilities", caps, "default", is_default));
		} else {
			json_decref(caps);
			printf("%-16s %-13s %-22s %s\n  %s\n", b->name, b->available ? "available" : "unavailable",
			       b->version ? b->version : "-", ct[0] ? ct : "-", b->reason ? b->reason : "");
		}
	}
	if (json) {
		char *s = json_dumps(arr, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		puts(s);
		free(s);
	} else {
		printf("%s\n", why ? why : "auto: no backend available");
	}
	json_decref(arr);
	hearth_backend_infos_free(infos, n);
	return 0;
}
