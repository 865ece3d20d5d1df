/* hearth logs: the console log (or the hypervisor's), -n lines, -f. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>

#include "cli.h"

static const struct option logs_options[] = {
	{ "lines", required_argument, NULL, 'n' },
	{ "follow", no_argument, NULL, 'f' },
	{ "hypervisor", no_argument, NULL, 'H' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

/* Offset where the last N lines of FD begin. */
static off_t tail_offset(int fd, uint64_t n)
{
	off_t end = lseek(fd, 0, SEEK_END);
	off_t pos = end;
	uint64_t seen = 0;
	char buf[4096];
	while (pos > 0) {
		size_t chunk = pos < (off_t)sizeof(buf) ? (size_t)pos : sizeof(buf);
		pos -= (off_t)chunk;
		if (pread(fd, buf, chunk, pos) != (ssize_t)chunk)
			return 0;
		for (size_t i = chunk; i-- > 0;) {
			if (buf[i] != '\n' || pos + (off_t)i == end - 1)
				continue;
			if (++seen == n)
				return pos + (off_t)i + 1;
		}
	}
	return 0;
}

static int copy_out(int fd)
{
	char buf[8192];
	ssize_t n;
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		if (fwrite(buf, 1, (size_t)n, stdout) != (size_t)n)
			return -1;
	fflush(stdout);
	return n < 0 ? -1 : 0;
}

static bool guest_active(const char *name)
{
	struct hearth_record *r = NULL;
	struct hearth_error *err = NULL;
	if (hearth_guest_get(name, &r, &err) < 0) {
		hearth_error_free(err);
		return false;
	}
	bool active = r->status == HEARTH_STATUS_STARTING || r->status == HEARTH_STATUS_RUNNING ||
		      r->status == HEARTH_STATUS_PAUSED;
	hearth_record_free(r);
	return active;
}

int cmd_logs(int argc, char **argv)
{
	uint64_t lines = 0;
	bool follow = false, hypervisor = false;
	int c;
	while ((c = getopt_long(argc, argv, "n:fh", logs_options, NULL)) != -1) {
		switch (c) {
		case 'n':
			if (parse_u64(optarg, 0, UINT32_MAX, &lines) < 0)
				return cli_usage_error("logs: -n: not a line count (%s)", optarg);
			break;
		case 'f':
			follow = true;
			break;
		case 'H':
			hypervisor = true;
			break;
		case 'h':
			puts("usage: hearth logs NAME [-n N] [-f] [--hypervisor]\n\nPrint the guest's console log; -n "
			     "the last N lines, -f keep following\nwhile the guest runs, --hypervisor the VMM's own log.");
			return 0;
		default:
			return cli_bad_option("logs");
		}
	}
	if (optind + 1 != argc)
		return cli_usage_error("logs: expected one guest NAME");
	const char *name = argv[optind];
	struct hearth_error *err = NULL;
	_cleanup_free_ char *path = hearth_guest_log_path(name, hypervisor, &err);
	if (!path)
		return cli_fail(err);
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT && !follow)
			return 0; /* nothing logged yet */
		fail_errno(&err, "logs: %s: %s", path, strerror(errno));
		return cli_fail(err);
	}
	if (lines > 0 && lseek(fd, tail_offset(fd, lines), SEEK_SET) < 0)
		return 1;
	if (copy_out(fd) < 0)
		return 1;
	while (follow) {
		bool active = guest_active(name);
		sleep_ms(200);
		if (copy_out(fd) < 0)
			return 1;
		if (!active)
			break;
	}
	return 0;
}
