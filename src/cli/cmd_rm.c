/* hearth rm: remove stopped guests' state (-f stops running ones). */
#include <string.h>

#include "cli.h"

static const struct option rm_options[] = {
	{ "force", no_argument, NULL, 'f' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

int cmd_rm(struct hearth_ctx *ctx, int argc, char **argv)
{
	bool force = false;
	int c;
	while ((c = getopt_long(argc, argv, "fh", rm_options, NULL)) != -1) {
		switch (c) {
		case 'f':
			force = true;
			break;
		case 'h':
			puts("usage: hearth rm NAME... [-f]\n\nRemove guests and all their state (logs, drives, named "
			     "volumes).\n-f stops running guests first.");
			return 0;
		default:
			return cli_bad_option("rm");
		}
	}
	if (optind >= argc)
		return cli_usage_error("rm: expected guest NAMEs");
	int rc = 0;
	for (int i = optind; i < argc; i++) {
		struct hearth_error *err = NULL;
		if (hearth_guest_remove(ctx, argv[i], force, &err) < 0)
			rc = cli_fail(err);
		else
			printf("%s\n", argv[i]);
	}
	return rc;
}
