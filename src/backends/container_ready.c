/* Readiness from a container's log, shared by the engine backends. */
#include <string.h>

#include "container_ready.h"
#include "hearth/contract.h"

/* Scans the log's bytes, line by line, for the ready line or the probe's
 * pattern (a line may straddle the reader's chunks). */
struct ready_scan {
	struct strbuf line;
	const regex_t *re; /* NULL: the ready line */
	bool found;
};

static int scan_ready(const char *data, size_t len, void *arg)
{
	struct ready_scan *s = arg;
	for (size_t i = 0; i < len && !s->found; i++) {
		if (data[i] != '\n' && s->line.len < 4096) {
			strbuf_append(&s->line, data + i, 1);
			continue;
		}
		if (s->line.len) {
			s->found = s->re ? regexec(s->re, s->line.buf, 0, NULL, 0) == 0
					 : strstr(s->line.buf, HEARTH_READY_LINE) != NULL;
			s->line.len = 0;
			s->line.buf[0] = '\0';
		}
	}
	return s->found; /* stop reading once seen */
}

bool container_log_ready(struct guest *g, const char *started, const regex_t *re, container_log_reader read_log)
{
	_cleanup_free_ char *marker = NULL;
	const char *marker_name = re ? "ready-log" : "ready";
	if (read_file_at(g->dirfd, marker_name, 256, &marker, NULL) == 0 && strcmp(marker, started) == 0)
		return true;
	struct ready_scan scan = { .re = re };
	IGNORE_FAILURE(read_log(g, scan_ready, &scan));
	strbuf_release(&scan.line);
	if (scan.found && write_file_atomic_at(g->dirfd, marker_name, started, strlen(started), 0600) < 0) {
		/* the next refresh reads the log again */
	}
	return scan.found;
}

bool container_ready_as_probed(struct guest *g, struct hearth_record *rec, const char *started,
			       container_log_reader read_log)
{
	struct hearth_ready pr;
	if (hearth_ready_parse(rec->ready, &pr, NULL) < 0)
		pr.kind = HEARTH_READY_AGENT;
	switch (pr.kind) {
	case HEARTH_READY_NONE:
		return true;
	case HEARTH_READY_LOG: {
		regex_t re;
		if (regcomp(&re, pr.arg, REG_EXTENDED | REG_NOSUB) != 0)
			return false;
		bool ready = container_log_ready(g, started, &re, read_log);
		regfree(&re);
		return ready;
	}
	case HEARTH_READY_AGENT:
		return container_log_ready(g, started, NULL, read_log);
	default:
		rec->agent_ready = pr.kind == HEARTH_READY_EXEC && container_log_ready(g, started, NULL, read_log);
		return rec->probe_ok;
	}
}
