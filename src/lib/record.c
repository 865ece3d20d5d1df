#include "record.h"

#include <signal.h>
#include <string.h>

#include "json.h"
#include "proc.h"

const char *hearth_status_name(enum hearth_status s)
{
	static const char *const names[] = { "starting", "running", "paused", "stopped", "failed", "broken" };
	return (unsigned)s < ARRAY_SIZE(names) ? names[s] : "unknown";
}

static int status_from_name(const char *s, enum hearth_status *ret)
{
	for (int i = HEARTH_STATUS_STARTING; i <= HEARTH_STATUS_FAILED; i++)
		if (strcmp(s, hearth_status_name((enum hearth_status)i)) == 0) {
			*ret = (enum hearth_status)i;
			return 0;
		}
	return -1;
}

void record_free(struct hearth_record *rec)
{
	if (!rec)
		return;
	free(rec->name);
	free(rec->backend);
	free(rec->reason);
	free(rec->accel);
	free(rec->guest_ip);
	free(rec->gateway);
	free(rec->guest_channel);
	free(rec->network);
	free(rec->bridge);
	free(rec->tap);
	free(rec->mac);
	free(rec->ready);
	free(rec->jailer);
	free(rec->origin);
	free(rec);
}

void records_free(struct hearth_record **recs, size_t n)
{
	for (size_t i = 0; i < n; i++)
		record_free(recs[i]);
	free(recs);
}

int record_parse(const char *text, struct hearth_record **ret, struct hearth_error **err)
{
	json_error_t jerr;
	json_t *o = json_loads(text, 0, &jerr);
	if (!o)
		return fail_runtime(err, "state: record.json: line %d: %s", jerr.line, jerr.text);
	struct hearth_record *rec = xcalloc(1, sizeof(*rec));
	rec->name = json_strdup_or_null(json_object_get(o, "name"));
	rec->backend = json_strdup_or_null(json_object_get(o, "backend"));
	rec->reason = json_strdup_or_null(json_object_get(o, "reason"));
	rec->accel = json_strdup_or_null(json_object_get(o, "accel"));
	rec->guest_ip = json_strdup_or_null(json_object_get(o, "guest_ip"));
	rec->gateway = json_strdup_or_null(json_object_get(o, "gateway"));
	rec->guest_channel = json_strdup_or_null(json_object_get(o, "guest_channel"));
	rec->network = json_strdup_or_null(json_object_get(o, "network"));
	rec->bridge = json_strdup_or_null(json_object_get(o, "bridge"));
	rec->tap = json_strdup_or_null(json_object_get(o, "tap"));
	rec->mac = json_strdup_or_null(json_object_get(o, "mac"));
	rec->ready = json_strdup_or_null(json_object_get(o, "ready"));
	rec->jailer = json_strdup_or_null(json_object_get(o, "jailer"));
	rec->origin = json_strdup_or_null(json_object_get(o, "origin"));
	rec->jail_uid = (unsigned)json_integer_value(json_object_get(o, "jail_uid"));
	rec->jail_gid = (unsigned)json_integer_value(json_object_get(o, "jail_gid"));
	rec->agent_ready = json_is_true(json_object_get(o, "agent_ready"));
	rec->probe_ok = json_is_true(json_object_get(o, "probe_ok"));
	json_t *slot = json_object_get(o, "net_slot");
	rec->net_slot = json_is_integer(slot) ? (int)json_integer_value(slot) : -1;
	rec->vsock_cid = (int)json_integer_value(json_object_get(o, "vsock_cid"));
	rec->creator_pid = (int)json_integer_value(json_object_get(o, "creator_pid"));
	rec->creator_start = (uint64_t)json_integer_value(json_object_get(o, "creator_start"));
	json_t *st = json_object_get(o, "status");
	if (!json_is_string(st) || status_from_name(json_string_value(st), &rec->status) < 0)
		rec->status = HEARTH_STATUS_FAILED;
	json_t *ec = json_object_get(o, "exit_code");
	rec->exit_code = json_is_integer(ec) ? (int)json_integer_value(ec) : -1;
	rec->monitor_pid = (int)json_integer_value(json_object_get(o, "monitor_pid"));
	rec->monitor_start = (uint64_t)json_integer_value(json_object_get(o, "monitor_start"));
	rec->vmm_pid = (int)json_integer_value(json_object_get(o, "vmm_pid"));
	rec->vmm_start = (uint64_t)json_integer_value(json_object_get(o, "vmm_start"));
	rec->started_at = json_integer_value(json_object_get(o, "started_at"));
	rec->stopped_at = json_integer_value(json_object_get(o, "stopped_at"));
	rec->stop_requested = json_is_true(json_object_get(o, "stop_requested"));
	rec->held = json_is_true(json_object_get(o, "held"));
	json_decref(o);
	if (!rec->name || !rec->backend || !hearth_name_valid(rec->name)) {
		record_free(rec);
		return fail_runtime(err, "state: record.json: no valid name or backend");
	}
	*ret = rec;
	return 0;
}

