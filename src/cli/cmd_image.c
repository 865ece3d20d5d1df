/* hearth image ls|pull|rm|prune (and docker's short names: images, pull,
 * rmi): the image store of OCI images converted for guests. */
#include <string.h>
#include <time.h>

#include "cli.h"

static const char image_help[] = "usage: hearth image ls [--json] | pull REF... | rm REF|DIGEST... | prune\n"
				 "\n"
				 "The OCI images converted for guests (hearth run --image REF converts on\n"
				 "first use). REF: docker://HOST/NAME[:TAG|@DIGEST], oci:DIR[:TAG],\n"
				 "oci-archive:PATH[:TAG], docker-archive:PATH, docker-daemon:NAME:TAG.\n"
				 "rm refuses an image that a guest uses; prune removes every unused one.\n";

static const struct option image_options[] = {
	{ "json", no_argument, NULL, 'j' },
	{ "tls-verify", required_argument, NULL, 't' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

static int image_ls(struct hearth_ctx *ctx, bool json)
{
	struct hearth_image *imgs;
	size_t n;
	struct hearth_error *err = NULL;
	if (hearth_image_list(ctx, &imgs, &n, &err) < 0)
		return cli_fail(err);
	if (!json)
		printf("%-19s %9s %5s  %-19s %s\n", "DIGEST", "SIZE", "USED", "CONVERTED", "REFERENCES");
	else
		printf("[");
	for (size_t i = 0; i < n; i++) {
		const struct hearth_image *im = &imgs[i];
		char when[32];
		time_t t = (time_t)im->created;
		strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", localtime(&t));
		if (json) {
			printf("%s\n  {\"digest\": \"%s\", \"size\": %llu, \"created\": %lld, \"users\": %zu, "
			       "\"rootfs\": \"%s\", \"refs\": [",
			       i ? "," : "", im->digest, (unsigned long long)im->size, (long long)im->created,
			       im->users, im->rootfs);
			for (char **r = im->refs; *r; r++) {
				printf("%s\"", r == im->refs ? "" : ", ");
				for (const char *c = *r; *c; c++)
					printf(*c == '"' || *c == '\\' ? "\\%c" : "%c", *c);
				printf("\"");
			}
			printf("], \"exposed_ports\": [");
			for (char **p = im->exposed; *p; p++)
				printf("%s\"%s\"", p == im->exposed ? "" : ", ", *p);
			printf("]}");
			continue;
		}
		printf("%-19.19s %8.1fM %5zu  %-19s", im->digest, (double)im->size / (1 << 20), im->users, when);
		for (char **r = im->refs; *r; r++)
			printf(" %s", *r);
		printf("\n");
	}
	if (json)
		printf("%s]\n", n ? "\n" : "");
	hearth_images_free(imgs, n);
	return 0;
}

int cmd_image(struct hearth_ctx *ctx, int argc, char **argv)
{
	bool json = false;
	int c;
	while ((c = getopt_long(argc, argv, "+h", image_options, NULL)) != -1) {
		if (c != 'h')
			return cli_bad_option("image");
		fputs(image_help, stdout);
		return 0;
	}
	if (optind >= argc)
		return cli_usage_error("image: expected ls, pull, rm or prune");
	const char *sub = argv[optind++];
	while ((c = getopt_long(argc, argv, "h", image_options, NULL)) != -1) {
		if (c == 'j' && strcmp(sub, "ls") == 0) {
			json = true;
			continue;
		}
		if (c == 't' && strcmp(sub, "pull") == 0) {
			if (cli_tls_verify(ctx, optarg) < 0)
				return EXIT_USAGE;
			continue;
		}
		if (c != 'h')
			return cli_bad_option("image");
		fputs(image_help, stdout);
		return 0;
	}
	struct hearth_error *err = NULL;
	if (strcmp(sub, "ls") == 0) {
		if (optind < argc)
			return cli_usage_error("image ls: unexpected argument '%s'", argv[optind]);
		return image_ls(ctx, json);
	}
	if (strcmp(sub, "prune") == 0) {
		if (optind < argc)
			return cli_usage_error("image prune: unexpected argument '%s'", argv[optind]);
		size_t n = 0;
		if (hearth_image_prune(ctx, &n, &err) < 0)
			return cli_fail(err);
		printf("%zu image(s) removed\n", n);
		return 0;
	}
	bool pull = strcmp(sub, "pull") == 0;
	if (!pull && strcmp(sub, "rm") != 0)
		return cli_usage_error("image: unknown subcommand '%s' (ls, pull, rm, prune)", sub);
	if (optind >= argc)
		return cli_usage_error("image %s: expected image references", sub);
	int rc = 0;
	for (int i = optind; i < argc; i++) {
		char *digest = NULL;
		if (pull ? hearth_image_pull(ctx, argv[i], &digest, &err) < 0
			 : hearth_image_remove(ctx, argv[i], &err) < 0)
			rc = cli_fail(err);
		else
			printf("%s\n", pull ? digest : argv[i]);
		free(digest);
		err = NULL;
	}
	return rc;
}
