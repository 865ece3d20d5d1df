/* A new guest's place, under the state lock: its name, its host ports
 * (free of every live guest's and bindable now), its bridge slot, and
 * the directory with config.json and the first record. */
#include <arpa/inet.h>
#include <errno.h>
#include <string.h>

#include "backends/backend.h"
#include "lib/bridge.h"
#include "core.h"
#include "lib/proc.h"
#include "lib/state.h"

static bool ports_clash(const struct hearth_config *a, const struct hearth_config *b, const struct hearth_port **which)
{
	for (size_t i = 0; i < a->n_ports; i++)
		for (size_t j = 0; j < b->n_ports; j++)
			if (a->ports[i].host == b->ports[j].host && a->ports[i].protocol == b->ports[j].protocol) {
				*which = &a->ports[i];
				return true;
			}
	return false;
}

/* The guests of the root that are up now, read once per start under
 * the state lock for both the port and the slot checks. */
struct live_guest {
	char *name;
	struct hearth_record *rec;
	int vmfd;
};

static bool daemon_guest(int vmfd)
{
	struct hearth_record *rec = NULL;
	if (record_read(vmfd, &rec, NULL) < 0)
		return false;
	const struct hearth_backend_ops *ops = backend_find(rec->backend);
	record_free(rec);
	return ops && ops->refresh;
}

static int live_guests(struct hearth_ctx *ctx, int rootfd, struct live_guest **ret, size_t *ret_n,
		       struct hearth_error **err)
{
	char **names;
	size_t n, got = 0;
	*ret = NULL;
	*ret_n = 0;
	if (state_list_names(rootfd, &names, &n, err) < 0)
		return -1;
	struct live_guest *live = xcalloc(n ? n : 1, sizeof(*live));
	for (size_t i = 0; i < n; i++) {
		int vmfd = state_vm_open(rootfd, names[i], NULL);
		struct hearth_record *rec = NULL;
		/* No daemon is asked under the lock (it may hang): a daemon's
		 * guest has no slot, and the daemon guards its own ports (the
		 * bind probe of check_ports sees them held). */
		if (vmfd >= 0 && daemon_guest(vmfd)) {
			close(vmfd);
			continue;
		}
		if (vmfd >= 0 && guest_record(ctx, vmfd, names[i], &rec, NULL, NULL) == 0 &&
		    guest_status_active(rec->status)) {
			live[got++] = (struct live_guest){ steal(names[i]), steal(rec), steal_fd(&vmfd) };
		}
		if (vmfd >= 0)
			close(vmfd);
		record_free(rec);
	}
	names_free(names, n);
	*ret = live;
	*ret_n = got;
	return 0;
}

static void live_guests_free(struct live_guest *live, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(live[i].name);
		record_free(live[i].rec);
		close(live[i].vmfd);
	}
	free(live);
}

/* A host port is free when no live hearth guest holds it and the host
 * lets us bind it now. */
static int check_ports(const struct live_guest *live, size_t n_live, const struct hearth_config *cfg,
		       struct hearth_error **err)
{
	int rc = 0;
	for (size_t i = 0; i < n_live && rc == 0 && cfg->n_ports > 0; i++) {
		struct hearth_config *other = NULL;
		const struct hearth_port *p;
		if (guest_config_read(live[i].vmfd, &other, NULL) == 0 && ports_clash(cfg, other, &p))
			rc = fail_conflict(err, "ports: host port %u/%s is published by guest %s", p->host,
					   p->protocol == HEARTH_PROTO_UDP ? "udp" : "tcp", live[i].name);
		hearth_config_free(other);
	}
	for (size_t i = 0; i < cfg->n_ports && rc == 0; i++) {
		const struct hearth_port *p = &cfg->ports[i];
		bool udp = p->protocol == HEARTH_PROTO_UDP;
		struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(p->host) };
		inet_pton(AF_INET, p->host_addr ? p->host_addr : "127.0.0.1", &sa.sin_addr);
		_cleanup_close_ int fd = socket_cloexec(AF_INET, udp ? SOCK_DGRAM : SOCK_STREAM, 0, false);
		int one = 1;
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
			rc = hearth_fail(err, HEARTH_ERR_CONFLICT, errno,
					 "ports: host port %s:%u/%s cannot be bound: %s",
					 p->host_addr ? p->host_addr : "127.0.0.1", p->host, udp ? "udp" : "tcp",
					 strerror(errno));
	}
	return rc;
}

