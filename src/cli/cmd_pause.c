/* hearth pause / hearth resume. */
#include <string.h>

#include "cli.h"

static const struct option pause_options[] = {
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

static int pause_or_resume(struct hearth_ctx *ctx, int argc, char **argv, bool pause)
{
	const char *cmd = pause ? "pause" : "resume";
	int c;
	while ((c = getopt_long(argc, argv, "h", pause_options, NULL)) != -1) {
		if (c != 'h')
			return cli_bad_option(cmd);
		printf("usage: hearth %s NAME\n\n%s the guest's vCPUs.\n", cmd, pause ? "Freeze" : "Thaw");
		return 0;
	}
	if (optind + 1 != argc)
		return cli_usage_error("%s: expected one guest NAME", cmd);
	struct hearth_error *err = NULL;
	int rc = pause ? hearth_guest_pause(ctx, argv[optind], &err) : hearth_guest_resume(ctx, argv[optind], &err);
	if (rc < 0)
		return cli_fail(err);
	printf("%s\n", argv[optind]);
	return 0;
}

int cmd_pause(struct hearth_ctx *ctx, int argc, char **argv)
{
	return pause_or_resume(ctx, argc, argv, true);
}

int cmd_resume(struct hearth_ctx *ctx, int argc, char **argv)
{
	return pause_or_resume(ctx, argc, argv, false);
}
