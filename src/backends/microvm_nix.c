/* The microvm-nix backend: runs RUNNER_DIR/bin/microvm-run, the runner a
 * microvm.nix build makes, under hearth's monitor. The runner fixes its
 * own drives and network in the flake, so hearth refuses what it cannot
 * pass on rather than dropping it. */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>

#include "backend.h"
#include "lib/monitor.h"
#include "lib/proc.h"
#include "lib/state.h"

#define RUNNER "bin/microvm-run"
#define SHUTDOWN "bin/microvm-shutdown"
#define SHUTDOWN_TIMEOUT_MS 10000

static void mvn_probe(struct hearth_ctx *ctx, struct hearth_backend_info *info, bool full)
{
	(void)ctx;
	(void)full;
	info->available = true;
	info->reason = xstrdup("runs a microvm.nix build's " RUNNER " (chosen when a build has one)");
}

/* What a runner cannot be given: its drives and forwards are in the flake. */
static int refuse_unpassable(const struct hearth_config *cfg, struct hearth_error **err)
{
	if (cfg->n_config_files || cfg->n_secret_files)
		return fail_invalid(err,
				    "%s: the microvm-nix runner fixes its own drives; declare them as "
				    "microvm.shares/volumes in the flake, or use --backend qemu (%s)",
				    cfg->n_config_files ? "config_files" : "secret_files",
				    cfg->n_config_files ? cfg->config_files[0].name : cfg->secret_files[0].name);
	if (cfg->n_volumes)
		return fail_invalid(err,
				    "volumes: the microvm-nix runner fixes its own drives; declare them as "
				    "microvm.volumes in the flake, or use --backend qemu (%s)",
				    cfg->volumes[0].guest);
	if (cfg->n_ports)
		return fail_invalid(err,
				    "ports: the microvm-nix runner's forwards are microvm.forwardPorts in the "
				    "flake; use --backend qemu to publish ports (%u:%u)",
				    cfg->ports[0].host, cfg->ports[0].guest);
	return 0;
}

static void record_accel(struct hearth_record *rec, void *accel)
{
	free(rec->accel);
	rec->accel = xstrdup(accel);
}

static int mvn_start(struct guest *g, struct hearth_error **err)
{
	const struct hearth_config *cfg = g->cfg;
	if (!cfg->runner_dir)
		return fail_invalid(err, "runner_dir: required by the microvm-nix backend (a build with %s)", RUNNER);
	_cleanup_free_ char *runner = xasprintf("%s/%s", cfg->runner_dir, RUNNER);
	if (access(runner, X_OK) < 0)
		return fail_invalid(err, "runner_dir: no executable %s (%s)", RUNNER, runner);
	if (refuse_unpassable(cfg, err) < 0)
		return -1;
	/* Runners pick their own accelerator; hearth's verdict is offered
	 * to those that read it (the example flake's does). */
	_cleanup_free_ char *why = NULL;
	const char *accel = qemu_accel_for_host(g->ctx, &why);
	if (record_update(g->dirfd, record_accel, (void *)accel, err) < 0)
		return -1;
	_cleanup_free_ char *env_accel = xasprintf("HEARTH_ACCEL=%s", accel);
	_cleanup_free_ char *env_name = xasprintf("HEARTH_NAME=%s", g->name);
	char *env[] = { env_accel, env_name, NULL };
	char *argv[] = { runner, NULL };
	struct monitor_spec spec = { .argv = argv, .dir = g->dir, .vmm_name = "microvm-run", .env = env };
	if (monitor_launch(g->ctx, &spec, err) < 0) {
		hearth_error_prefix(err, "microvm-nix: start: ");
		return -1;
	}
	return 0;
}

static int signal_runner(struct guest *g, int sig, struct hearth_error **err)
{
	if (!proc_alive(g->rec->vmm_pid, g->rec->vmm_start))
		return 0;
	if (kill(g->rec->vmm_pid, sig) < 0)
		return fail_errno(err, "microvm-nix: kill %d: %s", g->rec->vmm_pid, strerror(errno));
	return 0;
}

/* microvm.nix's own clean stop, run where the runner runs; else SIGTERM. */
static int mvn_request_stop(struct guest *g, struct hearth_error **err)
{
	_cleanup_free_ char *shutdown = xasprintf("%s/%s", g->cfg->runner_dir, SHUTDOWN);
	if (access(shutdown, X_OK) < 0)
		return signal_runner(g, SIGTERM, err);
	char *argv[] = { "/bin/sh", "-c", "cd \"$1\" && exec \"$2\"", "sh", g->dir, shutdown, NULL };
	_cleanup_free_ char *out = NULL;
	int rc = proc_run(argv, SHUTDOWN_TIMEOUT_MS, &out, err);
	if (rc < 0)
		return -1;
	if (rc != 0) {
		out[strcspn(out, "\n")] = '\0';
		return fail_runtime(err, "microvm-nix: %s exited %d: %s", SHUTDOWN, rc, out);
	}
	return 0;
}

static int mvn_force_stop(struct guest *g, struct hearth_error **err)
{
	return signal_runner(g, SIGTERM, err);
}

const struct hearth_backend_ops microvm_nix_backend = {
	.name = "microvm-nix",
	.networks = NET_OWN,
	.caps = 0,
	.needs_runner = true,
	.probe = mvn_probe,
	.start = mvn_start,
	.request_stop = mvn_request_stop,
	.force_stop = mvn_force_stop,
};