int slot_allocate(const struct bridge_cfg *bc, const int *slots, const char *const *holders, size_t n, int want,
		  struct hearth_error **err)
{
	unsigned max = bridge_slots(bc);
	if (want >= (int)max)
		return fail_invalid(err, "network: slot %d is outside bridge %s's subnet", want, bc->name);
	const char **holder = xcalloc(max, sizeof(*holder));
	for (size_t i = 0; i < n; i++)
		if (slots[i] >= 0 && (unsigned)slots[i] < max)
			holder[slots[i]] = holders[i];
	int slot = -1;
	if (want >= 0 && holder[want])
		hearth_fail(err, HEARTH_ERR_CONFLICT, EADDRINUSE,
			    "network: slot %d (the snapshot's address) is held by guest %s", want, holder[want]);
	else if (want >= 0)
		slot = want;
	else {
		for (unsigned i = 0; i < max && slot < 0; i++)
			if (!holder[i])
				slot = (int)i;
		if (slot < 0)
			fail_runtime(err, "network: all %u addresses of bridge %s are in use", max, bc->name);
	}
	free(holder);
	return slot;
}

/* The lowest free slot for a guest among LIVE (or WANT). */
static int live_slot(const struct live_guest *live, size_t n_live, const struct bridge_cfg *bc, int want,
		     struct hearth_error **err)
{
	int *slots = xcalloc(n_live ? n_live : 1, sizeof(*slots));
	const char **holders = xcalloc(n_live ? n_live : 1, sizeof(*holders));
	for (size_t i = 0; i < n_live; i++) {
		slots[i] = live[i].rec->net_slot;
		holders[i] = live[i].name;
	}
	int slot = slot_allocate(bc, slots, holders, n_live, want, err);
	free(slots);
	free(holders);
	return slot;
}

/* Creates the guest's directory, config.json and first record under
 * the state lock, so names, ports and bridge slots are never handed out
 * twice. PLAN (bridged guests) gets the slot. */
int guest_create(struct hearth_ctx *ctx, int rootfd, struct hearth_config *cfg, const char *backend,
		 const char *network, int want_slot, struct net_plan *plan, struct hearth_error **err)
{
	_cleanup_close_ int lock = state_lock(rootfd, err);
	if (lock < 0)
		return -1;
	if (!cfg->name)
		cfg->name = name_generate(rootfd);
	/* Only ports and slots need the other guests: most starts skip this. */
	struct live_guest *live = NULL;
	size_t n_live = 0;
	if ((cfg->n_ports > 0 || plan) && live_guests(ctx, rootfd, &live, &n_live, err) < 0)
		return -1;
	struct hearth_record rec = {
		.name = cfg->name,
		.backend = (char *)backend,
		.status = HEARTH_STATUS_STARTING,
		.exit_code = -1,
		.started_at = now_unix(),
		.network = (char *)network,
		.ready = cfg->ready,
		.net_slot = -1,
		.creator_pid = getpid(),
		.creator_start = proc_start_time(getpid()),
	};
	if (plan) {
		struct bridge_cfg bc;
		int slot;
		if (bridge_cfg_from_ctx(ctx, &bc, err) < 0 ||
		    (slot = live_slot(live, n_live, &bc, want_slot, err)) < 0) {
			live_guests_free(live, n_live);
			return -1;
		}
		net_plan_for_slot(&bc, slot, plan);
		rec.net_slot = slot;
		rec.bridge = plan->br.name;
		rec.tap = plan->tap;
		rec.mac = plan->mac;
		rec.guest_ip = plan->cidr;
		rec.gateway = plan->gateway;
	}
	int rc = check_ports(live, n_live, cfg, err);
	live_guests_free(live, n_live);
	if (rc < 0)
		return -1;
	_cleanup_free_ char *json = hearth_config_to_json(cfg, 0);
	return state_vm_create(rootfd, cfg->name, json, &rec, err);
}
