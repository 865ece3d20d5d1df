/* hearth exec: run a command in a running guest, through its agent. */
#include <signal.h>
#include <string.h>
#include <sys/signalfd.h>
#include <termios.h>
#include <unistd.h>

#include "cli.h"

#define ENV_MAX 256

static const struct option exec_options[] = {
	{ "interactive", no_argument, NULL, 'i' },   { "tty", no_argument, NULL, 't' },
	{ "detach", no_argument, NULL, 'd' },	     { "env", required_argument, NULL, 'e' },
	{ "workdir", required_argument, NULL, 'w' }, { "user", required_argument, NULL, 'u' },
	{ "help", no_argument, NULL, 'h' },	     { NULL, 0, NULL, 0 },
};

static const char exec_help[] =
	"usage: hearth exec [-i] [-t] [-d] [-e K=V]... [-w DIR] [-u USER] NAME [--] CMD [ARG]...\n\n"
	"Run CMD in guest NAME, its output streamed as it comes; hearth's exit status is\n"
	"CMD's (126: it cannot be run, 127: not found).\n\n"
	"  -i, --interactive  send hearth's stdin to CMD (else CMD's stdin is empty)\n"
	"  -t, --tty          give CMD a terminal in the guest, sized as this one\n"
	"  -d, --detach       start CMD and return; its output is dropped\n"
	"  -e, --env K=V      set K in CMD's environment (repeatable)\n"
	"  -w, --workdir DIR  run CMD in DIR (default /)\n"
	"  -u, --user USER    run CMD as USER: a name in the guest's /etc/passwd, or UID[:GID]\n";

/* The signals sent on to the command (SIGWINCH resizes its terminal). */
static const int forwarded[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH };

int cmd_exec(struct hearth_ctx *ctx, int argc, char **argv)
{
	struct hearth_exec ex = {
		.in_fd = -1, .out_fd = STDOUT_FILENO, .err_fd = STDERR_FILENO, .tty_fd = -1, .signal_fd = -1
	};
	bool interactive = false;
	char *env[ENV_MAX + 1] = { 0 };
	size_t n_env = 0;
	int c;
	/* '+': options end at NAME, so CMD keeps its own. */
	while ((c = getopt_long(argc, argv, "+itde:w:u:h", exec_options, NULL)) != -1) {
		switch (c) {
		case 'i':
			interactive = true;
			break;
		case 't':
			ex.tty = true;
			break;
		case 'd':
			ex.detach = true;
			break;
		case 'e':
			if (!strchr(optarg, '=') || optarg[0] == '=')
				return cli_usage_error("exec: env: want KEY=VALUE (%s)", optarg);
			if (n_env == ENV_MAX)
				return cli_usage_error("exec: env: at most %d variables", ENV_MAX);
			env[n_env++] = optarg;
			break;
		case 'w':
			if (optarg[0] != '/')
				return cli_usage_error("exec: workdir: want an absolute path in the guest (%s)",
						       optarg);
			ex.cwd = optarg;
			break;
		case 'u':
			ex.user = optarg;
			break;
		case 'h':
			fputs(exec_help, stdout);
			return 0;
		default:
			return cli_bad_option("exec");
		}
	}
	if (optind >= argc)
		return cli_usage_error("exec: expected a guest NAME and a command");
	const char *name = argv[optind++];
	if (optind < argc && strcmp(argv[optind], "--") == 0)
		optind++;
	if (optind >= argc)
		return cli_usage_error("exec: expected a command after the guest's name");
	if (ex.detach && (interactive || ex.tty))
		return cli_usage_error("exec: --detach takes neither -i nor -t");
	ex.argv = argv + optind;
	ex.env = env;
	if (interactive)
		ex.in_fd = STDIN_FILENO;
	if (ex.tty && isatty(STDIN_FILENO))
		ex.tty_fd = STDIN_FILENO;

	/* Signals reach the command, not hearth. */
	sigset_t mask, old;
	sigemptyset(&mask);
	for (size_t i = 0; i < ARRAY_SIZE(forwarded); i++)
		sigaddset(&mask, forwarded[i]);
	sigprocmask(SIG_BLOCK, &mask, &old);
	ex.signal_fd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);

	/* A terminal in the guest: ours passes every key through (Ctrl-C
	 * included: the guest's terminal makes it SIGINT). */
	struct termios saved;
	bool raw = ex.tty_fd >= 0 && interactive && tcgetattr(ex.tty_fd, &saved) == 0;
	if (raw) {
		struct termios t = saved;
		cfmakeraw(&t);
		tcsetattr(ex.tty_fd, TCSANOW, &t);
	}
	int status = -1;
	struct hearth_error *err = NULL;
	int rc = hearth_guest_exec(ctx, name, &ex, &status, &err);
	if (raw)
		tcsetattr(ex.tty_fd, TCSANOW, &saved);
	if (ex.signal_fd >= 0)
		close(ex.signal_fd);
	sigprocmask(SIG_SETMASK, &old, NULL);
	if (rc < 0) {
		int code = cli_fail(err);
		return status == 126 || status == 127 ? status : code;
	}
	return ex.detach ? 0 : status;
}
