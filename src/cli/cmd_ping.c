/* hearth ping: ask a guest's hearth-init, over its agent channel, whether
 * it answers; prints the round trip. */
#include <string.h>
#include <time.h>

#include "cli.h"

static const struct option ping_options[] = {
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

int cmd_ping(struct hearth_ctx *ctx, int argc, char **argv)
{
	int c;
	while ((c = getopt_long(argc, argv, "h", ping_options, NULL)) != -1) {
		if (c != 'h')
			return cli_bad_option("ping");
		puts("usage: hearth ping NAME\n\nAsk the guest's agent (hearth-init) for an answer over the guest "
		     "channel\n(virtio-serial, vsock or the container's socket) and print the round trip.");
		return 0;
	}
	if (optind + 1 != argc)
		return cli_usage_error("ping: give one guest name");
	struct hearth_error *err = NULL;
	struct timespec a, b;
	clock_gettime(CLOCK_MONOTONIC, &a);
	if (hearth_guest_ping(ctx, argv[optind], &err) < 0)
		return cli_fail(err);
	clock_gettime(CLOCK_MONOTONIC, &b);
	printf("pong from %s in %.1f ms\n", argv[optind],
	       (double)(b.tv_sec - a.tv_sec) * 1e3 + (double)(b.tv_nsec - a.tv_nsec) / 1e6);
	return 0;
}
