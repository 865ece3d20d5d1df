/* The guest lifecycle that every backend shares: allocation under the
 * state lock, start, readiness, reconciliation with live processes,
 * stop, pause/resume, removal. */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "backends/backend.h"
#include "agent.h"
#include "bridge.h"
#include "guest_internal.h"
#include "proc.h"
#include "state.h"

#define READY_POLL_MS 20

const char *hearth_version(void)
{
	return HEARTH_VERSION;
}

char *hearth_data_dir(void)
{
	const char *env = getenv("HEARTH_DATA_DIR");
	if (env && *env)
		return xstrdup(env);
	/* Run from the build tree, the artifacts sit beside the binary. */
	char exe[4096];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n > 0) {
		exe[n] = '\0';
		char *slash = strrchr(exe, '/');
		if (slash) {
			*slash = '\0';
			char *dir = xasprintf("%s/guest", exe);
			_cleanup_free_ char *probe = xasprintf("%s/vmlinux", dir);
			if (access(probe, R_OK) == 0)
				return dir;
			free(dir);
		}
	}
	return xstrdup(HEARTH_DATADIR);
}

static bool status_active(enum hearth_status s)
{
	return s == HEARTH_STATUS_STARTING || s == HEARTH_STATUS_RUNNING || s == HEARTH_STATUS_PAUSED;
}

static void mark_monitor_gone(struct hearth_record *rec, void *arg)
{
	(void)arg;
	if (status_active(rec->status) && !proc_alive(rec->monitor_pid, rec->monitor_start))
		record_set_status(rec, HEARTH_STATUS_FAILED, "monitor process exited unexpectedly");
}

static int read_config_at(int vmfd, struct hearth_config **ret, struct hearth_error **err)
{
	_cleanup_free_ char *text = NULL;
	if (read_file_at(vmfd, "config.json", 16 << 20, &text, NULL) < 0)
		return fail_errno(err, "state: cannot read config.json: %s", strerror(errno));
	*ret = hearth_config_from_json(text, err);
	if (!*ret)
		hearth_error_prefix(err, "state: config.json: ");
	return *ret ? 0 : -1;
}

static void mark_start_cut(struct hearth_record *rec, void *arg)
{
	(void)arg;
	if (rec->status == HEARTH_STATUS_STARTING && rec->creator_pid > 0) {
		record_set_status(rec, HEARTH_STATUS_FAILED,
				  "start interrupted: the command starting it ended before handing it over");
		rec->creator_pid = 0;
	}
}

/* A start whose command died (kill -9, a crash) before it handed the
 * guest over: its VMM, if any ran, is killed (the monitor then records
 * the end), its TAP and staging copies go, and it reads as failed, so
 * that stop, rm and the port it asked for all work again. */
static int repair_cut_start(int vmfd, struct hearth_record *rec, struct hearth_error **err)
{
	if (rec->vmm_pid > 0 && proc_alive(rec->vmm_pid, rec->vmm_start))
		kill(rec->vmm_pid, SIGKILL);
	if (rec->monitor_pid <= 0)
		net_tap_remove_slot(rec->tap, rec->net_slot);
	DIR *d = fdopendir(dup(vmfd));
	for (struct dirent *e; d && (e = readdir(d));)
		if (str_has_prefix(e->d_name, ".stage-"))
			rm_rf_at(vmfd, e->d_name);
	if (d)
		closedir(d);
	return record_update(vmfd, mark_start_cut, NULL, err);
}

/* A guest whose state files cannot be read is shown, as broken with the
 * reason, rather than hidden; rm removes it. */
static struct hearth_record *record_broken(const char *name, const char *why)
{
	struct hearth_record *rec = xcalloc(1, sizeof(*rec));
	rec->name = xstrdup(name);
	rec->backend = xstrdup("unknown");
	rec->status = HEARTH_STATUS_BROKEN;
	rec->reason = xasprintf("broken state: %s", why);
	rec->exit_code = -1;
	rec->net_slot = -1;
	return rec;
}

/* A directory made moments ago may not have its record yet. */
#define CREATING_GRACE_S 10

/* NAME's record, reconciled with what really runs: a record whose
 * monitor is gone reads as failed, never as running (the monitor of a
 * guest being started may not have written its pid yet); one that cannot
 * be read reads as broken. Fails only for a guest still being created. */
