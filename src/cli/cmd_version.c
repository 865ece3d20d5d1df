/* hearth version. */
#include "cli.h"

int cmd_version(struct hearth_ctx *ctx, int argc, char **argv)
{
	(void)ctx;
	(void)argc;
	(void)argv;
	printf("hearth %s\n", hearth_version());
	return 0;
}
