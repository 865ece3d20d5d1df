/* Readiness probes that the core runs (tcp, http, exec: the monitor runs
 * the others, and hearth-init's ready line): once per look at a guest
 * still starting, until one passes; then the guest is running. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>

#include "core.h"
#include "lib/http.h"
#include "lib/state.h"

#define CONNECT_MS 1000
#define HOLD_MS 500 /* a connection a forwarder accepts and then resets is no listener */
#define HTTP_MS 2000

static void set_probe_ok(struct hearth_record *rec, void *arg)
{
	(void)arg;
	rec->probe_ok = true;
	if (rec->status == HEARTH_STATUS_STARTING)
		record_set_status(rec, HEARTH_STATUS_RUNNING, NULL);
}

/* Where the guest's tcp PORT is reached from here: its own address where
 * the host reaches it (a bridge, a container network), else its
 * published port, through a forwarder (QEMU's user-mode network, a
 * proxy). *FORWARDED says which. */
static int endpoint(const struct hearth_config *cfg, const struct hearth_record *rec, unsigned port,
		    struct sockaddr_in *sa, bool *forwarded, char **why)
{
	*sa = (struct sockaddr_in){ .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	*forwarded = false;
	/* QEMU's user-mode address is the guest's alone. */
	if (rec->guest_ip && (!rec->network || strcmp(rec->network, "user") != 0)) {
		char ip[INET_ADDRSTRLEN];
		snprintf(ip, sizeof(ip), "%.*s", (int)strcspn(rec->guest_ip, "/"), rec->guest_ip);
		if (inet_pton(AF_INET, ip, &sa->sin_addr) == 1)
			return 0;
	}
	for (size_t i = 0; cfg && i < cfg->n_ports; i++) {
		const struct hearth_port *p = &cfg->ports[i];
		if (p->guest != port || p->protocol != HEARTH_PROTO_TCP)
			continue;
		const char *addr = p->host_addr && strcmp(p->host_addr, "0.0.0.0") != 0 ? p->host_addr : "127.0.0.1";
		sa->sin_port = htons(p->host);
		*forwarded = true;
		return inet_pton(AF_INET, addr, &sa->sin_addr) == 1 ? 0 : -1;
	}
	*why = xasprintf("its port %u is not published (-p) and it has no address reachable from the host", port);
	return -1;
}

static int probe_tcp(const struct sockaddr_in *sa, char **why)
{
	int fd = socket_cloexec(AF_INET, SOCK_STREAM, 0, true);
	if (fd < 0)
		return *why = xasprintf("socket: %s", strerror(errno)), 0;
	int rc = connect(fd, (const struct sockaddr *)sa, sizeof(*sa));
	struct pollfd p = { fd, POLLOUT, 0 };
	int soerr = 0;
	socklen_t len = sizeof(soerr);
	if (rc < 0 && errno == EINPROGRESS && poll(&p, 1, CONNECT_MS) == 1)
		rc = getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) == 0 && soerr == 0 ? 0 : -1;
	else if (rc < 0)
		soerr = errno;
	bool ok = rc == 0;
	if (ok) {
		/* A port forwarder (QEMU's user-mode network, a proxy) accepts at
		 * once, and closes when nothing listens behind it. */
		struct pollfd r = { fd, POLLIN, 0 };
		char b;
		if (poll(&r, 1, HOLD_MS) == 1 && recv(fd, &b, 1, MSG_PEEK) <= 0) {
			ok = false;
			soerr = ECONNRESET;
		}
	}
	close(fd);
	if (!ok)
		*why = xasprintf("connect: %s", strerror(soerr ? soerr : ETIMEDOUT));
	return ok;
}

static int probe_http(const struct sockaddr_in *sa, const char *path, char **why)
{
	char host[INET_ADDRSTRLEN + 8], ip[INET_ADDRSTRLEN];
	inet_ntop(AF_INET, &sa->sin_addr, ip, sizeof(ip));
	snprintf(host, sizeof(host), "%s:%u", ip, ntohs(sa->sin_port));
	struct http_request req = {
		.host = host, .method = "GET", .path = path, .upload_fd = -1, .timeout_ms = HTTP_MS
	};
	struct http_response resp = { 0 };
	struct hearth_error *e = NULL;
	int ok = 0;
	if (http_do(&req, &resp, &e) < 0)
		*why = xasprintf("GET %s: %s", path, e->message);
	else if (resp.status < 200 || resp.status > 299)
		*why = xasprintf("GET %s: status %ld", path, resp.status);
	else
		ok = 1;
	hearth_error_free(e);
	http_response_release(&resp);
	return ok;
}

static int probe_exec(struct hearth_ctx *ctx, const char *name, const char *cmd, char **why)
{
	char *argv[] = { (char *)"/bin/sh", (char *)"-c", (char *)cmd, NULL };
	int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
	struct hearth_exec ex = {
		.argv = argv, .in_fd = -1, .out_fd = null, .err_fd = null, .tty_fd = -1, .signal_fd = -1
	};
	int status = -1;
	struct hearth_error *e = NULL;
	int rc = guest_exec(ctx, name, &ex, true, &status, &e);
	close(null);
	if (rc < 0)
		*why = xstrdup(e->message);
	else if (status != 0)
		*why = xasprintf("%s: exit status %d", cmd, status);
	hearth_error_free(e);
	return rc == 0 && status == 0;
}

int guest_probe(struct hearth_ctx *ctx, int vmfd, struct hearth_record *rec, bool allow_exec, char **ret_why)
{
	*ret_why = NULL;
	struct hearth_ready pr;
	if (rec->status != HEARTH_STATUS_STARTING || rec->probe_ok || hearth_ready_parse(rec->ready, &pr, NULL) < 0)
		return 0;
	if (pr.kind != HEARTH_READY_TCP && pr.kind != HEARTH_READY_HTTP && pr.kind != HEARTH_READY_EXEC)
		return 0; /* the monitor's or the backend's */
	int ok = 0;
	if (pr.kind == HEARTH_READY_EXEC) {
		if (!rec->agent_ready)
			*ret_why = xstrdup("hearth-init is not ready yet");
		else if (allow_exec)
			ok = probe_exec(ctx, rec->name, pr.arg, ret_why);
	} else {
		struct hearth_config *cfg = NULL;
		struct sockaddr_in sa;
		bool forwarded;
		if (guest_config_read(vmfd, &cfg, NULL) < 0 ||
		    endpoint(cfg, rec, pr.port, &sa, &forwarded, ret_why) < 0)
			ok = 0;
		else if (pr.kind == HEARTH_READY_HTTP)
			ok = probe_http(&sa, pr.arg, ret_why);
		else if (forwarded && !rec->agent_ready)
			/* A forwarder accepts before the guest's network is up; once
			 * hearth-init is, a port nobody listens on is closed at once. */
			*ret_why = xstrdup("a forwarded port tells a listener only once hearth-init is up");
		else
			ok = probe_tcp(&sa, ret_why);
		hearth_config_free(cfg);
	}
	if (!ok)
		return 0;
	IGNORE_FAILURE(record_update(vmfd, set_probe_ok, NULL, NULL));
	set_probe_ok(rec, NULL);
	return 1;
}
