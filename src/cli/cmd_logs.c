/* hearth logs: the console log (or the hypervisor's), -n lines, -f. On a
 * terminal, what the guest wrote is shown with its control characters
 * escaped (as journalctl does): a guest must not clear the user's screen
 * or write their clipboard (OSC 52). --raw passes the bytes through. */
#include <pthread.h>
#include <string.h>

#include <unistd.h>

#include "cli.h"

/* Copies the log from a pipe to stdout, escaping control characters but
 * newlines and tabs (a \r that ends a line is dropped: serial consoles
 * end lines with \r\n). */
static void *escape_to_stdout(void *arg)
{
	int fd = *(int *)arg;
	char in[4096], out[4096 * 4 + 8];
	ssize_t n;
	bool cr = false;
	while ((n = read(fd, in, sizeof(in))) > 0) {
		size_t o = 0;
		for (ssize_t i = 0; i < n; i++) {
			unsigned char c = (unsigned char)in[i];
			if (cr && c != '\n')
				o += (size_t)snprintf(out + o, sizeof(out) - o, "\\r");
			cr = c == '\r';
			if (cr)
				continue;
			if (c == '\n' || c == '\t' || (c >= 0x20 && c != 0x7f))
				out[o++] = (char)c;
			else
				o += (size_t)snprintf(out + o, sizeof(out) - o, "\\x%02x", c);
		}
		if (fwrite(out, 1, o, stdout) != o)
			break;
		fflush(stdout);
	}
	return NULL;
}

static const struct option logs_options[] = {
	{ "lines", required_argument, NULL, 'n' }, { "follow", no_argument, NULL, 'f' },
	{ "hypervisor", no_argument, NULL, 'H' },  { "raw", no_argument, NULL, 'r' },
	{ "help", no_argument, NULL, 'h' },	   { NULL, 0, NULL, 0 },
};

int cmd_logs(struct hearth_ctx *ctx, int argc, char **argv)
{
	uint64_t lines = 0;
	bool follow = false, hypervisor = false, raw = false;
	int c;
	while ((c = getopt_long(argc, argv, "n:fh", logs_options, NULL)) != -1) {
		switch (c) {
		case 'n':
			if (cli_parse_uint(optarg, 0, UINT32_MAX, &lines) < 0)
				return cli_usage_error("logs: -n: not a line count (%s)", optarg);
			break;
		case 'f':
			follow = true;
			break;
		case 'H':
			hypervisor = true;
			break;
		case 'r':
			raw = true;
			break;
		case 'h':
			puts("usage: hearth logs NAME [-n N] [-f] [--hypervisor] [--raw]\n\nPrint the guest's console log; "
			     "-n the last N lines, -f keep following\nwhile the guest runs, --hypervisor the VMM's own log. "
			     "On a terminal, control\ncharacters are shown escaped (\\x1b); --raw passes them through.");
			return 0;
		default:
			return cli_bad_option("logs");
		}
	}
	if (optind + 1 != argc)
		return cli_usage_error("logs: expected one guest NAME");
	fflush(stdout);
	struct hearth_error *err = NULL;
	int p[2] = { -1, -1 };
	pthread_t pump;
	bool escape = !raw && isatty(STDOUT_FILENO) && pipe(p) == 0;
	if (escape && pthread_create(&pump, NULL, escape_to_stdout, &p[0]) != 0) {
		close(p[0]);
		close(p[1]);
		escape = false;
	}
	int rc = hearth_guest_logs(ctx, argv[optind], lines, follow, hypervisor, escape ? p[1] : STDOUT_FILENO, &err);
	if (escape) {
		close(p[1]);
		pthread_join(pump, NULL);
		close(p[0]);
	}
	return rc < 0 ? cli_fail(err) : 0;
}
