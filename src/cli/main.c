/* hearth: the command-line front of libhearth. One file per command. */
#include <stdarg.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

static const struct {
	const char *name;
	int (*fn)(struct hearth_ctx *ctx, int argc, char **argv);
	const char *summary;
} commands[] = {
	{ "build", cmd_build, "build a guest from a Nix flake" },
	{ "run", cmd_run, "start a guest" },
	{ "ps", cmd_ps, "list guests" },
	{ "inspect", cmd_inspect, "print a guest's start configuration as JSON" },
	{ "status", cmd_status, "show a guest's status" },
	{ "logs", cmd_logs, "print a guest's console (or hypervisor) log" },
	{ "stop", cmd_stop, "stop guests" },
	{ "start", cmd_start, "start stopped guests again" },
	{ "exec", cmd_exec, "run a command in a running guest" },
	{ "attach", cmd_attach, "show a running guest's console and type into it" },
	{ "cp", cmd_cp, "copy files between the host and a running guest" },
	{ "ping", cmd_ping, "check that a guest's agent answers" },
	{ "pause", cmd_pause, "pause a guest" },
	{ "resume", cmd_resume, "resume a paused guest" },
	{ "snapshot", cmd_snapshot, "snapshot a running guest, or restore one" },
	{ "template", cmd_template, "make, list and remove templates for warm starts" },
	{ "clone", cmd_clone, "clone a running guest, its processes and memory" },
	{ "rm", cmd_rm, "remove stopped guests" },
	{ "image", cmd_image, "list, pull and remove OCI images converted for guests" },
	{ "network", cmd_network, "show or remove the bridge of bridged guests" },
	{ "backends", cmd_backends, "list backends and whether they are available" },
	{ "version", cmd_version, "print the version" },
};

/* Writes S with control characters escaped (a newline as \n), so that an
 * error naming what the user gave stays one line and sends no terminal
 * sequences. */
static void put_escaped(const char *s, FILE *f)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '\n')
			fputs("\\n", f);
		else if (*p < 0x20 || *p == 0x7f)
			fprintf(f, "\\x%02x", *p);
		else
			fputc(*p, f);
	}
}

int cli_fail(struct hearth_error *err)
{
	int code = err && err->kind == HEARTH_ERR_INVALID ? EXIT_USAGE : 1;
	fputs("hearth: error: ", stderr);
	put_escaped(err && err->message ? err->message : "unknown error", stderr);
	fputc('\n', stderr);
	hearth_error_free(err);
	return code;
}

int cli_usage_error(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *msg = cli_vasprintf(fmt, ap);
	va_end(ap);
	fputs("hearth: error: ", stderr);
	put_escaped(msg ? msg : fmt, stderr);
	fputc('\n', stderr);
	free(msg);
	return EXIT_USAGE;
}

/* The command's own arguments, for naming a bad option. */
static char **cmd_argv;

int cli_bad_option(const char *cmd)
{
	/* getopt stays quiet (opterr = 0): one line of ours instead. */
	const char *bad = optind > 0 && cmd_argv && cmd_argv[optind - 1] ? cmd_argv[optind - 1] : "?";
	char shortopt[3] = { '-', (char)optopt, '\0' };
	if (optopt > 0 && optopt < 128 && (bad[0] != '-' || bad[1] == '-' || !strchr(bad, optopt)))
		bad = shortopt;
	fprintf(stderr, "hearth: error: %s: unknown option or missing value: ", cmd);
	put_escaped(bad, stderr);
	fprintf(stderr, " (see 'hearth %s --help')\n", cmd);
	return EXIT_USAGE;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: hearth COMMAND [OPTIONS]\n\nStart isolated guests on QEMU, Firecracker or Docker.\n\n"
		   "Commands:\n");
	for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
		fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
	fprintf(f, "\nRun 'hearth COMMAND --help' for a command's options. See hearth(1).\n");
}

/* Long work on a terminal: one line redrawn in place, ended by a newline;
 * nothing when stderr is not a terminal (its errors stay one line). */
static void show_progress(const char *what, uint64_t done, uint64_t total, void *arg)
{
	(void)arg;
	fprintf(stderr, "\r\033[Khearth: %s: %.1f of %.1f MB (%d%%)", what, (double)done / 1e6, (double)total / 1e6,
		total ? (int)(done * 100 / total) : 100);
	if (done == total)
		fputc('\n', stderr);
	fflush(stderr);
}

int main(int argc, char **argv)
{
	if (argc < 2)
		return usage(stderr), EXIT_USAGE;
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0)
		return usage(stdout), 0;
	if (strcmp(argv[1], "--version") == 0)
		argv[1] = (char *)"version";
	/* Docker's short names for the image commands. */
	static const char *const aliases[][2] = { { "images", "ls" }, { "pull", "pull" }, { "rmi", "rm" } };
	char **alias_argv = NULL;
	for (size_t a = 0; a < ARRAY_SIZE(aliases); a++) {
		if (strcmp(argv[1], aliases[a][0]) != 0)
			continue;
		char **v = calloc((size_t)argc + 2, sizeof(char *));
		if (!v)
			return 1;
		v[0] = argv[0];
		v[1] = (char *)"image";
		v[2] = (char *)aliases[a][1];
		memcpy(v + 3, argv + 2, (size_t)(argc - 2) * sizeof(char *));
		argv = alias_argv = v;
		argc++;
		break;
	}
	size_t i = 0;
	while (i < ARRAY_SIZE(commands) && strcmp(argv[1], commands[i].name) != 0)
		i++;
	if (i == ARRAY_SIZE(commands))
		return cli_usage_error("unknown command '%s' (see 'hearth --help')", argv[1]);
	/* The one place the environment becomes hearth's settings. */
	struct hearth_ctx *ctx;
	struct hearth_error *err = NULL;
	if (hearth_ctx_new_from_env(&ctx, &err) < 0)
		return cli_fail(err);
	if (isatty(STDERR_FILENO))
		hearth_ctx_set_progress(ctx, show_progress, NULL);
	opterr = 0;
	cmd_argv = argv + 1;
	int rc = commands[i].fn(ctx, argc - 1, argv + 1);
	hearth_ctx_free(ctx);
	free(alias_argv);
	return rc;
}