static int record_reconciled(int vmfd, const char *name, struct hearth_record **ret, struct hearth_error **err)
{
	struct hearth_record *rec = NULL;
	struct hearth_error *bad = NULL;
	if (record_read(vmfd, &rec, &bad) < 0) {
		struct stat st;
		bool young = fstat(vmfd, &st) == 0 && now_unix() - st.st_mtime < CREATING_GRACE_S;
		if (bad->code == ENOENT && young) {
			*err = bad;
			return -1;
		}
		*ret = record_broken(name, bad->message);
		hearth_error_free(bad);
		return 0;
	}
	struct hearth_config *cfg = NULL;
	_cleanup_free_ char *why = NULL;
	if (strcmp(rec->name, name) != 0)
		why = xasprintf("record.json names another guest (%s)", rec->name);
	else if (read_config_at(vmfd, &cfg, &bad) < 0)
		why = steal(bad->message);
	hearth_config_free(cfg);
	hearth_error_free(bad);
	if (why) {
		hearth_record_free(rec);
		*ret = record_broken(name, why);
		return 0;
	}
	const struct hearth_backend_ops *ops = backend_find(rec->backend);
	if (ops && ops->refresh) {
		/* The backend's daemon knows; the record holds no copy to drift. */
		_cleanup_free_ char *dir = state_vm_path(rec->name);
		struct guest g = { .name = rec->name, .dir = dir, .dirfd = vmfd, .rec = rec };
		struct hearth_error *e = NULL;
		if (ops->refresh(&g, rec, &e) < 0) {
			record_set_status(rec, HEARTH_STATUS_FAILED, e->message);
			hearth_error_free(e);
		}
		*ret = rec;
		return 0;
	}
	bool cut = rec->status == HEARTH_STATUS_STARTING && rec->creator_pid > 0 &&
		   !proc_alive(rec->creator_pid, rec->creator_start);
	bool gone = status_active(rec->status) && rec->monitor_pid > 0 &&
		    !proc_alive(rec->monitor_pid, rec->monitor_start);
	if (cut || gone) {
		int rc = cut ? repair_cut_start(vmfd, rec, err) : record_update(vmfd, mark_monitor_gone, NULL, err);
		hearth_record_free(rec);
		rec = NULL;
		if (rc < 0 || record_read(vmfd, &rec, err) < 0)
			return -1;
	}
	*ret = rec;
	return 0;
}

/* Opens NAME's state directory (the root only for as long as that takes). */
static int vm_open_by_name(const char *name, struct hearth_error **err)
{
	_cleanup_close_ int rootfd = state_root_open(err);
	if (rootfd < 0)
		return -1;
	return state_vm_open(rootfd, name, err);
}


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
	struct hearth_error *e = NULL;
	if (record_read(vmfd, &rec, &e) < 0) {
		hearth_error_free(e);
		return false;
	}
	const struct hearth_backend_ops *ops = backend_find(rec->backend);
	hearth_record_free(rec);
	return ops && ops->refresh;
}

static size_t live_guests(int rootfd, struct live_guest **ret, struct hearth_error **err)
{
	char **names;
	size_t n, got = 0;
	*ret = NULL;
	if (state_list_names(rootfd, &names, &n, err) < 0)
		return (size_t)-1;
	struct live_guest *live = xcalloc(n ? n : 1, sizeof(*live));
	for (size_t i = 0; i < n; i++) {
		struct hearth_error *ignored = NULL;
		int vmfd = state_vm_open(rootfd, names[i], &ignored);
		struct hearth_record *rec = NULL;
		/* No daemon is asked under the lock (it may hang): a daemon's
		 * guest has no slot, and the daemon guards its own ports (the
		 * bind probe of check_ports sees them held). */
		if (vmfd >= 0 && daemon_guest(vmfd)) {
			close(vmfd);
			continue;
		}
		if (vmfd >= 0 && record_reconciled(vmfd, names[i], &rec, &ignored) == 0 && status_active(rec->status)) {
			live[got++] = (struct live_guest){ steal(names[i]), steal(rec), steal_fd(&vmfd) };
		}
		if (vmfd >= 0)
			close(vmfd);
		hearth_error_free(ignored);
		hearth_record_free(rec);
	}
	names_free(names, n);
	*ret = live;
	return got;
}

