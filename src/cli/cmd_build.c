/* hearth build: build a flake's guest with nix and say what it made. */
#include <string.h>

#include "cli.h"

static const struct option build_options[] = {
	{ "flake", required_argument, NULL, 'f' },
	{ "profile", required_argument, NULL, 'p' },
	{ "json", no_argument, NULL, 'j' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

static const char build_help[] = "usage: hearth build --flake REF [--profile NAME] [--json]\n"
				 "\n"
				 "Build packages.<system>.<NAME> (default: default) of the flake REF with\n"
				 "`nix build`, and print its output path, or with --json the pieces of a\n"
				 "start configuration it holds: flake_ref, profile, revision_hash,\n"
				 "kernel_path, initrd_path, rootfs_path, runner_dir, out_path.\n";

int cmd_build(struct hearth_ctx *ctx, int argc, char **argv)
{
	const char *flake = NULL, *profile = NULL;
	bool json = false;
	int c;
	while ((c = getopt_long(argc, argv, "h", build_options, NULL)) != -1) {
		switch (c) {
		case 'f':
			flake = optarg;
			break;
		case 'p':
			profile = optarg;
			break;
		case 'j':
			json = true;
			break;
		case 'h':
			fputs(build_help, stdout);
			return 0;
		default:
			return cli_bad_option("build");
		}
	}
	if (optind < argc)
		return cli_usage_error("build: unexpected argument '%s'", argv[optind]);
	if (!flake)
		return cli_usage_error("flake_ref: required (--flake REF)");
	struct hearth_build *b = NULL;
	struct hearth_error *err = NULL;
	if (hearth_flake_build(ctx, flake, profile, &b, &err) < 0)
		return cli_fail(err);
	if (b->unchanged)
		fprintf(stderr, "hearth: %s#%s unchanged since the last build\n", b->flake_ref, b->profile);
	if (json) {
		char *s = hearth_build_to_json(b);
		puts(s);
		free(s);
	} else {
		puts(b->out_path);
	}
	hearth_build_free(b);
	return 0;
}
