/* The Docker backend: the Docker Engine API on its unix socket (libcurl),
 * kept to the part Podman's compatible socket serves too. The Engine is
 * the supervisor: status comes from it, never from a copy of ours. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "backend.h"
#include "container_ready.h"
#include "engine_files.h"
#include "docker.h"
#include "hearth/agent_proto.h"
#include "lib/agent.h"
#include "lib/drive.h"
#include "lib/http.h"
#include "lib/json.h"
#include "lib/monitor.h"
#include "lib/proc.h"
#include "lib/state.h"

#define API "/v1.41"
#define API_MIN_MINOR 40 /* 1.40: Podman's compatible API, Docker 19.03 */

/* The socket of the context's DOCKER_HOST (unix:// only). */
static char *docker_socket(const struct hearth_ctx *ctx, char **ret_why)
{
	const char *host = ctx_get(ctx, HEARTH_SETTING_DOCKER_HOST);
	if (str_has_prefix(host, "unix://"))
		return xstrdup(host + 7);
	*ret_why = xasprintf("DOCKER_HOST=%s: only unix:// sockets are supported", host);
	return NULL;
}

int engine_send(struct hearth_ctx *ctx, struct http_request *req, const char *path, struct http_response *resp,
		struct hearth_error **err)
{
	_cleanup_free_ char *why = NULL;
	_cleanup_free_ char *sock = docker_socket(ctx, &why);
	if (!sock)
		return fail_runtime(err, "docker: %s", why);
	/* Once a call found the Engine silent, later calls with this context
	 * fail at once rather than wait out the same silence again. */
	if (ctx->engine_silent)
		return hearth_fail(err, HEARTH_ERR_RUNTIME, ETIMEDOUT, "docker: the Engine at %s did not answer", sock);
	_cleanup_free_ char *full = xasprintf(API "%s", path);
	req->socket_path = sock;
	req->path = full;
	/* Uploads are bounded by the stall limit of http_do; calls by time. */
	if (!req->timeout_ms && req->upload_fd < 0)
		req->timeout_ms = ENGINE_CALL_MS;
	struct hearth_error *e = NULL;
	int rc = http_do(req, resp, &e);
	req->socket_path = req->path = NULL;
	if (rc < 0 && e->code == ETIMEDOUT)
		ctx->engine_silent = true;
	if (rc < 0) {
		hearth_error_prefix(&e, "docker: is dockerd running? ");
		hearth_error_pass(err, e);
	}
	return rc;
}

/* One call to the Engine. Non-2xx answers become an error with the
 * Engine's own message; *RET_STATUS (may be NULL) gets the status. */
int engine(struct hearth_ctx *ctx, const char *method, const char *path, json_t *body, json_t **ret, long *ret_status,
	   struct hearth_error **err)
{
	return engine_timed(ctx, method, path, body, ret, ret_status, 0, err);
}

int engine_timed(struct hearth_ctx *ctx, const char *method, const char *path, json_t *body, json_t **ret,
		 long *ret_status, int timeout_ms, struct hearth_error **err)
{
	struct http_request req = { .method = method, .body = body, .upload_fd = -1, .timeout_ms = timeout_ms };
	struct http_response resp = { 0 };
	if (engine_send(ctx, &req, path, &resp, err) < 0)
		return -1;
	if (ret_status)
		*ret_status = resp.status;
	int rc = 0;
	if (resp.status < 200 || resp.status >= 300) {
		char msg[512];
		rc = hearth_fail(err, resp.status == 404 ? HEARTH_ERR_NOT_FOUND : HEARTH_ERR_RUNTIME, EIO, "docker: %s",
				 http_error_message(&resp, msg, sizeof(msg)));
	} else if (ret) {
		*ret = resp.len ? json_loads(resp.body, JSON_DECODE_ANY, NULL) : json_null();
	}
	http_response_release(&resp);
	return rc;
}

static char *container_path(const char *name, const char *rest)
{
	return xasprintf("/containers/hearth-%s%s", name, rest);
}

