/* hearth logs: the console log (or the hypervisor's), -n lines, -f. */
#include <string.h>

#include "cli.h"

static const struct option logs_options[] = {
	{ "lines", required_argument, NULL, 'n' },
	{ "follow", no_argument, NULL, 'f' },
	{ "hypervisor", no_argument, NULL, 'H' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

int cmd_logs(int argc, char **argv)
{
	uint64_t lines = 0;
	bool follow = false, hypervisor = false;
	int c;
	while ((c = getopt_long(argc, argv, "n:fh", logs_options, NULL)) != -1) {
		switch (c) {
		case 'n':
			if (parse_u64(optarg, 0, UINT32_MAX, &lines) < 0)
				return cli_usage_error("logs: -n: not a line count (%s)", optarg);
			break;
		case 'f':
			follow = true;
			break;
		case 'H':
			hypervisor = true;
			break;
		case 'h':
			puts("usage: hearth logs NAME [-n N] [-f] [--hypervisor]\n\nPrint the guest's console log; -n "
			     "the last N lines, -f keep following\nwhile the guest runs, --hypervisor the VMM's own log.");
			return 0;
		default:
			return cli_bad_option("logs");
		}
	}
	if (optind + 1 != argc)
		return cli_usage_error("logs: expected one guest NAME");
	fflush(stdout);
	struct hearth_error *err = NULL;
	if (hearth_guest_logs(argv[optind], lines, follow, hypervisor, STDOUT_FILENO, &err) < 0)
		return cli_fail(err);
	return 0;
}