static void live_guests_free(struct live_guest *live, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(live[i].name);
		hearth_record_free(live[i].rec);
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
		struct hearth_error *ignored = NULL;
		struct hearth_config *other = NULL;
		const struct hearth_port *p;
		if (read_config_at(live[i].vmfd, &other, &ignored) == 0 && ports_clash(cfg, other, &p))
			rc = fail_invalid(err, "ports: host port %u/%s is published by guest %s", p->host,
					  p->protocol == HEARTH_PROTO_UDP ? "udp" : "tcp", live[i].name);
		hearth_error_free(ignored);
		hearth_config_free(other);
	}
	for (size_t i = 0; i < cfg->n_ports && rc == 0; i++) {
		const struct hearth_port *p = &cfg->ports[i];
		bool udp = p->protocol == HEARTH_PROTO_UDP;
		struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(p->host) };
		inet_pton(AF_INET, p->host_addr ? p->host_addr : "127.0.0.1", &sa.sin_addr);
		_cleanup_close_ int fd = socket(AF_INET, (udp ? SOCK_DGRAM : SOCK_STREAM) | SOCK_CLOEXEC, 0);
		int one = 1;
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
			rc = hearth_fail(err, HEARTH_ERR_INVALID, errno, "ports: host port %s:%u/%s cannot be bound: %s",
					 p->host_addr ? p->host_addr : "127.0.0.1", p->host, udp ? "udp" : "tcp",
					 strerror(errno));
	}
	return rc;
}

/* WANT (a snapshot's slot) if no live guest holds it, else with WANT < 0
 * the lowest free slot of the bridge. */
