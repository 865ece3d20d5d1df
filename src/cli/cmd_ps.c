/* hearth ps: every guest, as a table or JSON. */
#include <jansson.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "lib/json.h"

static const struct option ps_options[] = {
	{ "all", no_argument, NULL, 'a' },
	{ "json", no_argument, NULL, 'j' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

/* Up, or broken: a guest whose state cannot be read may still run, and
 * wants the user's eye either way. */
static bool shown(const struct hearth_record *r, bool all)
{
	return all || r->status == HEARTH_STATUS_STARTING || r->status == HEARTH_STATUS_RUNNING ||
	       r->status == HEARTH_STATUS_PAUSED || r->status == HEARTH_STATUS_BROKEN;
}

static void ports_text(const struct hearth_config *cfg, struct strbuf *sb)
{
	strbuf_append(sb, "", 0);
	for (size_t i = 0; cfg && i < cfg->n_ports; i++) {
		const struct hearth_port *p = &cfg->ports[i];
		strbuf_printf(sb, "%s%s:%u->%u/%s", i ? "," : "", p->host_addr ? p->host_addr : "127.0.0.1", p->host,
			      p->guest, p->protocol == HEARTH_PROTO_UDP ? "udp" : "tcp");
	}
}

static json_t *ps_json_entry(const struct hearth_record *r, const struct hearth_config *cfg)
{
	json_t *ports = json_array();
	for (size_t i = 0; cfg && i < cfg->n_ports; i++) {
		const struct hearth_port *p = &cfg->ports[i];
		json_array_append_new(ports, json_pack("{s:s, s:i, s:i, s:s}", "host_addr",
						       p->host_addr ? p->host_addr : "127.0.0.1", "host", p->host,
						       "guest", p->guest, "protocol",
						       p->protocol == HEARTH_PROTO_UDP ? "udp" : "tcp"));
	}
	json_t *o = json_object();
	json_object_set_new(o, "name", json_string(r->name));
	json_object_set_new(o, "backend", json_string(r->backend));
	json_object_set_new(o, "status", json_string(hearth_status_name(r->status)));
	json_object_set_new(o, "reason", json_string_or_null(r->reason));
	json_object_set_new(o, "cpus", cfg ? json_integer(cfg->cpus) : json_null());
	json_object_set_new(o, "memory_mib", cfg ? json_integer(cfg->memory_mib) : json_null());
	json_object_set_new(o, "guest_ip", json_string_or_null(r->guest_ip));
	json_object_set_new(o, "ports", ports);
	json_object_set_new(o, "profile", json_string_or_null(cfg ? cfg->profile : NULL));
	json_object_set_new(o, "revision", json_string_or_null(cfg ? cfg->revision_hash : NULL));
	json_object_set_new(o, "flake_ref", json_string_or_null(cfg ? cfg->flake_ref : NULL));
	json_object_set_new(o, "started_at", json_integer(r->started_at));
	json_object_set_new(o, "exit_code", r->exit_code >= 0 ? json_integer(r->exit_code) : json_null());
	return o;
}

int cmd_ps(int argc, char **argv)
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
	struct hearth_record **recs;
	size_t n;
	struct hearth_error *err = NULL;
	if (hearth_guest_list(&recs, &n, &err) < 0)
		return cli_fail(err);
	json_t *arr = json ? json_array() : NULL;
	if (!json)
		printf("%-24s %-12s %-9s %4s %7s %-14s %-20s %s\n", "NAME", "BACKEND", "STATUS", "CPUS", "MEMORY", "IP",
		       "BUILD", "PORTS");
	for (size_t i = 0; i < n; i++) {
		const struct hearth_record *r = recs[i];
		if (!shown(r, all))
			continue;
		struct hearth_config *cfg = NULL;
		if (hearth_guest_config(r->name, &cfg, &err) < 0)
			hearth_error_free(steal(err));
		if (json) {
			json_array_append_new(arr, ps_json_entry(r, cfg));
		} else {
			struct strbuf ports = { 0 };
			ports_text(cfg, &ports);
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
			const char *last = r->status == HEARTH_STATUS_BROKEN ? r->reason : ports.buf;
			printf("%-24s %-12s %-9s %4s %7s %-14s %-20s %s\n", r->name, r->backend,
			       hearth_status_name(r->status), cpus, mem, ip, build, last);
			strbuf_release(&ports);
		}
		hearth_config_free(cfg);
	}
	if (json) {
		char *s = json_dumps(arr, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		puts(s);
		free(s);
		json_decref(arr);
	}
	hearth_records_free(recs, n);
	return 0;
}
