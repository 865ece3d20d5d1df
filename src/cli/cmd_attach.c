/* hearth attach: a running guest's console, live, both ways. */
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "cli.h"

#define DETACH_KEY 0x1d /* Ctrl-], as telnet's */

static const struct option attach_options[] = {
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

int cmd_attach(struct hearth_ctx *ctx, int argc, char **argv)
{
	int c;
	while ((c = getopt_long(argc, argv, "h", attach_options, NULL)) != -1) {
		if (c != 'h')
			return cli_bad_option("attach");
		puts("usage: hearth attach NAME\n\nShow guest NAME's console as it prints and send what you type to its "
		     "input\n(qemu, firecracker, microvm-nix; docker: output only, its workload has no stdin).\nCtrl-] detaches; the guest runs on.");
		return 0;
	}
	if (optind + 1 != argc)
		return cli_usage_error("attach: expected one guest NAME");
	struct termios saved;
	bool raw = isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &saved) == 0;
	if (raw) {
		/* Every key to the guest, Ctrl-C too: its console decides. */
		struct termios t = saved;
		cfmakeraw(&t);
		tcsetattr(STDIN_FILENO, TCSANOW, &t);
		fputs("hearth: attached; Ctrl-] detaches\r\n", stderr);
	}
	struct hearth_error *err = NULL;
	int rc = hearth_guest_attach(ctx, argv[optind], STDIN_FILENO, STDOUT_FILENO, raw ? DETACH_KEY : -1, &err);
	if (raw) {
		tcsetattr(STDIN_FILENO, TCSANOW, &saved);
		fputs("\nhearth: detached\n", stderr);
	}
	return rc < 0 ? cli_fail(err) : 0;
}
