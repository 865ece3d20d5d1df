/* hearth-init: PID 1 of every hearth guest (or stage-1 from an initrd).
 * It mounts what the guest contract promises, configures the network
 * from the kernel command line, runs the workload, reaps zombies, and
 * powers the machine off cleanly, whatever happens. */
#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <linux/magic.h>
#include <linux/vm_sockets.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "hearth/contract.h"
#include "hearth/copy_stream.h"

#include "disks.h"
#include "identity.h"
#include "net.h"
#include "params.h"
#include "relay.h"
#include "sessions.h"
#include "volumes.h"
#include "workload.h"
#include <grp.h>

#define VOLUMES_JSON HEARTH_CONFIG_MOUNT "/" HEARTH_VOLUMES_JSON
#define WORKLOAD_JSON HEARTH_CONFIG_MOUNT "/" HEARTH_WORKLOAD_JSON
#define AGENT_RETRY_MS 25
#define DEFAULT_PATH "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

static struct guest_params params;
static bool in_container;
static struct guest_volume volumes[GUEST_VOLUMES_MAX];
static int nvolumes;
static bool config_mounted, secrets_mounted;
static struct workload image_workload; /* argv NULL: none, /etc/hearth/start runs */

/* A console line; the contract's lines go out whole, others get the
 * "hearth-init: " prefix from say(). */
__attribute__((format(printf, 1, 2))) static void line(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vprintf(fmt, ap);
	printf("\n");
	fflush(stdout);
	va_end(ap);
}

__attribute__((format(printf, 1, 2))) static void say(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	printf("hearth-init: ");
	vprintf(fmt, ap);
	printf("\n");
	fflush(stdout);
	va_end(ap);
}

#define error(...) say("error: " __VA_ARGS__)

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static int mount_one(const char *src, const char *dst, const char *type, unsigned long flags, const char *data)
{
	mkdir(dst, 0755);
	if (mount(src, dst, type, flags, data) == 0 || errno == EBUSY)
		return 0;
	error("mount %s on %s (%s): %s", src, dst, type, strerror(errno));
	return -1;
}

