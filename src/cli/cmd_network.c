/* hearth network [ls|rm]: the bridge that bridged guests share. */
#include <string.h>

#include "cli.h"

static const char network_help[] = "usage: hearth network [ls|rm]\n"
				   "\n"
				   "  ls   show the bridge: name, subnet, up or absent (the default)\n"
				   "  rm   remove the bridge and its NAT rule (no guest may be on it)\n"
				   "\n"
				   "The bridge is $HEARTH_BRIDGE (hearth0) with $HEARTH_BRIDGE_CIDR\n"
				   "(10.89.0.0/24); HEARTH_NAT=1 masquerades it out of the default route.\n";

int cmd_network(struct hearth_ctx *ctx, int argc, char **argv)
{
	const char *verb = argc > 1 ? argv[1] : "ls";
	struct hearth_error *err = NULL;
	if (strcmp(verb, "-h") == 0 || strcmp(verb, "--help") == 0) {
		fputs(network_help, stdout);
		return 0;
	}
	if (argc > 2)
		return cli_usage_error("network: unexpected argument '%s'", argv[2]);
	if (strcmp(verb, "ls") == 0) {
		char *d = hearth_network_describe(ctx, &err);
		if (!d)
			return cli_fail(err);
		puts(d);
		free(d);
		return 0;
	}
	if (strcmp(verb, "rm") == 0)
		return hearth_network_remove(ctx, &err) < 0 ? cli_fail(err) : 0;
	return cli_usage_error("network: want ls or rm (%s)", verb);
}