void record_set_status(struct hearth_record *rec, enum hearth_status status, const char *reason)
{
	rec->status = status;
	free(rec->reason);
	rec->reason = reason ? xstrdup(reason) : NULL;
	if ((status == HEARTH_STATUS_STOPPED || status == HEARTH_STATUS_FAILED) && !rec->stopped_at)
		rec->stopped_at = now_unix();
}

/* What every view begins with: which guest, and how it is. */
static json_t *head_json(const struct hearth_record *rec)
{
	json_t *o = json_object();
	json_object_set_new(o, "name", json_string(rec->name));
	json_object_set_new(o, "backend", json_string(rec->backend));
	json_object_set_new(o, "status", json_string(hearth_status_name(rec->status)));
	json_object_set_new(o, "reason", json_string_or_null(rec->reason));
	return o;
}

static json_t *exit_code_json(const struct hearth_record *rec)
{
	return rec->exit_code >= 0 ? json_integer(rec->exit_code) : json_null();
}

static json_t *ports_json(const struct hearth_config *cfg)
{
	json_t *ports = json_array();
	for (size_t i = 0; cfg && i < cfg->n_ports; i++) {
		const struct hearth_port *p = &cfg->ports[i];
		json_array_append_new(ports,
				      json_pack("{s:s, s:i, s:i, s:s}", "host_addr",
						p->host_addr ? p->host_addr : "127.0.0.1", "host", p->host, "guest",
						p->guest, "protocol", p->protocol == HEARTH_PROTO_UDP ? "udp" : "tcp"));
	}
	return ports;
}

static json_t *summary_json(const struct hearth_record *rec, const struct hearth_config *cfg)
{
	json_t *o = head_json(rec);
	json_object_set_new(o, "cpus", cfg ? json_integer(cfg->cpus) : json_null());
	json_object_set_new(o, "memory_mib", cfg ? json_integer(cfg->memory_mib) : json_null());
	json_object_set_new(o, "guest_ip", json_string_or_null(rec->guest_ip));
	json_object_set_new(o, "ports", ports_json(cfg));
	json_object_set_new(o, "profile", json_string_or_null(cfg ? cfg->profile : NULL));
	json_object_set_new(o, "revision", json_string_or_null(cfg ? cfg->revision_hash : NULL));
	json_object_set_new(o, "flake_ref", json_string_or_null(cfg ? cfg->flake_ref : NULL));
	json_object_set_new(o, "started_at", json_integer(rec->started_at));
	json_object_set_new(o, "exit_code", exit_code_json(rec));
	return o;
}

static json_t *status_json(const struct hearth_record *rec)
{
	json_t *o = head_json(rec);
	json_object_set_new(o, "exit_code", exit_code_json(rec));
	json_object_set_new(o, "accel", json_string_or_null(rec->accel));
	json_object_set_new(o, "monitor_pid", json_integer(rec->monitor_pid));
	json_object_set_new(o, "vmm_pid", json_integer(rec->vmm_pid));
	json_object_set_new(o, "started_at", json_integer(rec->started_at));
	json_object_set_new(o, "stopped_at", json_integer(rec->stopped_at));
	json_object_set_new(o, "guest_ip", json_string_or_null(rec->guest_ip));
	json_object_set_new(o, "gateway", json_string_or_null(rec->gateway));
	json_object_set_new(o, "guest_channel", json_string_or_null(rec->guest_channel));
	json_object_set_new(o, "vsock",
			    rec->vsock_cid > 0
				    ? json_pack("{s:i, s:i}", "cid", rec->vsock_cid, "port", HEARTH_AGENT_VSOCK_PORT)
				    : json_null());
	json_t *net = json_object();
	json_object_set_new(net, "mode", json_string_or_null(rec->network));
	json_object_set_new(net, "bridge", json_string_or_null(rec->bridge));
	json_object_set_new(net, "tap", json_string_or_null(rec->tap));
	json_object_set_new(net, "mac", json_string_or_null(rec->mac));
	json_object_set_new(net, "slot", rec->net_slot >= 0 ? json_integer(rec->net_slot) : json_null());
	json_object_set_new(o, "network_info", net);
	return o;
}