static int mount_early(void)
{
	int rc = 0;
	rc |= mount_one("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
	rc |= mount_one("sysfs", "/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
	rc |= mount_one("devtmpfs", "/dev", "devtmpfs", MS_NOSUID, "mode=0755");
	rc |= mount_one("tmpfs", "/run", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755");
	rc |= mount_one("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777");
	mount_one("devpts", "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC, "mode=0620,ptmxmode=0666");
	return rc;
}

static int read_small_file(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	size_t off = 0;
	ssize_t n;
	while (off < len - 1 && (n = read(fd, buf + off, len - 1 - off)) > 0)
		off += (size_t)n;
	close(fd);
	buf[off] = '\0';
	return 0;
}

/* Waits for a device node that devtmpfs creates asynchronously. */
static int wait_for_disk(const char *spec, char *dev, size_t devlen)
{
	for (int i = 0; i < 100; i++) {
		if (strncmp(spec, "LABEL=", 6) == 0) {
			if (disk_find_by_label(spec + 6, dev, devlen) == 0)
				return 0;
		} else if (access(spec, F_OK) == 0) {
			snprintf(dev, devlen, "%s", spec);
			return 0;
		}
		sleep_ms(50);
	}
	return -1;
}

/* Stage-1: mount the real root and hand PID 1 to its init. Returns only
 * on failure. */
static void switch_root(char **argv)
{
	char dev[64];
	const char *init = params.init[0] ? params.init : "/sbin/init";
	say("stage-1: switching to root %s", params.root);
	if (wait_for_disk(params.root, dev, sizeof(dev)) < 0) {
		error("stage-1: root device %s did not appear", params.root);
		return;
	}
	if (mount_one(dev, "/newroot", "ext4", 0, NULL) < 0)
		return;
	static const char *const moved[] = { "/dev", "/proc", "/sys", "/run", "/tmp" };
	for (size_t i = 0; i < sizeof(moved) / sizeof(moved[0]); i++) {
		char target[64];
		snprintf(target, sizeof(target), "/newroot%s", moved[i]);
		mkdir(target, 0755);
		if (mount(moved[i], target, NULL, MS_MOVE, NULL) < 0)
			umount2(moved[i], MNT_DETACH);
	}
	if (chdir("/newroot") < 0 || mount(".", "/", NULL, MS_MOVE, NULL) < 0 || chroot(".") < 0 || chdir("/") < 0) {
		error("stage-1: switch_root: %s", strerror(errno));
		return;
	}
	argv[0] = (char *)init;
	execv(init, argv);
	error("stage-1: exec %s: %s", init, strerror(errno));
}

static int setup_network(void)
{
	if (net_link_up("lo") < 0) {
		error("network: lo up: %s", strerror(errno));
		return -1;
	}
	if (!params.has_ip)
		return 0;
	if (net_addr_add("eth0", params.ip, params.prefix) < 0) {
		error("network: eth0 address %s/%u: %s", params.ip, params.prefix, strerror(errno));
		return -1;
	}
	if (net_link_up("eth0") < 0) {
		error("network: eth0 up: %s", strerror(errno));
		return -1;
	}
	if (params.has_gw && net_route_default(params.gw) < 0) {
		error("network: default route via %s: %s", params.gw, strerror(errno));
		return -1;
	}
	return 0;
}

/* Mounts the drive labelled LABEL at DIR read-only; absent is fine. */
static int mount_labelled(const char *label, const char *dir, mode_t mode, bool *mounted)
{
	char dev[64];
	if (disk_find_by_label(label, dev, sizeof(dev)) < 0)
		return 0;
	mkdir(dir, mode);
	chmod(dir, mode);
	if (mount(dev, dir, "ext4", MS_RDONLY | MS_NOSUID | MS_NODEV, NULL) < 0) {
		error("mount %s (%s) on %s: %s", label, dev, dir, strerror(errno));
		return -1;
	}
	*mounted = true;
	return 0;
}

static int mkdir_p(const char *path, mode_t mode)
{
	char buf[256];
	snprintf(buf, sizeof(buf), "%s", path);
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, mode) < 0 && errno != EEXIST)
			return -1;
		*p = '/';
	}
	return mkdir(buf, mode) < 0 && errno != EEXIST ? -1 : 0;
}

static int mount_volumes(void)
{
	char json[16384], err[256];
	if (!config_mounted || read_small_file(VOLUMES_JSON, json, sizeof(json)) < 0)
		return 0;
	nvolumes = guest_volumes_parse(json, volumes, err, sizeof(err));
	if (nvolumes < 0) {
		nvolumes = 0;
		error("%s", err);
		return -1;
	}
	for (int i = 0; i < nvolumes; i++) {
		struct guest_volume *v = &volumes[i];
		char dev[64];
		if (!v->serial[0] || disk_find_by_serial(v->serial, dev, sizeof(dev)) < 0)
			snprintf(dev, sizeof(dev), "/dev/%s", v->device);
		if (mkdir_p(v->path, 0755) < 0) {
			error("volume %s: mkdir: %s", v->path, strerror(errno));
			nvolumes = i;
			return -1;
		}
		unsigned long flags = MS_NOSUID | MS_NODEV | (v->read_only ? MS_RDONLY : 0);
		if (mount(dev, v->path, "ext4", flags, NULL) < 0) {
			error("volume %s (%s): mount: %s", v->path, dev, strerror(errno));
			nvolumes = i;
			return -1;
		}
		say("volume %s mounted%s", v->path, v->read_only ? " read-only" : "");
	}
	return 0;
}

/* The agent channel: a virtio-serial port named hearth.agent. */
static int agent_open(void)
{
	DIR *d = opendir("/sys/class/virtio-ports");
	if (!d)
		return -1;
	struct dirent *e;
	int fd = -1;
	while ((e = readdir(d))) {
		char path[300], name[64];
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/sys/class/virtio-ports/%s/name", e->d_name);
		if (read_small_file(path, name, sizeof(name)) < 0)
			continue;
		name[strcspn(name, "\n")] = '\0';
		if (strcmp(name, HEARTH_AGENT_PORT_NAME) != 0)
			continue;
		snprintf(path, sizeof(path), "/dev/%s", e->d_name);
		fd = open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
		/* A host connecting raises SIGIO (as on the session ports): a
		 * restored guest hears its identity at once, not at the next
		 * retry of a port nobody held. */
		if (fd >= 0) {
			fcntl(fd, F_SETOWN, getpid());
			fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_ASYNC);
		}
		break;
	}
	closedir(d);
	return fd;
}