static int slot_allocate(const struct live_guest *live, size_t n_live, const struct bridge_cfg *bc, int want,
			 struct hearth_error **err)
{
	unsigned max = bridge_slots(bc);
	if (want >= (int)max)
		return fail_invalid(err, "network: slot %d is outside bridge %s's subnet", want, bc->name);
	const char **holder = xcalloc(max, sizeof(*holder));
	for (size_t i = 0; i < n_live; i++) {
		int s = live[i].rec->net_slot;
		if (s >= 0 && (unsigned)s < max)
			holder[s] = live[i].name;
	}
	int slot = -1;
	if (want >= 0 && holder[want])
		fail_invalid(err, "network: slot %d (the snapshot's address) is held by guest %s", want, holder[want]);
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

/* Creates the guest's directory, config.json and first record under
 * the state lock, so names, ports and bridge slots are never handed out
 * twice. PLAN (bridged guests) gets the slot. */
static int guest_create(int rootfd, struct hearth_config *cfg, const char *backend, const char *network,
			int want_slot, struct net_plan *plan, struct hearth_error **err)
{
	_cleanup_close_ int lock = state_lock(rootfd, err);
	if (lock < 0)
		return -1;
	if (!cfg->name)
		cfg->name = name_generate(rootfd);
	/* Only ports and slots need the other guests: most starts skip this. */
	struct live_guest *live = NULL;
	size_t n_live = cfg->n_ports > 0 || plan ? live_guests(rootfd, &live, err) : 0;
	if (n_live == (size_t)-1)
		return -1;
	struct hearth_record rec = {
		.name = cfg->name,
		.backend = (char *)backend,
		.status = HEARTH_STATUS_STARTING,
		.exit_code = -1,
		.started_at = now_unix(),
		.network = (char *)network,
		.net_slot = -1,
		.creator_pid = getpid(),
		.creator_start = proc_start_time(getpid()),
	};
	if (plan) {
		struct bridge_cfg bc;
		int slot;
		if (bridge_cfg_from_env(&bc, err) < 0 || (slot = slot_allocate(live, n_live, &bc, want_slot, err)) < 0) {
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
	int vmfd = state_vm_create(rootfd, cfg->name, err);
	if (vmfd < 0)
		return -1;
	_cleanup_free_ char *json = hearth_config_to_json(cfg, 0);
	if (write_file_atomic_at(vmfd, "config.json", json, strlen(json), 0600) < 0) {
		fail_errno(err, "state: cannot write config.json: %s", strerror(errno));
		goto fail;
	}
	if (record_write(vmfd, &rec, err) < 0)
		goto fail;
	return vmfd;
fail:
	close(vmfd);
	{
		struct hearth_error *ignored = NULL;
		if (state_vm_remove(rootfd, cfg->name, &ignored) < 0)
			hearth_error_free(ignored);
	}
	return -1;
}

void guest_release(struct guest *g)
{
	free(g->name);
	free(g->dir);
	if (g->dirfd >= 0)
		close(g->dirfd);
	hearth_config_free(g->cfg);
	hearth_record_free(g->rec);
}

/* In the order of enum backend_networks' bits: NET_USER, NET_BRIDGE, NET_NONE. */
static const char *const network_names[] = { "user", "bridge", "none" };

/* The network mode OPTS ask for, checked against what OPS offers. */
static int network_choose(const struct hearth_backend_ops *ops, const char *want, const char **ret,
			  struct hearth_error **err)
{
	*ret = NULL;
	if (!want || strcmp(want, "auto") == 0) {
		*ret = ops->default_network;
		return 0;
	}
	for (size_t i = 0; i < ARRAY_SIZE(network_names); i++) {
		if (strcmp(want, network_names[i]) != 0)
			continue;
		if (ops->networks & (1u << i)) {
			*ret = network_names[i];
			return 0;
		}
		struct strbuf offered = { 0 };
		for (size_t j = 0; j < ARRAY_SIZE(network_names); j++)
			if (ops->networks & (1u << j))
				strbuf_printf(&offered, "%s%s", offered.len ? " and " : "it offers ", network_names[j]);
		int rc = fail_invalid(err, "network: the %s backend has no %s mode (%s)", ops->name, want,
				      offered.len ? offered.buf : "it manages its own network");
		strbuf_release(&offered);
		return rc;
	}
	return fail_invalid(err, "network: want user, bridge or none (%s)", want);
}

/* The start is handed over: from here the monitor (or the daemon)
 * answers for the guest, whatever becomes of this process. */
static void clear_creator(struct hearth_record *rec, void *arg)
{
	(void)arg;
	rec->creator_pid = 0;
	rec->creator_start = 0;
}

static void set_failed(struct hearth_record *rec, void *arg)
{
	record_set_status(rec, HEARTH_STATUS_FAILED, arg);
}

/* Records a start that failed after its VMM ran, and says in ERR where
 * to look: every place named exists until hearth rm. */
static void keep_failed(struct guest *g, struct hearth_error **err)
{
	struct hearth_error *ignored = NULL;
	const char *why = err && *err ? (*err)->message : "start failed";
	if (record_update(g->dirfd, set_failed, (void *)why, &ignored) < 0)
		hearth_error_free(ignored);
	if (!err || !*err)
		return;
	_cleanup_free_ char *hint = xasprintf("%s: %s (kept as failed: hearth logs --hypervisor %s; hearth rm %s)",
					      g->name, (*err)->message, g->name, g->name);
	free((*err)->message);
	(*err)->message = steal(hint);
}

int guest_run_internal(struct hearth_config *cfg, const struct hearth_run_options *opts,
		       const struct guest_start *how, char **ret_name, struct hearth_error **err)
{
	const char *backend, *network;
	const char *want = opts->backend;
	/* A build with a runner runs it, unless a backend was asked for. */
	if ((!want || strcmp(want, "auto") == 0) && cfg->runner_dir)
		want = "microvm-nix";
	if (hearth_config_validate(cfg, err) < 0 || hearth_backend_choose(want, &backend, NULL, err) < 0)
		return -1;
	const struct hearth_backend_ops *ops = backend_find(backend);
	if (network_choose(ops, opts->network, &network, err) < 0)
		return -1;
	bool bridged = network && strcmp(network, "bridge") == 0;
	_cleanup_close_ int rootfd = state_root_open(err);
	if (rootfd < 0)
		return -1;
	struct net_plan plan;
	int vmfd = guest_create(rootfd, cfg, backend, network, how ? how->want_slot : -1, bridged ? &plan : NULL, err);
	if (vmfd < 0)
		return -1;
	struct guest g = { .name = xstrdup(cfg->name), .dir = state_vm_path(cfg->name), .dirfd = vmfd, .cfg = cfg,
			   .opts = opts, .net = bridged ? &plan : NULL };
	/* A jailed VMM opens its TAP as the jail's user. */
	int rc = bridged ? net_plan_attach(&plan, opts->jailer ? opts->jail_uid : getuid(), err) : 0;
	rc = rc < 0 ? -1 : record_read(vmfd, &g.rec, err);
	if (rc == 0)
		rc = how ? how->start(&g, how->arg, err) : ops->start(&g, err);
	g.cfg = NULL; /* the caller's, not ours to free */
	if (rc == 0)
		rc = record_update(vmfd, clear_creator, NULL, err);
	if (rc < 0) {
		if (bridged)
			net_tap_remove(plan.tap);
		if (g.launched) {
			/* The VMM ran: keep the guest, as failed, with the logs
			 * the error points to, until hearth rm. */
			keep_failed(&g, err);
			guest_release(&g);
			return -1;
		}
		struct hearth_error *ignored = NULL;
		if (state_vm_remove(rootfd, cfg->name, &ignored) < 0)
			hearth_error_free(ignored);
		guest_release(&g);
		return -1;
	}
	guest_release(&g);
	if (opts->wait && hearth_guest_wait_ready(cfg->name, opts->timeout_s, err) < 0)
		return -1;
	*ret_name = xstrdup(cfg->name);
	return 0;
}

int hearth_guest_run(struct hearth_config *cfg, const struct hearth_run_options *opts, char **ret_name,
		     struct hearth_error **err)
{
	return guest_run_internal(cfg, opts, NULL, ret_name, err);
}

/* The last N lines of the console, for errors. */
static char *console_tail(int vmfd, int lines)
{
	_cleanup_free_ char *text = NULL;
	size_t len;
	if (read_file_at(vmfd, "console.log", 64 << 20, &text, &len) < 0 || len == 0)
		return xstrdup("(console empty)");
	const char *p = text + len;
	int seen = 0;
	while (p > text && seen <= lines) {
		p--;
		if (*p == '\n')
			seen++;
	}
	if (*p == '\n')
		p++;
	return xstrdup(p);
}

int hearth_guest_wait_ready(const char *name, int timeout_s, struct hearth_error **err)
{
	_cleanup_close_ int vmfd = vm_open_by_name(name, err);
	if (vmfd < 0)
		return -1;
	int64_t deadline = now_ms() + (int64_t)timeout_s * 1000;
	for (;;) {
		struct hearth_record *rec = NULL;
		if (record_reconciled(vmfd, name, &rec, err) < 0)
			return -1;
		enum hearth_status st = rec->status;
		_cleanup_free_ char *reason = rec->reason ? xstrdup(rec->reason) : NULL;
		hearth_record_free(rec);
		if (st == HEARTH_STATUS_RUNNING || st == HEARTH_STATUS_PAUSED)
			return 0;
		if (st != HEARTH_STATUS_STARTING) {
			_cleanup_free_ char *tail = console_tail(vmfd, 10);
			return fail_runtime(err, "%s: guest %s before it was ready (%s); console:\n%s", name,
					    hearth_status_name(st), reason ? reason : "no reason", tail);
		}
		if (now_ms() > deadline) {
			_cleanup_free_ char *tail = console_tail(vmfd, 10);
			struct hearth_error *ignored = NULL;
			if (hearth_guest_stop(name, 0, &ignored) < 0)
				hearth_error_free(ignored);
			return fail_runtime(err, "%s: not ready within %d s, stopped it; console:\n%s", name, timeout_s,
					    tail);
		}
		sleep_ms(READY_POLL_MS);
	}
}

int hearth_guest_get(const char *name, struct hearth_record **ret, struct hearth_error **err)
{
	_cleanup_close_ int vmfd = vm_open_by_name(name, err);
	if (vmfd < 0)
		return -1;
	return record_reconciled(vmfd, name, ret, err);
}

int hearth_guest_list(struct hearth_record ***ret, size_t *ret_n, struct hearth_error **err)
{
	_cleanup_close_ int rootfd = state_root_open(err);
	if (rootfd < 0)
		return -1;
	char **names;
	size_t n;
	if (state_list_names(rootfd, &names, &n, err) < 0)
		return -1;
	struct hearth_record **recs = xcalloc(n, sizeof(*recs));
	size_t got = 0;
	for (size_t i = 0; i < n; i++) {
		struct hearth_error *e = NULL;
		_cleanup_close_ int vmfd = state_vm_open(rootfd, names[i], &e);
		/* A guest being created or removed right now is skipped. */
		if (vmfd >= 0 && record_reconciled(vmfd, names[i], &recs[got], &e) == 0)
			got++;
		hearth_error_free(e);
	}
	names_free(names, n);
	*ret = recs;
	*ret_n = got;
	return 0;
}

int hearth_guest_config(const char *name, struct hearth_config **ret, struct hearth_error **err)
{
	_cleanup_close_ int vmfd = vm_open_by_name(name, err);
	if (vmfd < 0)
		return -1;
	return read_config_at(vmfd, ret, err);
}

/* Opens NAME as a struct guest with its config and reconciled record. */
int guest_open(const char *name, struct guest *g, const struct hearth_backend_ops **ret_ops,
	       struct hearth_error **err)
{
	*g = (struct guest){ .dirfd = -1 };
	_cleanup_close_ int rootfd = state_root_open(err);
	if (rootfd < 0)
		return -1;
	g->dirfd = state_vm_open(rootfd, name, err);
	if (g->dirfd < 0)
		return -1;
	g->name = xstrdup(name);
	g->dir = state_vm_path(name);
	if (record_reconciled(g->dirfd, name, &g->rec, err) < 0) {
		guest_release(g);
		return -1;
	}
	if (g->rec->status == HEARTH_STATUS_BROKEN) {
		int rc = fail_runtime(err, "%s: %s (hearth rm %s removes it)", name, g->rec->reason, name);
		guest_release(g);
		return rc;
	}
	if (read_config_at(g->dirfd, &g->cfg, err) < 0) {
		hearth_error_prefix(err, "%s: ", name);
		guest_release(g);
		return -1;
	}
	*ret_ops = backend_find(g->rec->backend);
	if (!*ret_ops) {
		int rc = fail_runtime(err, "%s: unknown backend in record (%s)", name, g->rec->backend);
		guest_release(g);
		return rc;
	}
	return 0;
}

static void set_stop_requested(struct hearth_record *rec, void *arg)
{
	(void)arg;
	rec->stop_requested = true;
}

static void set_status_arg(struct hearth_record *rec, void *arg)
{
	if (status_active(rec->status))
		record_set_status(rec, *(enum hearth_status *)arg, NULL);
}

/* Waits until the monitor has exited (and so recorded the end). */
static bool wait_monitor_gone(const struct hearth_record *rec, int64_t deadline)
{
	while (proc_alive(rec->monitor_pid, rec->monitor_start)) {
		if (now_ms() > deadline)
			return false;
		sleep_ms(READY_POLL_MS);
	}
	return true;
}

int hearth_guest_stop(const char *name, int timeout_s, struct hearth_error **err)
{
	struct guest g;
	const struct hearth_backend_ops *ops;
	if (guest_open(name, &g, &ops, err) < 0)
		return -1;
	int rc = 0;
	if (!status_active(g.rec->status))
		goto out;
	/* On a full disk the note cannot be written: the stop goes on
	 * (the status then says how it ended, not that it was asked). */
	struct hearth_error *unwritten = NULL;
	if (record_update(g.dirfd, set_stop_requested, NULL, &unwritten) < 0)
		hearth_error_free(unwritten);
	if (ops->stop) {
		rc = ops->stop(&g, timeout_s, err);
		goto out;
	}
	struct hearth_error *soft = NULL;
	if (g.rec->status == HEARTH_STATUS_PAUSED && ops->resume && ops->resume(&g, &soft) < 0)
		hearth_error_free(steal(soft));
	bool asked = timeout_s > 0 && ops->request_stop(&g, &soft) == 0;
	hearth_error_free(steal(soft));
	if (asked && wait_monitor_gone(g.rec, now_ms() + (int64_t)timeout_s * 1000))
		goto out;
	if (ops->force_stop(&g, &soft) < 0)
		hearth_error_free(steal(soft));
	if (wait_monitor_gone(g.rec, now_ms() + 5000))
		goto out;
	/* The VMM ignores us: kill it; the monitor records the end. */
	if (proc_alive(g.rec->vmm_pid, g.rec->vmm_start))
		kill(g.rec->vmm_pid, SIGKILL);
	if (!wait_monitor_gone(g.rec, now_ms() + 5000))
		rc = fail_runtime(err, "%s: the guest did not stop (monitor pid %d)", name, g.rec->monitor_pid);
out:
	guest_release(&g);
	return rc;
}

int hearth_guest_ping(const char *name, struct hearth_error **err)
{
	struct hearth_record *rec = NULL;
	if (hearth_guest_get(name, &rec, err) < 0)
		return -1;
	_cleanup_free_ char *reply = NULL;
	int rc = 0;
	if (rec->status != HEARTH_STATUS_RUNNING)
		rc = fail_invalid(err, "%s: guest is %s, not running", name, hearth_status_name(rec->status));
	else if (agent_request(rec, "ping", &reply, err) < 0)
		rc = -1;
	else if (strcmp(reply, "pong") != 0)
		rc = fail_runtime(err, "%s: agent ping: unexpected answer (%s)", name, reply);
	hearth_record_free(rec);
	return rc;
}

static int pause_resume(const char *name, bool pause, struct hearth_error **err)
{
	struct guest g;
	const struct hearth_backend_ops *ops;
	if (guest_open(name, &g, &ops, err) < 0)
		return -1;
	int rc;
	enum hearth_status want = pause ? HEARTH_STATUS_PAUSED : HEARTH_STATUS_RUNNING;
	enum hearth_status from = pause ? HEARTH_STATUS_RUNNING : HEARTH_STATUS_PAUSED;
	int (*op)(struct guest *, struct hearth_error **) = pause ? ops->pause : ops->resume;
	if (!op)
		rc = fail_invalid(err, "%s: %s is not supported by the %s backend", name, pause ? "pause" : "resume",
				  ops->name);
	else if (g.rec->status != from)
		rc = fail_invalid(err, "%s: guest is %s, not %s", name, hearth_status_name(g.rec->status),
				  hearth_status_name(from));
	else if ((rc = op(&g, err)) == 0)
		rc = record_update(g.dirfd, set_status_arg, &want, err);
	guest_release(&g);
	return rc;
}

int hearth_guest_pause(const char *name, struct hearth_error **err)
{
	return pause_resume(name, true, err);
}

int hearth_guest_resume(const char *name, struct hearth_error **err)
{
	return pause_resume(name, false, err);
}

int hearth_guest_remove(const char *name, bool force, struct hearth_error **err)
{
	struct hearth_record *rec = NULL;
	if (hearth_guest_get(name, &rec, err) < 0)
		return -1;
	bool active = status_active(rec->status);
	bool broken = rec->status == HEARTH_STATUS_BROKEN;
	hearth_record_free(rec);
	if (active && !force)
		return fail_invalid(err, "%s: guest is running; stop it first or use -f", name);
	if (active && hearth_guest_stop(name, 0, err) < 0)
		return -1;
	struct guest g;
	const struct hearth_backend_ops *ops;
	/* A broken guest's files say nothing to act on: only they go. */
	if (!broken) {
		if (guest_open(name, &g, &ops, err) < 0)
			return -1;
		int rc = ops->remove ? ops->remove(&g, err) : 0;
		/* The monitor removes the TAP; one killed outright leaves it to us. */
		net_tap_remove_slot(g.rec->tap, g.rec->net_slot);
		guest_release(&g);
		if (rc < 0)
			return -1;
	}
	_cleanup_close_ int rootfd = state_root_open(err);
	if (rootfd < 0)
		return -1;
	_cleanup_close_ int lock = state_lock(rootfd, err);
	if (lock < 0)
		return -1;
	return state_vm_remove(rootfd, name, err);
}

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

/* Lines in FD, a last one without its newline counted too. */
static uint64_t fd_lines(int fd)
{
	char buf[65536], last = '\n';
	uint64_t n = 0;
	ssize_t r;
	for (off_t off = 0; (r = pread(fd, buf, sizeof(buf), off)) > 0; off += r) {
		for (ssize_t i = 0; i < r; i++)
			n += buf[i] == '\n';
		last = buf[r - 1];
	}
	return n + (last != '\n');
}

static bool same_file(int a, int b)
{
	struct stat sa, sb;
	return fstat(a, &sa) == 0 && fstat(b, &sb) == 0 && sa.st_ino == sb.st_ino && sa.st_dev == sb.st_dev;
}

static int copy_fd(int from, int to)
{
	char buf[8192];
	ssize_t n;
	while ((n = read(from, buf, sizeof(buf))) > 0)
		for (ssize_t off = 0; off < n;) {
			ssize_t w = write(to, buf + off, (size_t)(n - off));
			if (w < 0)
				return -1;
			off += w;
		}
	return n < 0 ? -1 : 0;
}

static bool guest_active(const char *name)
{
	struct hearth_record *r = NULL;
	struct hearth_error *e = NULL;
	if (hearth_guest_get(name, &r, &e) < 0) {
		hearth_error_free(e);
		return false;
	}
	bool active = status_active(r->status);
	hearth_record_free(r);
	return active;
}

int hearth_guest_logs(const char *name, uint64_t lines, bool follow, bool hypervisor, int fd,
		      struct hearth_error **err)
{
	struct guest g;
	const struct hearth_backend_ops *ops;
	if (guest_open(name, &g, &ops, err) < 0)
		return -1;
	if (ops->logs && !hypervisor) {
		int rc = ops->logs(&g, lines, follow, fd, err);
		guest_release(&g);
		return rc;
	}
	/* The monitor rotates the console log into console.log.1. */
	static const char *const console[] = { "console.log.1", "console.log", NULL };
	static const char *const vmm[] = { "hypervisor.log", NULL };
	const char *const *files = !hypervisor ? console : ops->hypervisor_logs ? ops->hypervisor_logs : vmm;
	/* Opened newest first: a rotation meanwhile shows as the same file
	 * under two names, read once. */
	int fds[4] = { -1, -1, -1, -1 };
	size_t n = 0;
	while (files[n] && n < ARRAY_SIZE(fds))
		n++;
	for (size_t i = n; i-- > 0;) {
		fds[i] = openat(g.dirfd, files[i], O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
		if (fds[i] < 0 && errno != ENOENT) {
			int rc = fail_errno(err, "logs: %s: %s", name, strerror(errno));
			for (size_t j = i + 1; j < n; j++)
				close(fds[j]);
			guest_release(&g);
			return rc;
		}
		if (fds[i] >= 0 && i + 1 < n && fds[i + 1] >= 0 && same_file(fds[i], fds[i + 1])) {
			close(fds[i]);
			fds[i] = -1;
		}
	}
	/* The last LINES span the files: what a newer one lacks comes from
	 * the end of the one before it. Every file but the last is printed
	 * whole up to there; the last is followed. */
	uint64_t want[4] = { 0 };
	for (size_t i = n, left = lines; i-- > 0;) {
		want[i] = left;
		if (lines > 0 && fds[i] >= 0) {
			uint64_t have = fd_lines(fds[i]);
			left = have >= left ? 0 : left - have;
		}
	}
	int log = -1, rc = 0;
	for (size_t i = 0; i < n; i++) {
		if (fds[i] < 0)
			continue;
		if (lines > 0 && want[i] == 0) {
			if (i + 1 < n) {
				close(fds[i]);
				continue;
			}
		}
		if (log >= 0)
			close(log);
		log = fds[i];
		if (rc == 0 && ((lines > 0 && lseek(log, tail_offset(log, want[i]), SEEK_SET) < 0) || copy_fd(log, fd) < 0))
			rc = fail_errno(err, "logs: %s: %s", name, strerror(errno));
	}
	if (rc < 0) {
		if (log >= 0)
			close(log);
		guest_release(&g);
		return rc;
	}
	const char *newest = n ? files[n - 1] : NULL;
	int dirfd = g.dirfd;
	g.dirfd = -1; /* kept for following rotations */
	guest_release(&g);
	if (log < 0) {
		close(dirfd);
		return 0;
	}
	while (follow) {
		bool active = guest_active(name);
		sleep_ms(200);
		if (copy_fd(log, fd) < 0) {
			close(log);
			close(dirfd);
			return fail_errno(err, "logs: %s", strerror(errno));
		}
		/* Rotated: what we hold is the older file now, read to its end;
		 * the new one goes on from its start. */
		int cur = openat(dirfd, newest, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
		if (cur >= 0 && !same_file(cur, log)) {
			/* Written up to the rotation, not past it: drain it. */
			if (copy_fd(log, fd) < 0) {
				close(cur);
				close(log);
				close(dirfd);
				return fail_errno(err, "logs: %s", strerror(errno));
			}
			close(log);
			log = cur;
			continue;
		}
		if (cur >= 0)
			close(cur);
		if (!active)
			break;
	}
	close(log);
	close(dirfd);
	return 0;
}