static void docker_probe(struct hearth_ctx *ctx, struct hearth_backend_info *info, bool full)
{
	(void)full;
	_cleanup_free_ char *why = NULL;
	_cleanup_free_ char *sock = docker_socket(ctx, &why);
	if (!sock) {
		info->reason = steal(why);
		return;
	}
	struct hearth_error *err = NULL;
	json_t *v = NULL;
	/* /version is unversioned, so an old Engine still answers it. */
	struct http_request req = {
		.socket_path = sock, .method = "GET", .path = "/version", .upload_fd = -1, .timeout_ms = 3000
	};
	struct http_response resp = { 0 };
	if (http_do(&req, &resp, &err) < 0) {
		info->reason = xasprintf("no Docker Engine at %s (%s)", sock, err->message);
		hearth_error_free(err);
		return;
	}
	v = json_loads(resp.body ? resp.body : "", 0, NULL);
	http_response_release(&resp);
	const char *api = json_string_value(json_object_get(v, "ApiVersion"));
	const char *version = json_string_value(json_object_get(v, "Version"));
	unsigned major = 0, minor = 0;
	if (!api || sscanf(api, "%u.%u", &major, &minor) != 2 || major != 1 || minor < API_MIN_MINOR) {
		info->reason = xasprintf("Engine at %s speaks API %s; hearth needs 1.%d or newer", sock,
					 api ? api : "?", API_MIN_MINOR);
	} else {
		info->available = true;
		info->version = xasprintf("%s (API %s)", version ? version : "?", api);
		info->reason = xasprintf("Docker Engine at %s", sock);
	}
	json_decref(v);
}

json_t *docker_container_spec(const struct guest *g, const char *image)
{
	const struct hearth_config *cfg = g->cfg;
	json_t *env = json_array();
	json_array_append_new(env, json_sprintf("HEARTH_NAME=%s", g->name));
	json_array_append_new(env, json_string("HEARTH_CONTAINER=1"));
	struct strbuf vols = { 0 };
	strbuf_append(&vols, "", 0);
	for (size_t i = 0; i < cfg->n_volumes; i++)
		strbuf_printf(&vols, "%s%s", i ? " " : "", cfg->volumes[i].guest);
	json_array_append_new(env, json_sprintf("HEARTH_VOLUMES=%s", vols.buf));
	strbuf_release(&vols);

	json_t *labels = json_pack("{s:s, s:s}", "hearth.managed", "true", "hearth.name", g->name);
	if (cfg->revision_hash)
		json_object_set_new(labels, "hearth.revision", json_string(cfg->revision_hash));
	if (cfg->flake_ref)
		json_object_set_new(labels, "hearth.flake_ref", json_string(cfg->flake_ref));
	if (cfg->profile)
		json_object_set_new(labels, "hearth.profile", json_string(cfg->profile));

	json_t *exposed = json_object(), *bindings = json_object();
	for (size_t i = 0; i < cfg->n_ports; i++) {
		const struct hearth_port *p = &cfg->ports[i];
		char key[32], host[8];
		snprintf(key, sizeof(key), "%u/%s", p->guest, p->protocol == HEARTH_PROTO_UDP ? "udp" : "tcp");
		snprintf(host, sizeof(host), "%u", p->host);
		json_object_set_new(exposed, key, json_object());
		json_t *list = json_object_get(bindings, key);
		if (!list) {
			list = json_array();
			json_object_set_new(bindings, key, list);
		}
		json_array_append_new(list, json_pack("{s:s, s:s}", "HostIp", p->host_addr ? p->host_addr : "127.0.0.1",
						      "HostPort", host));
	}

	json_t *binds = json_array(), *mounts = json_array();
	json_array_append_new(binds, json_sprintf("%s/config:/mnt/config:ro", g->dir));
	json_array_append_new(binds, json_sprintf("%s/secrets:/mnt/secrets:ro", g->dir));
	for (size_t i = 0; i < cfg->n_volumes; i++) {
		const struct hearth_volume *v = &cfg->volumes[i];
		if (strchr(v->host, '/'))
			json_array_append_new(binds,
					      json_sprintf("%s:%s%s", v->host, v->guest, v->read_only ? ":ro" : ""));
		else
			json_array_append_new(mounts, json_pack("{s:s, s:s, s:s, s:b}", "Type", "volume", "Source",
								v->host, "Target", v->guest, "ReadOnly", v->read_only));
	}
	/* The agent's socket lives in the container's own tmpfs: the guest
	 * gets no writable host directory; hearth reaches the socket through
	 * the container's root (lib/agent.c). */
	json_t *host = json_pack("{s:I, s:I, s:o, s:o, s:o, s:{s:s}}", "NanoCpus", (json_int_t)cfg->cpus * 1000000000,
				 "Memory", (json_int_t)cfg->memory_mib << 20, "PortBindings", bindings, "Binds", binds,
				 "Mounts", mounts, "Tmpfs", HEARTH_CONTAINER_AGENT_DIR, "mode=0700,size=1m");
	/* The console log is bounded as a VM's is: two files of the cap. */
	char cap[32];
	snprintf(cap, sizeof(cap), "%llu", (unsigned long long)ctx_console_log_max(g->ctx));
	json_object_set_new(
		host, "LogConfig",
		json_pack("{s:s, s:{s:s, s:s}}", "Type", "json-file", "Config", "max-size", cap, "max-file", "2"));
	json_t *spec = json_pack("{s:s, s:s, s:[s], s:[], s:o, s:o, s:o, s:o}", "Image", image, "Hostname", g->name,
				 "Entrypoint", cfg->image ? HEARTH_IMAGE_INIT : "/sbin/init", "Cmd", "Env", env,
				 "Labels", labels, "ExposedPorts", exposed, "HostConfig", host);
	if (cfg->image) {
		/* hearth-init from the host, as root: it takes the image's User
		 * and WorkingDir from workload.json for the workload. */
		json_array_append_new(binds, json_sprintf("%s/hearth-init:" HEARTH_IMAGE_INIT ":ro",
							  ctx_get(g->ctx, HEARTH_SETTING_DATA_DIR)));
		json_object_set_new(spec, "User", json_string("0:0"));
		json_object_set_new(spec, "WorkingDir", json_string("/"));
		json_object_set_new(labels, "hearth.image", json_string(cfg->image));
	}
	return spec;
}

