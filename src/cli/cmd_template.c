/* hearth template create|ls|rm, and hearth clone. */
#include <string.h>
#include <time.h>

#include "cli.h"
#include "hearth/template.h"

static const char template_help[] =
	"usage: hearth template create NAME --from GUEST\n"
	"       hearth template create NAME [RUN OPTIONS]   (as hearth run takes them)\n"
	"       hearth template ls [--json]\n"
	"       hearth template rm NAME...\n"
	"\n"
	"A template is a guest booted to ready with its workload held, snapshotted;\n"
	"`hearth run --template NAME` starts a guest from it in a fraction of a boot,\n"
	"sharing its memory and disk copy-on-write, with a name, address, clock,\n"
	"entropy, config and secrets of its own. --from snapshots a running guest\n"
	"instead (its processes come along). qemu backend.\n";

static int template_ls(struct hearth_ctx *ctx, int argc, char **argv)
{
	bool json = argc == 2 && strcmp(argv[1], "--json") == 0;
	if (argc > 2 || (argc == 2 && !json))
		return cli_usage_error("template ls: unexpected argument '%s'", argv[1]);
	struct hearth_template *t = NULL;
	size_t n = 0;
	struct hearth_error *err = NULL;
	if (hearth_template_list(ctx, &t, &n, &err) < 0)
		return cli_fail(err);
	if (json)
		printf("[");
	else
		printf("%-24s %-8s %7s %9s %6s  %s\n", "NAME", "BACKEND", "MEMORY", "DISK", "USERS", "CREATED");
	for (size_t i = 0; i < n; i++) {
		char when[32];
		time_t at = (time_t)t[i].created;
		strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", gmtime(&at));
		if (json)
			printf("%s{\"name\": \"%s\", \"backend\": \"%s\", \"memory_mib\": %u, \"bytes\": %llu, "
			       "\"users\": %zu, \"created\": %lld}",
			       i ? ", " : "", t[i].name, t[i].backend, t[i].memory_mib, (unsigned long long)t[i].bytes,
			       t[i].users, (long long)t[i].created);
		else
			printf("%-24s %-8s %6uM %8lluM %6zu  %s\n", t[i].name, t[i].backend, t[i].memory_mib,
			       (unsigned long long)(t[i].bytes >> 20), t[i].users, when);
	}
	if (json)
		printf("]\n");
	hearth_templates_free(t, n);
	return 0;
}

static int template_create(struct hearth_ctx *ctx, int argc, char **argv)
{
	if (argc < 2 || argv[1][0] == '-')
		return cli_usage_error("template create: expected a template NAME first");
	const char *name = argv[1];
	if (argc >= 3 && (strcmp(argv[2], "--from") == 0 || strncmp(argv[2], "--from=", 7) == 0)) {
		const char *from = argv[2][6] == '=' ? argv[2] + 7 : argc >= 4 ? argv[3] : NULL;
		int used = argv[2][6] == '=' ? 3 : 4;
		if (!from || argc != used)
			return cli_usage_error("template create: --from takes one running GUEST and nothing else");
		struct hearth_error *err = NULL;
		if (hearth_template_create(ctx, name, from, NULL, NULL, &err) < 0)
			return cli_fail(err);
		printf("%s\n", name);
		return 0;
	}
	/* The rest is hearth run's, parsed by it: argv[1] stands in for argv[0]. */
	return cli_run(ctx, argc - 1, argv + 1, name);
}

int cmd_template(struct hearth_ctx *ctx, int argc, char **argv)
{
	if (argc < 2 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
		fputs(template_help, argc < 2 ? stderr : stdout);
		return argc < 2 ? EXIT_USAGE : 0;
	}
	if (strcmp(argv[1], "create") == 0)
		return template_create(ctx, argc - 1, argv + 1);
	if (strcmp(argv[1], "ls") == 0 || strcmp(argv[1], "list") == 0)
		return template_ls(ctx, argc - 1, argv + 1);
	if (strcmp(argv[1], "rm") != 0)
		return cli_usage_error("template: want create, ls or rm (%s)", argv[1]);
	if (argc < 3)
		return cli_usage_error("template rm: expected template NAMEs");
	int rc = 0;
	for (int i = 2; i < argc; i++) {
		struct hearth_error *err = NULL;
		if (hearth_template_remove(ctx, argv[i], &err) < 0)
			rc = cli_fail(err);
		else
			printf("%s\n", argv[i]);
	}
	return rc;
}

static const struct option clone_options[] = {
	{ "publish", required_argument, NULL, 'p' },
	{ "no-wait", no_argument, NULL, 'W' },
	{ "timeout", required_argument, NULL, 't' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

int cmd_clone(struct hearth_ctx *ctx, int argc, char **argv)
{
	struct hearth_run_options opts = { .timeout_s = 60, .wait = true };
	struct hearth_config *cfg = hearth_config_new();
	struct hearth_error *err = NULL;
	int rc = 0, c;
	uint64_t n;
	while ((c = getopt_long(argc, argv, "p:h", clone_options, NULL)) != -1) {
		switch (c) {
		case 'p':
			if (hearth_config_add_port(cfg, optarg, &err) < 0)
				goto fail;
			break;
		case 'W':
			opts.wait = false;
			break;
		case 't':
			if (cli_parse_uint(optarg, 1, 86400, &n) < 0) {
				rc = cli_usage_error("timeout: must be 1..86400 seconds (%s)", optarg);
				goto out;
			}
			opts.timeout_s = (int)n;
			break;
		case 'h':
			puts("usage: hearth clone GUEST [NEWNAME] [-p SPEC]... [--no-wait] [--timeout S]\n\n"
			     "Clone a running guest: it pauses for a snapshot and runs on; the clone starts\n"
			     "from that instant with its processes and memory, and a name, address, clock\n"
			     "and entropy of its own. -p publishes the clone's own ports. qemu backend.");
			goto out;
		default:
			rc = cli_bad_option("clone");
			goto out;
		}
	}
	if (optind >= argc || argc - optind > 2) {
		rc = cli_usage_error("clone: expected GUEST [NEWNAME]");
		goto out;
	}
	if (argc - optind == 2)
		cfg->name = cli_asprintf("%s", argv[optind + 1]);
	char *name = NULL;
	if (hearth_guest_clone(ctx, argv[optind], cfg, &opts, &name, &err) < 0)
		goto fail;
	printf("%s\n", name);
	free(name);
	goto out;
fail:
	rc = cli_fail(err);
out:
	hearth_config_free(cfg);
	return rc;
}
