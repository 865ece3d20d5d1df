/* hearth stop: ask guests to power off, force them after --timeout. */
#include <string.h>

#include "cli.h"

static const struct option stop_options[] = {
	{ "all", no_argument, NULL, 'a' },
	{ "timeout", required_argument, NULL, 't' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

int cmd_stop(struct hearth_ctx *ctx, int argc, char **argv)
{
	bool all = false;
	uint64_t timeout = 10;
	int c;
	while ((c = getopt_long(argc, argv, "at:h", stop_options, NULL)) != -1) {
		switch (c) {
		case 'a':
			all = true;
			break;
		case 't':
			if (cli_parse_uint(optarg, 0, 3600, &timeout) < 0)
				return cli_usage_error("stop: timeout: must be 0..3600 seconds (%s)", optarg);
			break;
		case 'h':
			puts("usage: hearth stop NAME... | --all [--timeout S]\n\nAsk each guest to power off; after S "
			     "seconds (default 10; 0: at once)\nforce its hypervisor to stop.");
			return 0;
		default:
			return cli_bad_option("stop");
		}
	}
	if (all == (optind < argc))
		return cli_usage_error("stop: give guest names or --all, not both or neither");
	struct hearth_error *err = NULL;
	int rc = 0;
	if (all) {
		struct hearth_guest **recs;
		size_t n;
		if (hearth_guest_list(ctx, &recs, &n, &err) < 0)
			return cli_fail(err);
		for (size_t i = 0; i < n; i++) {
			enum hearth_status s = recs[i]->status;
			if (s != HEARTH_STATUS_STARTING && s != HEARTH_STATUS_RUNNING && s != HEARTH_STATUS_PAUSED)
				continue;
			if (hearth_guest_stop(ctx, recs[i]->name, (int)timeout, &err) < 0)
				rc = cli_fail(err);
			else
				printf("%s\n", recs[i]->name);
		}
		hearth_guests_free(recs, n);
		return rc;
	}
	for (int i = optind; i < argc; i++) {
		if (hearth_guest_stop(ctx, argv[i], (int)timeout, &err) < 0)
			rc = cli_fail(err);
		else
			printf("%s\n", argv[i]);
	}
	return rc;
}