static void container_remove(struct hearth_ctx *ctx, const char *name)
{
	_cleanup_free_ char *path = container_path(name, "?force=1");
	IGNORE_FAILURE(engine(ctx, "DELETE", path, NULL, NULL, NULL, NULL));
}

static int docker_start(struct guest *g, struct hearth_error **err)
{
	struct hearth_ctx *ctx = g->ctx;
	const struct hearth_config *cfg = g->cfg;
	if (engine_volumes_check(cfg, "docker", err) < 0)
		return -1;
	/* On a restart an ephemeral guest's container is made anew, a
	 * persistent one's started again. */
	bool keep = g->restart && hearth_config_persistent(cfg);
	if (g->restart && !keep)
		container_remove(ctx, g->name);
	/* An image guest: the Engine's copy of the image, hearth-init bound
	 * in beside it and the image's workload for it in config/. */
	_cleanup_free_ char *w = cfg->image ? docker_image_workload(ctx, cfg, err) : NULL;
	if ((cfg->image && !w) || engine_files_write(g, w, err) < 0)
		return -1;
	_cleanup_free_ char *image = NULL;
	if (cfg->image)
		image = xasprintf(DOCKER_IMAGE_REPO ":%s", cfg->image_digest + 7);
	else if (!(image = docker_ensure_image(g, err)))
		return -1;
	if (!keep) {
		json_t *spec = docker_container_spec(g, image);
		_cleanup_free_ char *create = xasprintf("/containers/create?name=hearth-%s", g->name);
		int rc = engine(ctx, "POST", create, spec, NULL, NULL, err);
		json_decref(spec);
		if (rc < 0)
			return -1;
	}
	_cleanup_free_ char *start = container_path(g->name, "/start");
	struct hearth_error *e = NULL;
	if (engine(ctx, "POST", start, NULL, NULL, NULL, &e) < 0) {
		if (!keep) /* a persistent guest's container holds its disk */
			container_remove(ctx, g->name);
		if (strstr(e->message, "port is already allocated") || strstr(e->message, "address already in use")) {
			e->kind = HEARTH_ERR_CONFLICT;
			hearth_error_prefix(&e, "ports: host port in use: ");
		}
		hearth_error_pass(err, e);
		return -1;
	}
	return 0;
}

/* The Engine's log stream of a container without a terminal: frames of
 * an 8-byte header (stream, size) and the bytes, handed to SINK. */
struct demux {
	int (*sink)(const char *data, size_t len, void *arg); /* nonzero: stop */
	void *arg;
	unsigned char header[8];
	size_t have; /* header bytes collected */
	size_t left; /* payload bytes still to hand on */
};

static int demux(const char *data, size_t len, void *arg)
{
	struct demux *d = arg;
	while (len > 0) {
		if (d->left == 0) {
			size_t take = sizeof(d->header) - d->have < len ? sizeof(d->header) - d->have : len;
			memcpy(d->header + d->have, data, take);
			d->have += take;
			data += take;
			len -= take;
			if (d->have == sizeof(d->header)) {
				d->left = (size_t)d->header[4] << 24 | (size_t)d->header[5] << 16 |
					  (size_t)d->header[6] << 8 | d->header[7];
				d->have = 0;
			}
			continue;
		}
		size_t take = d->left < len ? d->left : len;
		if (d->sink(data, take, d->arg))
			return 1;
		d->left -= take;
		data += take;
		len -= take;
	}
	return 0;
}

