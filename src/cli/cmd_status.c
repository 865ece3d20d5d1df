/* hearth status: one guest's status, reason and exit code. */
#include <string.h>

#include "cli.h"

static const struct option status_options[] = {
	{ "json", no_argument, NULL, 'j' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

int cmd_status(struct hearth_ctx *ctx, int argc, char **argv)
{
	bool json = false;
	int c;
	while ((c = getopt_long(argc, argv, "h", status_options, NULL)) != -1) {
		if (c == 'h') {
			puts("usage: hearth status NAME [--json]\n\nShow the guest's status: starting, running, paused, "
			     "stopped or failed,\nwith the reason in plain words (--json: also the workload's exit code).");
			return 0;
		}
		if (c != 'j')
			return cli_bad_option("status");
		json = true;
	}
	if (optind + 1 != argc)
		return cli_usage_error("status: expected one guest NAME");
	struct hearth_guest *r = NULL;
	struct hearth_error *err = NULL;
	if (hearth_guest_get(ctx, argv[optind], &r, &err) < 0)
		return cli_fail(err);
	if (json) {
		char *text = hearth_guest_to_json(r, NULL, HEARTH_GUEST_JSON_STATUS);
		puts(text);
		free(text);
	} else {
		/* A stopped guest's reason says it all ("stopped by request",
		 * "exited on its own with code 3"); others name their state. */
		if (r->status == HEARTH_STATUS_STOPPED && r->reason)
			printf("%s\n", r->reason);
		else if (r->reason)
			printf("%s: %s\n", hearth_status_name(r->status), r->reason);
		else
			printf("%s\n", hearth_status_name(r->status));
	}
	hearth_guest_free(r);
	return 0;
}
