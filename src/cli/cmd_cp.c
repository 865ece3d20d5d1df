/* hearth cp: files and trees between the host and a running guest. */
#include <string.h>

#include "cli.h"

static const struct option cp_options[] = {
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

/* NAME of "NAME:PATH", or NULL when SPEC names a host path. */
static char *guest_of(const char *spec)
{
	const char *colon = strchr(spec, ':');
	if (!colon || colon == spec || memchr(spec, '/', (size_t)(colon - spec)))
		return NULL;
	char *name = cli_asprintf("%.*s", (int)(colon - spec), spec);
	if (hearth_name_valid(name))
		return name;
	free(name);
	return NULL;
}

int cmd_cp(struct hearth_ctx *ctx, int argc, char **argv)
{
	int c;
	while ((c = getopt_long(argc, argv, "h", cp_options, NULL)) != -1) {
		if (c != 'h')
			return cli_bad_option("cp");
		puts("usage: hearth cp NAME:SRC DST | hearth cp SRC NAME:DST\n\nCopy a file or a tree (links as links, "
		     "modes, owners when root) between\nthe host and running guest NAME; guest paths are absolute. "
		     "Into DST when it\nis a directory, else as DST.");
		return 0;
	}
	if (argc - optind != 2)
		return cli_usage_error("cp: expected SRC and DST, one of them NAME:PATH");
	_cleanup_free_ char *from = guest_of(argv[optind]);
	_cleanup_free_ char *to = guest_of(argv[optind + 1]);
	if (!from == !to)
		return cli_usage_error("cp: exactly one of SRC and DST must be NAME:PATH (%s %s)", argv[optind],
				       argv[optind + 1]);
	struct hearth_error *err = NULL;
	int rc;
	if (from) {
		_cleanup_free_ char *dst = cli_absolute(argv[optind + 1]);
		rc = hearth_guest_copy_out(ctx, from, argv[optind] + strlen(from) + 1, dst, &err);
	} else {
		_cleanup_free_ char *src = cli_absolute(argv[optind]);
		rc = hearth_guest_copy_in(ctx, to, src, argv[optind + 1] + strlen(to) + 1, &err);
	}
	return rc < 0 ? cli_fail(err) : 0;
}
