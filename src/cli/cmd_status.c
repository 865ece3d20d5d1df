/* hearth status: one guest's status, reason and exit code. */
#include <jansson.h>
#include <string.h>

#include "cli.h"
#include "lib/json.h"

static const struct option status_options[] = {
	{ "json", no_argument, NULL, 'j' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

int cmd_status(int argc, char **argv)
{
	bool json = false;
	int c;
	while ((c = getopt_long(argc, argv, "h", status_options, NULL)) != -1) {
		if (c == 'h') {
			puts("usage: hearth status NAME [--json]\n\nShow the guest's status: starting, running, paused, "
			     "stopped or failed,\nwith the reason in plain words (--json: also the workload's exit code).");
			return 0;
		}
		if (c != 'j')
			return cli_bad_option("status");
		json = true;
	}
	if (optind + 1 != argc)
		return cli_usage_error("status: expected one guest NAME");
	struct hearth_record *r = NULL;
	struct hearth_error *err = NULL;
	if (hearth_guest_get(argv[optind], &r, &err) < 0)
		return cli_fail(err);
	if (json) {
		json_t *o = json_pack("{s:s, s:s, s:s, s:o, s:o, s:o, s:i, s:i, s:I, s:I}", "name", r->name, "backend",
				      r->backend, "status", hearth_status_name(r->status), "reason",
				      json_string_or_null(r->reason), "exit_code",
				      r->exit_code >= 0 ? json_integer(r->exit_code) : json_null(), "accel",
				      json_string_or_null(r->accel), "monitor_pid", r->monitor_pid,
				      "vmm_pid", r->vmm_pid, "started_at", (json_int_t)r->started_at, "stopped_at",
				      (json_int_t)r->stopped_at);
		json_object_set_new(o, "guest_ip", json_string_or_null(r->guest_ip));
		json_object_set_new(o, "gateway", json_string_or_null(r->gateway));
		json_object_set_new(o, "guest_channel", json_string_or_null(r->guest_channel));
		json_object_set_new(o, "vsock", r->vsock_cid > 0 ? json_pack("{s:i, s:i}", "cid", r->vsock_cid, "port",
									  HEARTH_AGENT_VSOCK_PORT)
							  : json_null());
		json_t *net = json_object();
		json_object_set_new(net, "mode", json_string_or_null(r->network));
		json_object_set_new(net, "bridge", json_string_or_null(r->bridge));
		json_object_set_new(net, "tap", json_string_or_null(r->tap));
		json_object_set_new(net, "mac", json_string_or_null(r->mac));
		json_object_set_new(net, "slot", r->net_slot >= 0 ? json_integer(r->net_slot) : json_null());
		json_object_set_new(o, "network_info", net);
		char *s = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		puts(s);
		free(s);
		json_decref(o);
	} else {
		/* A stopped guest's reason says it all ("stopped by request",
		 * "exited on its own with code 3"); others name their state. */
		if (r->status == HEARTH_STATUS_STOPPED && r->reason)
			printf("%s\n", r->reason);
		else if (r->reason)
			printf("%s: %s\n", hearth_status_name(r->status), r->reason);
		else
			printf("%s\n", hearth_status_name(r->status));
	}
	hearth_record_free(r);
	return 0;
}