static int write_to_fd(const char *data, size_t len, void *arg)
{
	return write(*(int *)arg, data, len) != (ssize_t)len;
}

/* The container's whole log since its start, handed to SINK. */
static int docker_read_log(struct guest *g, int (*sink)(const char *data, size_t len, void *arg), void *arg)
{
	_cleanup_free_ char *path = container_path(g->name, "/logs?stdout=1&stderr=1");
	struct demux d = { .sink = sink, .arg = arg };
	struct http_request req = { .method = "GET", .upload_fd = -1, .on_data = demux, .arg = &d, .timeout_ms = 5000 };
	struct http_response resp = { 0 };
	int rc = engine_send(g->ctx, &req, path, &resp, NULL);
	http_response_release(&resp);
	return rc;
}

static int docker_refresh(struct guest *g, struct hearth_record *rec, struct hearth_error **err)
{
	struct hearth_ctx *ctx = g->ctx;
	_cleanup_free_ char *path = container_path(g->name, "/json");
	json_t *c = NULL;
	long status = 0;
	struct hearth_error *e = NULL;
	if (engine_timed(ctx, "GET", path, NULL, &c, &status, ENGINE_QUICK_MS, &e) < 0) {
		if (status != 404) {
			*err = e;
			return -1;
		}
		hearth_error_free(e);
		/* Never created, or removed behind hearth's back. */
		_cleanup_free_ char *why = xasprintf("container hearth-%s is gone", g->name);
		record_set_status(rec, HEARTH_STATUS_FAILED, why);
		return 0;
	}
	json_t *st = json_object_get(c, "State");
	const char *s = json_string_value(json_object_get(st, "Status"));
	const char *started = json_string_value(json_object_get(st, "StartedAt"));
	int code = (int)json_integer_value(json_object_get(st, "ExitCode"));
	json_t *net = json_object_get(c, "NetworkSettings");
	const char *ip = json_string_value(json_object_get(net, "IPAddress"));
	int prefix = (int)json_integer_value(json_object_get(net, "IPPrefixLen"));
	const char *gw = json_string_value(json_object_get(net, "Gateway"));
	free(rec->guest_ip);
	rec->guest_ip = ip && *ip ? xasprintf("%s/%d", ip, prefix) : NULL;
	free(rec->gateway);
	rec->gateway = gw && *gw ? xstrdup(gw) : NULL;
	free(rec->guest_channel);
	int pid = (int)json_integer_value(json_object_get(st, "Pid"));
	rec->guest_channel = pid > 0 ? xasprintf("/proc/%d/root" HEARTH_CONTAINER_AGENT_SOCK, pid) : NULL;
	rec->exit_code = -1;
	rec->stopped_at = 0;
	if (!s)
		s = "dead";
	if (strcmp(s, "running") == 0) {
		record_set_status(rec,
				  container_ready_as_probed(g, rec, started ? started : "", docker_read_log)
					  ? HEARTH_STATUS_RUNNING
					  : HEARTH_STATUS_STARTING,
				  NULL);
	} else if (strcmp(s, "paused") == 0) {
		record_set_status(rec, HEARTH_STATUS_PAUSED, NULL);
	} else if (strcmp(s, "created") == 0 && rec->creator_pid > 0 &&
		   !proc_alive(rec->creator_pid, rec->creator_start)) {
		/* Created, never started: the command starting it died between. */
		record_set_status(rec, HEARTH_STATUS_FAILED,
				  "start interrupted: the command starting it ended before handing it over");
	} else if (strcmp(s, "created") == 0 || strcmp(s, "restarting") == 0) {
		record_set_status(rec, HEARTH_STATUS_STARTING, NULL);
	} else if (json_is_true(json_object_get(st, "OOMKilled"))) {
		record_set_status(rec, HEARTH_STATUS_FAILED, "killed: out of memory");
		rec->exit_code = code;
	} else if (strcmp(s, "exited") == 0 || strcmp(s, "removing") == 0) {
		/* The Engine's stop kills with 137 after its timeout. */
		_cleanup_free_ char *why = !rec->stop_requested ? xasprintf("exited on its own with code %d", code)
					   : code == 137	? xstrdup("killed after the stop timeout")
								: xstrdup("stopped by request");
		record_set_status(rec, HEARTH_STATUS_STOPPED, why);
		rec->exit_code = code;
		/* A workload that ended at once: was hearth-init ready first? */
		rec->agent_ready = container_log_ready(g, started ? started : "", NULL, docker_read_log);
	} else {
		const char *msg = json_string_value(json_object_get(st, "Error"));
		record_set_status(rec, HEARTH_STATUS_FAILED, msg && *msg ? msg : "container is dead");
	}
	json_decref(c);
	return 0;
}

