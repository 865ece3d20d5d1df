/* hearth start: stopped guests up again from their own state. */
#include <string.h>

#include "cli.h"

enum { OPT_NO_WAIT = 256, OPT_TIMEOUT };

static const struct option start_options[] = {
	{ "no-wait", no_argument, NULL, OPT_NO_WAIT },
	{ "timeout", required_argument, NULL, OPT_TIMEOUT },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

int cmd_start(struct hearth_ctx *ctx, int argc, char **argv)
{
	struct hearth_run_options opts = { .timeout_s = 60, .wait = true };
	uint64_t n;
	int c;
	while ((c = getopt_long(argc, argv, "h", start_options, NULL)) != -1) {
		switch (c) {
		case OPT_NO_WAIT:
			opts.wait = false;
			break;
		case OPT_TIMEOUT:
			if (cli_parse_uint(optarg, 1, 3600, &n) < 0)
				return cli_usage_error("timeout: want 1..3600 seconds (%s)", optarg);
			opts.timeout_s = (int)n;
			break;
		case 'h':
			puts("usage: hearth start [--no-wait] [--timeout S] NAME...\n\nStart stopped guests again with "
			     "their start configuration, name, ports and address.\nA persistent guest (--rootfs-mode "
			     "persistent) keeps its disk; an ephemeral one\nstarts from its rootfs as it was.");
			return 0;
		default:
			return cli_bad_option("start");
		}
	}
	if (optind >= argc)
		return cli_usage_error("start: expected guest NAMEs");
	int rc = 0;
	for (int i = optind; i < argc; i++) {
		struct hearth_error *err = NULL;
		if (hearth_guest_start(ctx, argv[i], &opts, &err) < 0)
			rc = cli_fail(err);
		else
			printf("%s\n", argv[i]);
	}
	return rc;
}