static json_t *state_json(const struct hearth_record *rec)
{
	json_t *o = head_json(rec);
	json_object_set_new(o, "exit_code", exit_code_json(rec));
	json_object_set_new(o, "monitor_pid", json_integer(rec->monitor_pid));
	json_object_set_new(o, "monitor_start", json_integer((json_int_t)rec->monitor_start));
	json_object_set_new(o, "vmm_pid", json_integer(rec->vmm_pid));
	json_object_set_new(o, "vmm_start", json_integer((json_int_t)rec->vmm_start));
	json_object_set_new(o, "started_at", json_integer(rec->started_at));
	json_object_set_new(o, "stopped_at", json_integer(rec->stopped_at));
	json_object_set_new(o, "accel", json_string_or_null(rec->accel));
	json_object_set_new(o, "guest_ip", json_string_or_null(rec->guest_ip));
	json_object_set_new(o, "gateway", json_string_or_null(rec->gateway));
	json_object_set_new(o, "guest_channel", json_string_or_null(rec->guest_channel));
	json_object_set_new(o, "stop_requested", json_boolean(rec->stop_requested));
	if (rec->held)
		json_object_set_new(o, "held", json_true());
	json_object_set_new(o, "network", json_string_or_null(rec->network));
	json_object_set_new(o, "net_slot", rec->net_slot >= 0 ? json_integer(rec->net_slot) : json_null());
	json_object_set_new(o, "bridge", json_string_or_null(rec->bridge));
	json_object_set_new(o, "tap", json_string_or_null(rec->tap));
	json_object_set_new(o, "mac", json_string_or_null(rec->mac));
	if (rec->ready) {
		json_object_set_new(o, "ready", json_string(rec->ready));
		json_object_set_new(o, "probe_ok", json_boolean(rec->probe_ok));
	}
	if (rec->ready || rec->agent_ready)
		json_object_set_new(o, "agent_ready", json_boolean(rec->agent_ready));
	if (rec->jailer) {
		json_object_set_new(o, "jailer", json_string(rec->jailer));
		json_object_set_new(o, "jail_uid", json_integer(rec->jail_uid));
		json_object_set_new(o, "jail_gid", json_integer(rec->jail_gid));
	}
	if (rec->vsock_cid > 0)
		json_object_set_new(o, "vsock_cid", json_integer(rec->vsock_cid));
	if (rec->origin)
		json_object_set_new(o, "origin", json_string(rec->origin));
	if (rec->creator_pid > 0) {
		json_object_set_new(o, "creator_pid", json_integer(rec->creator_pid));
		json_object_set_new(o, "creator_start", json_integer((json_int_t)rec->creator_start));
	}
	return o;
}

json_t *record_to_json(const struct hearth_record *rec, const struct hearth_config *cfg, enum record_view view)
{
	switch (view) {
	case RECORD_JSON_STATUS:
		return status_json(rec);
	case RECORD_JSON_SUMMARY:
		return summary_json(rec, cfg);
	default:
		return state_json(rec);
	}
}

struct view_box {
	struct hearth_guest pub;
	struct hearth_record *rec;
	struct hearth_config *cfg;
};

struct hearth_guest *record_view_new(struct hearth_record *rec, struct hearth_config *cfg)
{
	struct view_box *b = xcalloc(1, sizeof(*b));
	b->rec = rec;
	b->cfg = cfg;
	b->pub = (struct hearth_guest){ .name = rec->name,
					.backend = rec->backend,
					.status = rec->status,
					.reason = rec->reason,
					.exit_code = rec->exit_code,
					.started_at = rec->started_at,
					.stopped_at = rec->stopped_at,
					.accel = rec->accel,
					.network = rec->network,
					.guest_ip = rec->guest_ip,
					.gateway = rec->gateway,
					.config = cfg };
	return &b->pub;
}

const struct hearth_record *record_of_view(const struct hearth_guest *g)
{
	/* pub is the box's first member: the view's address is the box's. */
	return ((const struct view_box *)(const void *)g)->rec;
}

void hearth_guest_free(struct hearth_guest *g)
{
	if (!g)
		return;
	struct view_box *b = (struct view_box *)(void *)g;
	record_free(b->rec);
	hearth_config_free(b->cfg);
	free(b);
}

void hearth_guests_free(struct hearth_guest **gs, size_t n)
{
	for (size_t i = 0; i < n; i++)
		hearth_guest_free(gs[i]);
	free(gs);
}

char *hearth_guest_to_json(const struct hearth_guest *g, const struct hearth_config *cfg, enum hearth_guest_view view)
{
	json_t *o = record_to_json(record_of_view(g), cfg,
				   view == HEARTH_GUEST_JSON_SUMMARY ? RECORD_JSON_SUMMARY : RECORD_JSON_STATUS);
	char *text = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	json_decref(o);
	return text;
}

void record_kill_vmm(const struct hearth_record *rec)
{
	if (rec->vmm_pid > 0 && proc_alive(rec->vmm_pid, rec->vmm_start))
		kill(rec->vmm_pid, SIGKILL);
}
