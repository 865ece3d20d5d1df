/* hearth exec: run a command in a running guest, through its agent. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
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

/* A self-pipe: each forwarded signal's number, one byte, for the exec
 * loop to read (signalfd is Linux's alone). */
static int signal_pipe[2] = { -1, -1 };

static void note_signal(int sig)
{
	int saved = errno;
	unsigned char b = (unsigned char)sig;
	if (write(signal_pipe[1], &b, 1) < 0) {
		/* full: the loop has signals to read already */
	}
	errno = saved;
}

static bool signal_pipe_open(void)
{
	if (pipe(signal_pipe) < 0)
		return false;
	for (int i = 0; i < 2; i++)
		if (fcntl(signal_pipe[i], F_SETFD, FD_CLOEXEC) < 0 ||
		    fcntl(signal_pipe[i], F_SETFL, fcntl(signal_pipe[i], F_GETFL) | O_NONBLOCK) < 0)
			return false;
	return true;
}

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
	struct sigaction saved_actions[ARRAY_SIZE(forwarded)];
	bool forwarding = signal_pipe_open();
	for (size_t i = 0; forwarding && i < ARRAY_SIZE(forwarded); i++) {
		struct sigaction sa = { .sa_handler = note_signal, .sa_flags = SA_RESTART };
		sigemptyset(&sa.sa_mask);
		sigaction(forwarded[i], &sa, &saved_actions[i]);
	}
	ex.signal_fd = forwarding ? signal_pipe[0] : -1;

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
	for (size_t i = 0; forwarding && i < ARRAY_SIZE(forwarded); i++)
		sigaction(forwarded[i], &saved_actions[i], NULL);
	for (int i = 0; i < 2; i++)
		if (signal_pipe[i] >= 0)
			close(signal_pipe[i]);
	if (rc < 0) {
		int code = cli_fail(err);
		return status == 126 || status == 127 ? status : code;
	}
	return ex.detach ? 0 : status;
}