static int docker_stop(struct guest *g, int timeout_s, struct hearth_error **err)
{
	struct hearth_ctx *ctx = g->ctx;
	_cleanup_free_ char *path = container_path(g->name, "");
	_cleanup_free_ char *stop = xasprintf("%s/stop?t=%d", path, timeout_s);
	/* The Engine sends SIGTERM (hearth-init stops the workload), then
	 * SIGKILL after T; it answers 304 when already stopped. */
	if (g->rec->status == HEARTH_STATUS_PAUSED) {
		_cleanup_free_ char *unpause = xasprintf("%s/unpause", path);
		IGNORE_FAILURE(engine(ctx, "POST", unpause, NULL, NULL, NULL, NULL));
	}
	/* The Engine answers once the container is down: T and then some. */
	return engine_timed(ctx, "POST", stop, NULL, NULL, NULL, timeout_s * 1000 + ENGINE_CALL_MS, err);
}

static int docker_pause(struct guest *g, struct hearth_error **err)
{
	struct hearth_ctx *ctx = g->ctx;
	_cleanup_free_ char *path = container_path(g->name, "/pause");
	return engine(ctx, "POST", path, NULL, NULL, NULL, err);
}

static int docker_resume(struct guest *g, struct hearth_error **err)
{
	struct hearth_ctx *ctx = g->ctx;
	_cleanup_free_ char *path = container_path(g->name, "/unpause");
	return engine(ctx, "POST", path, NULL, NULL, NULL, err);
}

static int docker_remove(struct guest *g, struct hearth_error **err)
{
	struct hearth_ctx *ctx = g->ctx;
	(void)err;
	container_remove(ctx, g->name); /* 404 is fine: already gone */
	return 0;
}

/* The log stream of a container without a TTY is multiplexed: frames of
 * an 8-byte header (stream, 0, 0, 0, big-endian size) and the payload. */

static int docker_logs(struct guest *g, uint64_t lines, bool follow, int fd, struct hearth_error **err)
{
	struct hearth_ctx *ctx = g->ctx;
	char tail[24] = "all";
	if (lines)
		snprintf(tail, sizeof(tail), "%llu", lines == LOGS_FROM_NOW ? 0ULL : (unsigned long long)lines);
	_cleanup_free_ char *path =
		xasprintf("/containers/hearth-%s/logs?stdout=1&stderr=1&tail=%s&follow=%d", g->name, tail, follow);
	struct demux d = { .sink = write_to_fd, .arg = &fd };
	struct http_request req = { .method = "GET", .upload_fd = -1, .on_data = demux, .arg = &d };
	struct http_response resp = { 0 };
	if (engine_send(ctx, &req, path, &resp, err) < 0)
		return -1;
	int rc = 0;
	if (resp.status == 404)
		rc = 0; /* never started: nothing logged */
	else if (resp.status != 200)
		rc = fail_runtime(err, "docker: logs: status %ld", resp.status);
	http_response_release(&resp);
	return rc;
}

/* Sessions through the container's own /run/hearth, as the agent. */
static int docker_session_open(struct guest *g, int *ret_lock, struct hearth_error **err)
{
	(void)ret_lock;
	int pid = 0;
	if (!g->rec->guest_channel || sscanf(g->rec->guest_channel, "/proc/%d/", &pid) != 1)
		return fail_runtime(err, "exec: the container has no agent channel");
	_cleanup_free_ char *path = xasprintf("/proc/%d/root" AP_SESSION_SOCK, pid);
	return agent_connect(path, err);
}

const struct hearth_backend_ops docker_backend = {
	.name = "docker",
	.networks = NET_OWN,
	.caps = HEARTH_CAP_PAUSE_RESUME,
	.probe = docker_probe,
	.start = docker_start,
	.pause = docker_pause,
	.resume = docker_resume,
	.session_open = docker_session_open,
	.refresh = docker_refresh,
	.stop = docker_stop,
	.remove = docker_remove,
	.logs = docker_logs,
	.image_prepare = docker_image_prepare,
};
