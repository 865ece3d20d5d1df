/* hearth ps: every guest, as a table or JSON. */
#include <jansson.h>
#include <string.h>
#include <time.h>

#include "cli.h"

static const struct option ps_options[] = {
	{ "all", no_argument, NULL, 'a' },
	{ "json", no_argument, NULL, 'j' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

/* Up, or broken: a guest whose state cannot be read may still run, and
 * wants the user's eye either way. */
static bool shown(const struct hearth_guest *r, bool all)
{
	return all || r->status == HEARTH_STATUS_STARTING || r->status == HEARTH_STATUS_RUNNING ||
	       r->status == HEARTH_STATUS_PAUSED || r->status == HEARTH_STATUS_BROKEN;
}

/* "127.0.0.1:8080->80/tcp,..." into BUF. */
static void ports_text(const struct hearth_config *cfg, char *buf, size_t size)
{
	size_t len = 0;
	buf[0] = '\0';
	for (size_t i = 0; cfg && i < cfg->n_ports && len < size; i++) {
		const struct hearth_port *p = &cfg->ports[i];
		int n = snprintf(buf + len, size - len, "%s%s:%u->%u/%s", i ? "," : "",
				 p->host_addr ? p->host_addr : "127.0.0.1", p->host, p->guest,
				 p->protocol == HEARTH_PROTO_UDP ? "udp" : "tcp");
		len += n > 0 ? (size_t)n : 0;
	}
}

int cmd_ps(struct hearth_ctx *ctx, int argc, char **argv)
{
	bool all = false, json = false;
	int c;
	while ((c = getopt_long(argc, argv, "ah", ps_options, NULL)) != -1) {
		switch (c) {
		case 'a':
			all = true;
			break;
		case 'j':
			json = true;
			break;
		case 'h':
			puts("usage: hearth ps [-a|--all] [--json]\n\nList running (and broken) guests; -a adds stopped and failed ones.");
			return 0;
		default:
			return cli_bad_option("ps");
		}
	}
	if (optind < argc)
		return cli_usage_error("ps: unexpected argument '%s'", argv[optind]);
	struct hearth_guest **recs;
	size_t n;
	struct hearth_error *err = NULL;
	if (hearth_guest_list(ctx, &recs, &n, &err) < 0)
		return cli_fail(err);
	json_t *arr = json ? json_array() : NULL;
	if (!json)
		printf("%-24s %-12s %-9s %4s %7s %-14s %-20s %s\n", "NAME", "BACKEND", "STATUS", "CPUS", "MEMORY", "IP",
		       "BUILD", "PORTS");
	for (size_t i = 0; i < n; i++) {
		const struct hearth_guest *r = recs[i];
		if (!shown(r, all))
			continue;
		const struct hearth_config *cfg = r->config;
		if (json) {
			char *text = hearth_guest_to_json(r, cfg, HEARTH_GUEST_JSON_SUMMARY);
			json_array_append_new(arr, json_loads(text, 0, NULL));
			free(text);
		} else {
			char ports[1024];
			ports_text(cfg, ports, sizeof(ports));
			char mem[16] = "-", cpus[8] = "-";
			if (cfg) {
				snprintf(mem, sizeof(mem), "%uM", cfg->memory_mib);
				snprintf(cpus, sizeof(cpus), "%u", cfg->cpus);
			}
			char ip[32];
			snprintf(ip, sizeof(ip), "%s", r->guest_ip ? r->guest_ip : "-");
			ip[strcspn(ip, "/")] = '\0';
			/* A flake build shows as profile@revision (8 chars, like git). */
			char build[40] = "-";
			if (cfg && cfg->revision_hash)
				snprintf(build, sizeof(build), "%.20s@%.8s", cfg->profile ? cfg->profile : "default",
					 cfg->revision_hash);
			/* A broken guest has no ports to show, and a reason to. */
			const char *last = r->status == HEARTH_STATUS_BROKEN ? r->reason : ports;
			printf("%-24s %-12s %-9s %4s %7s %-14s %-20s %s\n", r->name, r->backend,
			       hearth_status_name(r->status), cpus, mem, ip, build, last);
		}
	}
	if (json) {
		char *s = json_dumps(arr, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		puts(s);
		free(s);
		json_decref(arr);
	}
	hearth_guests_free(recs, n);
	return 0;
}
