/* hearth snapshot create NAME DIR | hearth snapshot restore DIR [--name N]. */
#include <string.h>
#include <unistd.h>

#include "cli.h"

static const char snapshot_help[] =
	"usage: hearth snapshot create NAME DIR\n"
	"       hearth snapshot restore DIR [--name NEW] [--jailer PATH] [--jail-uid N] [--jail-gid N]\n"
	"\n"
	"create writes a full snapshot of a running guest into DIR (made, 0700):\n"
	"VM state, memory, disk copies and hearth.json. The guest pauses for it\n"
	"and runs on. restore starts a new guest from DIR where the snapshot left\n"
	"off, with the snapshot's address on a new TAP. (firecracker backend)\n";

static const struct option restore_options[] = {
	{ "name", required_argument, NULL, 'n' },     { "jailer", required_argument, NULL, 'j' },
	{ "jail-uid", required_argument, NULL, 'u' }, { "jail-gid", required_argument, NULL, 'g' },
	{ "help", no_argument, NULL, 'h' },	      { NULL, 0, NULL, 0 },
};

static int restore(struct hearth_ctx *ctx, int argc, char **argv)
{
	struct hearth_run_options opts = { .timeout_s = 60 };
	const char *name = NULL;
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", restore_options, NULL)) != -1) {
		uint64_t n;
		switch (c) {
		case 'n':
			name = optarg;
			break;
		case 'j':
			opts.jailer = optarg;
			break;
		case 'u':
		case 'g':
			if (cli_parse_uint(optarg, 0, 4294967294u, &n) < 0)
				return cli_usage_error("%s: not a numeric id (%s)", c == 'u' ? "jail-uid" : "jail-gid",
						       optarg);
			*(c == 'u' ? &opts.jail_uid : &opts.jail_gid) = (unsigned)n;
			break;
		case 'h':
			fputs(snapshot_help, stdout);
			return 0;
		default:
			return cli_bad_option("snapshot restore");
		}
	}
	if (optind + 1 != argc)
		return cli_usage_error("snapshot restore: expected one snapshot DIR");
	_cleanup_free_ char *dir = cli_absolute(argv[optind]);
	struct hearth_error *err = NULL;
	char *got = NULL;
	if (hearth_snapshot_restore(ctx, dir, name, &opts, &got, &err) < 0)
		return cli_fail(err);
	printf("%s\n", got);
	free(got);
	return 0;
}

int cmd_snapshot(struct hearth_ctx *ctx, int argc, char **argv)
{
	if (argc < 2 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
		fputs(snapshot_help, argc < 2 ? stderr : stdout);
		return argc < 2 ? EXIT_USAGE : 0;
	}
	if (strcmp(argv[1], "restore") == 0)
		return restore(ctx, argc - 1, argv + 1);
	if (strcmp(argv[1], "create") != 0)
		return cli_usage_error("snapshot: want create or restore (%s)", argv[1]);
	if (argc != 4)
		return cli_usage_error("snapshot create: expected NAME DIR");
	_cleanup_free_ char *dir = cli_absolute(argv[3]);
	struct hearth_error *err = NULL;
	if (hearth_guest_snapshot(ctx, argv[2], dir, &err) < 0)
		return cli_fail(err);
	printf("%s\n", dir);
	return 0;
}
