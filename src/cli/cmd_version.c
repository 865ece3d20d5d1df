/* hearth version. */
#include "cli.h"

int cmd_version(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	printf("hearth %s\n", hearth_version());
	return 0;
}