/* In a container the agent channel is a unix socket in /run/hearth, a
 * directory private to the container (a tmpfs): the host reaches the
 * socket through the container's root, and no host directory is writable. */

static int agent_listen(void)
{
	struct stat st;
	if (stat(HEARTH_CONTAINER_AGENT_DIR, &st) < 0 || !S_ISDIR(st.st_mode))
		return -1; /* no channel given */
	struct sockaddr_un sa = { .sun_family = AF_UNIX, .sun_path = HEARTH_CONTAINER_AGENT_SOCK };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	unlink(HEARTH_CONTAINER_AGENT_SOCK);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 4) < 0) {
		error("agent: %s: %s", HEARTH_CONTAINER_AGENT_SOCK, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

/* In a VM without a virtio-serial agent port (Firecracker), the agent
 * listens on vsock port 52; the host reaches it through the VMM's
 * socket ("CONNECT 52"). */

static int vsock_listen(void)
{
	struct sockaddr_vm sa = { .svm_family = AF_VSOCK,
				  .svm_port = HEARTH_AGENT_VSOCK_PORT,
				  .svm_cid = VMADDR_CID_ANY };
	int fd = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1; /* no vsock in this kernel */
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 4) < 0) {
		error("agent: vsock port %d: %s", HEARTH_AGENT_VSOCK_PORT, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

/* An answer on the agent channel. The host's bytes can reach the port
 * before the port-open message that makes it writable: a write then
 * fails with EAGAIN for a moment, so try again (up to a second). */
static void agent_reply(int fd, const char *text, size_t len)
{
	for (int tries = 0; len > 0 && tries < 20; tries++) {
		ssize_t w = write(fd, text, len);
		if (w > 0) {
			text += w;
			len -= (size_t)w;
			continue;
		}
		if (w < 0 && errno != EAGAIN)
			break;
		sleep_ms(50); /* poll says hung up, not when it opens */
	}
	if (len > 0)
		error("agent: answer not written: %s", strerror(errno));
}

static bool identity_pending; /* an identity came: start a held workload, say ready again */
static char **session_env(void);

/* Mounts a drive again after a restore: the host gave this guest its own
 * image under the same device, and nothing of the template's may stay in
 * the page cache (BLKFLSBUF drops the device's cached blocks). */
static int remount_labelled(const char *label, const char *dir, mode_t mode, bool *mounted)
{
	if (*mounted && umount2(dir, 0) < 0) {
		error("identity: umount %s: %s", dir, strerror(errno));
		return -1;
	}
	*mounted = false;
	char dev[64];
	if (disk_find_by_label(label, dev, sizeof(dev)) < 0)
		return 0;
	int fd = open(dev, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || ioctl(fd, BLKFLSBUF, 0) < 0)
		error("identity: flushing %s: %s", dev, strerror(errno));
	if (fd >= 0)
		close(fd);
	return mount_labelled(label, dir, mode, mounted);
}

/* "identity {JSON}": the guest becomes a new one after a restore. */
static void identity_command(int fd, const char *json)
{
	struct guest_identity id;
	char err[256] = "";
	int rc = identity_parse(json, &id, err, sizeof(err));
	if (rc == 0)
		rc = identity_apply(&id, &params, err, sizeof(err));
	memset(id.entropy, 0, sizeof(id.entropy));
	if (rc == 0 && id.remount && (remount_labelled(HEARTH_CONFIG_LABEL, HEARTH_CONFIG_MOUNT, 0755, &config_mounted) < 0 ||
			remount_labelled(HEARTH_SECRETS_LABEL, HEARTH_SECRETS_MOUNT, 0700, &secrets_mounted) < 0)) {
		snprintf(err, sizeof(err), "identity: remounting the config and secrets drives failed");
		rc = -1;
	}
	if (rc == 0) {
		unsigned grace = params.grace_s;
		enum guest_restart restart = params.restart;
		unsigned restart_max = params.restart_max;
		params = id.net;
		params.grace_s = grace;
		params.restart = restart;
		params.restart_max = restart_max;
		session_env(); /* HEARTH_NAME and HEARTH_IP of later sessions */
		identity_pending = true;
		say("identity: now %s", params.name);
	} else {
		error("%s", err);
	}
	char reply[300];
	int n = snprintf(reply, sizeof(reply), "%s%s\n", rc == 0 ? "ok" : "error: ", rc == 0 ? "" : err);
	agent_reply(fd, reply, (size_t)n);
}

/* Reads one command line from FD (a whole one: it may come in pieces)
 * and answers it; true when it asks to stop. *RET_EMPTY: nothing came. */
static bool agent_command(int fd, bool *ret_empty)
{
	char line[4096];
	size_t len = 0;
	/* The rest of a line that came in part: up to a second for it, and
	 * only while there is something to read (a port whose host went
	 * away polls readable with nothing in it). */
	for (int waits = 0;; waits++) {
		ssize_t r = read(fd, line + len, sizeof(line) - 1 - len);
		if (r > 0)
			len += (size_t)r;
		line[len] = '\0';
		if (r <= 0 && (len == 0 || errno != EAGAIN))
			break;
		if (memchr(line, '\n', len) || len == sizeof(line) - 1 || waits == 20)
			break;
		struct pollfd p = { fd, POLLIN, 0 };
		if (r < 0 && (poll(&p, 1, 50) != 1 || !(p.revents & POLLIN) || (p.revents & POLLHUP)))
			break;
	}
	if (ret_empty)
		*ret_empty = len == 0;
	if (len == 0)
		return false;
	line[strcspn(line, "\n")] = '\0';
	if (strncmp(line, "poweroff", 8) == 0) {
		say("agent: poweroff requested");
		return true;
	}
	if (strncmp(line, "identity ", 9) == 0)
		identity_command(fd, line + 9);
	else if (strncmp(line, "ping", 4) == 0)
		agent_reply(fd, "pong\n", 5);
	return false;
}

/* One client of a listening agent socket: one command, then close. */
static bool agent_serve(int listener)
{
	int client = accept4(listener, NULL, NULL, SOCK_CLOEXEC);
	if (client < 0)
		return false;
	struct pollfd cp = { client, POLLIN, 0 };
	bool stop = poll(&cp, 1, 1000) == 1 && agent_command(client, NULL);
	close(client);
	return stop;
}

/* The image's User, as its own /etc/passwd and /etc/group name it. */
static int become_user(const char *user)
{
	char err[256];
	uid_t uid;
	gid_t gid;
	if (workload_user("", user, &uid, &gid, err, sizeof(err)) < 0) {
		error("workload: %s", err);
		return -1;
	}
	if (setgroups(1, &gid) < 0 || setgid(gid) < 0 || setuid(uid) < 0) {
		error("workload: user %s (%u:%u): %s", user, (unsigned)uid, (unsigned)gid, strerror(errno));
		return -1;
	}
	return 0;
}

static pid_t workload_start(char **cmd)
{
	pid_t pid = fork();
	if (pid < 0) {
		error("workload: fork: %s", strerror(errno));
		return -1;
	}
	if (pid > 0)
		return pid;
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	setsid();
	if (image_workload.env) {
		/* The image's environment, and the contract's variables the
		 * backend put in a container's. */
		char *vols = getenv("HEARTH_VOLUMES") ? strdup(getenv("HEARTH_VOLUMES")) : NULL;
		clearenv();
		for (char **e = image_workload.env; *e; e++)
			putenv(*e);
		if (vols)
			setenv("HEARTH_VOLUMES", vols, 1);
		free(vols);
	} else if (!in_container) {
		clearenv();
		putenv(DEFAULT_PATH);
		setenv("HOME", "/root", 1);
		setenv("TERM", "linux", 1);
	}
	if (params.name[0])
		setenv("HEARTH_NAME", params.name, 1);
	if (params.has_ip)
		setenv("HEARTH_IP", params.ip, 1);
	/* In a container the backend set HEARTH_VOLUMES; in a VM we mounted them. */
	if (!in_container) {
		char vols[GUEST_VOLUMES_MAX * 257] = "";
		size_t off = 0;
		for (int i = 0; i < nvolumes; i++)
			off += (size_t)snprintf(vols + off, sizeof(vols) - off, "%s%s", i ? " " : "", volumes[i].path);
		setenv("HEARTH_VOLUMES", vols, 1);
	}
	const char *cwd = image_workload.cwd ? image_workload.cwd : "/";
	if (chdir(cwd) < 0 && (mkdir_p(cwd, 0755) < 0 || chdir(cwd) < 0)) {
		error("workload: working directory %s: %s", cwd, strerror(errno));
		_exit(126);
	}
	if (image_workload.user && become_user(image_workload.user) < 0)
		_exit(126);
	execvp(cmd[0], cmd);
	error("workload: exec %s: %s", cmd[0], strerror(errno));
	_exit(127);
}

static int exit_code_of(int status)
{
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* Reaps every exited child, telling the sessions of theirs; returns the
 * workload's code once it ends. */
static bool reap(pid_t workload, int *ret_code)
{
	bool ended = false;
	int status;
	pid_t pid;
	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		if (pid == workload) {
			*ret_code = exit_code_of(status);
			ended = true;
		} else {
			sessions_reaped(pid, status);
		}
	}
	return ended;
}

/* What commands run through the agent start with: the workload's
 * environment (in a container, the container's). */
static char **session_env(void)
{
	static char name[96], ip[48];
	static char *vm_env[] = { "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
				  "HOME=/root",
				  "TERM=linux",
				  name,
				  ip,
				  NULL };
	extern char **environ;
	if (image_workload.env) {
		static char **env;
		size_t n = 0;
		while (image_workload.env[n])
			n++;
		env = calloc(n + 3, sizeof(char *));
		memcpy(env, image_workload.env, n * sizeof(char *));
		snprintf(name, sizeof(name), "HEARTH_NAME=%s", params.name);
		snprintf(ip, sizeof(ip), "HEARTH_IP=%s", params.has_ip ? params.ip : "");
		env[n] = name;
		env[n + 1] = ip;
		return env;
	}
	if (in_container)
		return environ;
	snprintf(name, sizeof(name), "HEARTH_NAME=%s", params.name);
	snprintf(ip, sizeof(ip), "HEARTH_IP=%s", params.has_ip ? params.ip : "");
	return vm_env;
}

/* TERM the workload's session, then KILL it after the grace period. */
static void workload_stop(pid_t pid, int *code)
{
	if (pid <= 0)
		return;
	int sig = image_workload.argv ? image_workload.stop_signal : SIGTERM;
	kill(-pid, sig);
	kill(pid, sig);
	for (unsigned i = 0; i < params.grace_s * 20; i++) {
		if (reap(pid, code))
			return;
		sleep_ms(50);
	}
	say("workload did not stop within %us, killing it", params.grace_s);
	kill(-pid, SIGKILL);
	kill(pid, SIGKILL);
	int status;
	if (waitpid(pid, &status, 0) == pid)
		*code = exit_code_of(status);
}

static _Noreturn void power_off(int code)
{
	if (in_container)
		exit(code);
	/* Whatever else still runs gets the same TERM-then-KILL. */
	kill(-1, SIGTERM);
	sleep_ms(200);
	kill(-1, SIGKILL);
	while (waitpid(-1, NULL, WNOHANG) > 0)
		;
	sync();
	for (int i = nvolumes - 1; i >= 0; i--)
		if (umount2(volumes[i].path, 0) < 0)
			error("umount %s: %s", volumes[i].path, strerror(errno));
	if (secrets_mounted)
		umount2("/mnt/secrets", MNT_DETACH);
	if (config_mounted)
		umount2("/mnt/config", MNT_DETACH);
	mount(NULL, "/", NULL, MS_REMOUNT | MS_RDONLY, NULL);
	sync();
	say("powering off");
	/* A VMM run with -no-reboot (QEMU) or Firecracker exits on reset; a
	 * power-off without ACPI would halt the CPU and leave the VMM up. */
	reboot(RB_AUTOBOOT);
	for (;;)
		pause();
}

/* An OCI image's workload, when the host wrote one. */
static int load_workload(void)
{
	char text[256 * 1024], err[256];
	ssize_t n = read_small_file(WORKLOAD_JSON, text, sizeof(text));
	if (n < 0)
		return errno == ENOENT ? 0 : (error("%s: %s", WORKLOAD_JSON, strerror(errno)), 1);
	if (workload_parse(text, &image_workload, err, sizeof(err)) < 0) {
		error("%s: %s", WORKLOAD_JSON, err);
		return 1;
	}
	return 0;
}

/* The command after "--" on the kernel command line, else the image's
 * /etc/hearth/start. (QEMU's microvm machine appends its virtio_mmio.device=
 * list after -append, so under QEMU a "--" would hide the disks from the
 * kernel: hearth's QEMU backend never passes one.) */
static char **workload_command(int argc, char **argv)
{
	static char *start[] = { "/etc/hearth/start", NULL };
	if (argc > 1)
		return argv + 1;
	if (image_workload.argv)
		return image_workload.argv;
	return start;
}

/* `hearth-init cp-out SRC` and `hearth-init cp-in TARGET`: the guest's
 * end of hearth cp, run by the agent as commands: the copy stream on
 * stdout, or read from stdin. */
static int copy_mode(int argc, char **argv)
{
	char err[512] = "";
	int rc = -1;
	if (argc == 3 && strcmp(argv[1], "cp-out") == 0) {
		rc = cs_write_tree(STDOUT_FILENO, argv[2], NULL, err, sizeof(err));
	} else if (argc == 3 && strcmp(argv[1], "cp-in") == 0) {
		char *dir = NULL, *rename = NULL;
		rc = cs_destination(argv[2], &dir, &rename, err, sizeof(err));
		if (rc == 0)
			rc = cs_read_tree(STDIN_FILENO, dir, rename, true, err, sizeof(err));
		free(dir);
		free(rename);
	} else {
		snprintf(err, sizeof(err), "usage: hearth-init cp-out SRC | cp-in TARGET");
	}
	if (rc < 0)
		fprintf(stderr, "%s\n", err);
	return rc < 0 ? 1 : 0;
}

int main(int argc, char **argv)
{
	char err[256];
	if (argc >= 2 && getpid() != 1 && (strcmp(argv[1], "cp-out") == 0 || strcmp(argv[1], "cp-in") == 0))
		return copy_mode(argc, argv);
	if (argc == 3 && getpid() != 1 && strcmp(argv[1], "relay") == 0 &&
	    (strcmp(argv[2], "session") == 0 || strcmp(argv[2], "agent") == 0))
		return relay_main(argv[2]);
	setvbuf(stdout, NULL, _IOLBF, 0);
	/* jansson seeds its hashes from the kernel's random pool, which early
	 * in a VM's life can keep the first JSON parse waiting a second: the
	 * 16 random bytes the kernel hands every exec serve instead. */
	const unsigned char *random16 = (const unsigned char *)getauxval(AT_RANDOM);
	size_t seed = 0;
	if (random16)
		memcpy(&seed, random16, sizeof(seed));
	json_object_seed(seed | 1);
	in_container = getenv("HEARTH_CONTAINER") || access("/.dockerenv", F_OK) == 0 || getenv("container");
	if (getpid() != 1 && !in_container) {
		fprintf(stderr, "hearth-init: error: must run as PID 1 (pid %d)\n", (int)getpid());
		return 1;
	}

	int failed = 0;
	if (in_container) {
		if (guest_params_from_env(&params, err, sizeof(err)) < 0) {
			error("%s", err);
			return 1;
		}
	} else {
		char cmdline[4096];
		failed |= mount_early();
		reboot(RB_DISABLE_CAD); /* Ctrl-Alt-Del now arrives as SIGINT */
		if (read_small_file("/proc/cmdline", cmdline, sizeof(cmdline)) < 0) {
			error("read /proc/cmdline: %s", strerror(errno));
			power_off(1);
		}
		if (guest_params_parse(cmdline, &params, err, sizeof(err)) < 0) {
			error("kernel command line: %s", err);
			power_off(1);
		}
		struct statfs fs;
		if (params.root[0] && statfs("/", &fs) == 0 && (fs.f_type == RAMFS_MAGIC || fs.f_type == TMPFS_MAGIC)) {
			switch_root(argv);
			power_off(1);
		}
	}

	sigset_t mask;
	sigemptyset(&mask);
	sigaddset(&mask, SIGCHLD);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGPWR);
	sigaddset(&mask, SIGIO); /* a host came to a session port */
	sigprocmask(SIG_BLOCK, &mask, NULL);
	int sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);

	if (!in_container) {
		if (params.name[0] && sethostname(params.name, strlen(params.name)) < 0)
			error("sethostname %s: %s", params.name, strerror(errno));
		failed |= setup_network();
		failed |= mount_labelled(HEARTH_CONFIG_LABEL, HEARTH_CONFIG_MOUNT, 0755, &config_mounted);
		failed |= mount_labelled(HEARTH_SECRETS_LABEL, HEARTH_SECRETS_MOUNT, 0700, &secrets_mounted);
		failed |= mount_volumes();
	}
	failed |= load_workload();
	if (failed) {
		error("set-up failed, not starting the workload");
		power_off(1);
	}

	/* The agent listens before the guest says it is ready: a host that
	 * acts on the ready line finds it there. */
	int agent = in_container ? agent_listen() : agent_open();
	int vsock = in_container ? -1 : vsock_listen();
	sessions_init(in_container, session_env());
	char **cmd = workload_command(argc, argv);
	/* A template's boot holds the workload: whatever it does must see the
	 * identity of the guest that is restored from it, not the template's. */
	pid_t workload = params.hold ? 0 : workload_start(cmd);
	if (workload < 0)
		power_off(1);
	if (params.hold)
		say("holding the workload until this guest's identity comes");
	line(HEARTH_READY_LINE);
	unsigned restarts = 0;
	int code = 0;
	bool stopping = false;
	long agent_backoff = 0;
	while (!stopping) {
		struct pollfd pfd[3 + SESSIONS_POLLFDS] = { { sfd, POLLIN, 0 },
							    { agent_backoff > 0 ? -1 : agent, POLLIN, 0 },
							    { vsock, POLLIN, 0 } };
		int ns = sessions_pollfds(pfd + 3, SESSIONS_POLLFDS);
		int timeout = sessions_timeout_ms();
		/* A host's arrival raises SIGIO; the short retry bounds the
		 * wait where it does not (40 wakeups a second, not a spin). */
		if (agent_backoff > 0 && (timeout < 0 || timeout > AGENT_RETRY_MS))
			timeout = AGENT_RETRY_MS;
		int n = poll(pfd, (nfds_t)(3 + ns), timeout);
		if (n < 0 && errno != EINTR)
			break;
		agent_backoff = 0;
		if (pfd[0].revents & POLLIN) {
			struct signalfd_siginfo si;
			while (read(sfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
				if (si.ssi_signo == SIGIO) {
					sessions_wake();
				} else if (si.ssi_signo != SIGCHLD) {
					say("signal %d: stopping", (int)si.ssi_signo);
					stopping = true;
				}
			}
			if (reap(workload, &code)) {
				line(HEARTH_EXIT_LINE "%d", code);
				bool again = params.restart == GUEST_RESTART_ALWAYS ||
					     (params.restart == GUEST_RESTART_ON_FAILURE && code != 0);
				if (!stopping && again && restarts < params.restart_max) {
					restarts++;
					say("restarting workload (%u of %u)", restarts, params.restart_max);
					workload = workload_start(cmd);
					if (workload < 0)
						power_off(1);
					continue;
				}
				power_off(code);
			}
		}
		sessions_dispatch(pfd + 3, ns);
		if (pfd[2].revents & POLLIN)
			stopping |= agent_serve(vsock);
		if ((pfd[1].revents & POLLIN) && in_container) {
			stopping |= agent_serve(agent);
		} else if (pfd[1].revents & (POLLIN | POLLHUP | POLLERR)) {
			/* A virtio-serial port with no host on it polls readable
			 * and hung up at once, for ever: wait for SIGIO (a host
			 * came) or a while, or PID 1 would spin. */
			bool empty = true;
			if (pfd[1].revents & POLLIN)
				stopping = agent_command(agent, &empty);
			if (empty && (pfd[1].revents & (POLLHUP | POLLERR)))
				agent_backoff = 1;
		}
		if (identity_pending) {
			identity_pending = false;
			if (workload == 0 && (workload = workload_start(cmd)) < 0)
				power_off(1);
			line(HEARTH_READY_LINE);
		}
	}
	workload_stop(workload, &code);
	line(HEARTH_EXIT_LINE "%d", code);
	power_off(code);
}
