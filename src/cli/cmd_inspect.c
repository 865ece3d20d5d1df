/* hearth inspect: the start configuration as JSON, the schema that
 * `hearth run -f` reads back. Secret contents are never printed. */
#include <string.h>

#include "cli.h"

static const struct option inspect_options[] = {
	{ "json", no_argument, NULL, 'j' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

int cmd_inspect(struct hearth_ctx *ctx, int argc, char **argv)
{
	int c;
	while ((c = getopt_long(argc, argv, "h", inspect_options, NULL)) != -1) {
		if (c == 'h') {
			puts("usage: hearth inspect NAME [--json]\n\nPrint the guest's start configuration as JSON, as "
			     "'hearth run -f' takes it.\nSecrets given inline are shown as redacted; those from files "
			     "by path.");
			return 0;
		}
		if (c != 'j')
			return cli_bad_option("inspect");
	}
	if (optind + 1 != argc)
		return cli_usage_error("inspect: expected one guest NAME");
	struct hearth_config *cfg = NULL;
	struct hearth_error *err = NULL;
	if (hearth_guest_config(ctx, argv[optind], &cfg, &err) < 0)
		return cli_fail(err);
	char *json = hearth_config_to_json(cfg, HEARTH_JSON_REDACT_SECRETS);
	puts(json);
	free(json);
	hearth_config_free(cfg);
	return 0;
}
