/* KVM or TCG for QEMU guests: KVM only after a real boot has shown that it
 * runs Linux here (nested hypervisors often pass a bare KVM_RUN and then
 * kill every Linux guest). The probe is bounded to a few seconds, its
 * verdict is kept per machine boot, QEMU binary and kernel in the runtime
 * directory, shared by every state root, and a start waits for it at most
 * half a second (enough for a working KVM): past that the guest boots
 * under TCG while the probe goes on in the background, and the next start
 * uses what it found. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "qemu_accel.h"
#include "lib/proc.h"
#include "lib/state.h"

#define KVM_PROBE_TIMEOUT_MS 3000
#define FIRST_START_WAIT_MS 500
#define ROOT_RUNTIME_DIR "/run/hearth"

/* What the verdict depends on: this boot, this qemu, this kernel. */
char *qemu_accel_key(const char *qemu, const char *kernel)
{
	struct stat qs = { 0 }, ks = { 0 };
	_cleanup_free_ char *boot = NULL;
	stat(qemu, &qs);
	stat(kernel, &ks);
	if (read_file_at(AT_FDCWD, "/proc/sys/kernel/random/boot_id", 64, &boot, NULL) < 0)
		boot = xstrdup("?");
	boot[strcspn(boot, "\n")] = '\0';
	return xasprintf("%s %s:%lld:%lld:%llu %s:%lld:%lld:%llu", boot, qemu, (long long)qs.st_size,
			 (long long)qs.st_mtime, (unsigned long long)qs.st_ino, kernel, (long long)ks.st_size,
			 (long long)ks.st_mtime, (unsigned long long)ks.st_ino);
}

/* One file per key: accel-<hash of the key>, holding the key and the
 * verdict, so several kernels and QEMUs keep their own. */
static char *cache_name(const char *key)
{
	return xasprintf("accel-%016llx", (unsigned long long)fnv1a(FNV_SEED, key, strlen(key)));
}

/* Trusted: owned by us or root and writable by nobody else. */
static bool trusted(int fd)
{
	struct stat st;
	return fstat(fd, &st) == 0 && (st.st_uid == geteuid() || st.st_uid == 0) && !(st.st_mode & 022);
}

static int open_dir(const char *dir, bool create)
{
	if (create && mkdir_p(dir, geteuid() == 0 ? 0755 : 0700) < 0 && errno != EEXIST)
		return -1;
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (fd >= 0 && !trusted(fd)) {
		close(fd);
		return -1;
	}
	return fd;
}

/* The verdict for KEY in DIR, or NULL: a file that is not ours or root's,
 * is writable by others, or names another key is not believed. */
char *qemu_accel_cached(const char *dir, const char *key)
{
	_cleanup_close_ int dfd = open_dir(dir, false);
	_cleanup_free_ char *name = cache_name(key);
	_cleanup_close_ int fd = dfd >= 0 ? openat(dfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW) : -1;
	_cleanup_free_ char *text = NULL;
	if (fd < 0 || !trusted(fd) || read_fd(fd, 4096, &text, NULL) < 0)
		return NULL;
	char *nl = strchr(text, '\n');
	if (!nl || (size_t)(nl - text) != strlen(key) || strncmp(text, key, strlen(key)) != 0)
		return NULL;
	char *why = nl + 1;
	why[strcspn(why, "\n")] = '\0';
	if (!str_has_prefix(why, "kvm") && !str_has_prefix(why, "tcg"))
		return NULL;
	return xstrdup(why);
}

static void cache_write(const char *dir, const char *key, const char *why)
{
	_cleanup_close_ int dfd = open_dir(dir, true);
	if (dfd < 0)
		return;
	_cleanup_free_ char *name = cache_name(key);
	_cleanup_free_ char *text = xasprintf("%s\n%s\n", key, why);
	/* Not fatal: the next start probes again. */
	if (write_file_atomic_at(dfd, name, text, strlen(text), 0644) < 0)
		return;
}

/* Boots the kernel under KVM with no root disk: a working KVM gets to the
 * "cannot mount root" panic in well under a second; a broken nested
 * hypervisor dies in emulation, or hangs, long before. */
static bool kvm_boots(const char *qemu, const char *kernel, char **ret_why)
{
	char *argv[] = { (char *)qemu,
			 "-M",
			 QEMU_MACHINE,
			 "-accel",
			 "kvm",
			 "-cpu",
			 "host",
			 "-m",
			 "128",
			 "-smp",
			 "1",
			 "-nodefaults",
			 "-no-user-config",
			 "-nographic",
			 "-no-reboot",
			 "-kernel",
			 (char *)kernel,
			 "-append",
			 "console=ttyS0 panic=-1 reboot=t",
			 "-serial",
			 "stdio",
			 NULL };
	_cleanup_free_ char *out = NULL;
	int rc = proc_run(argv, KVM_PROBE_TIMEOUT_MS, &out, NULL);
	if (rc >= 0 && out && strstr(out, "Kernel panic - not syncing")) {
		*ret_why = xstrdup("kvm (a probe booted the kernel under KVM)");
		return true;
	}
	const char *hint = "no output";
	if (out && strstr(out, "KVM internal error"))
		hint = "KVM internal error";
	else if (out && strstr(out, "emulation failure"))
		hint = "emulation failure";
	else if (out && strstr(out, "failed to set MSR"))
		hint = "the host refused the guest's MSRs";
	else if (rc == 128 + SIGKILL)
		hint = "no boot within 3 s";
	else if (out && *out)
		hint = "the kernel did not boot";
	*ret_why = xasprintf("tcg (KVM probe failed: %s)", hint);
	return false;
}

/* Probes and records the verdict in *RET_WHY, unless another process is
 * probing the same key right now (then *RET_WHY stays NULL). */
static void probe_and_record(const char *qemu, const char *kernel, const char *dir, const char *key, char **ret_why)
{
	*ret_why = NULL;
	_cleanup_close_ int dfd = open_dir(dir, true);
	_cleanup_free_ char *name = cache_name(key);
	_cleanup_free_ char *lock_name = xasprintf("%s.lock", name);
	_cleanup_close_ int lock =
		dfd >= 0 ? openat(dfd, lock_name, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644) : -1;
	if (lock >= 0 && flock(lock, LOCK_EX | LOCK_NB) < 0)
		return;
	kvm_boots(qemu, kernel, ret_why);
	cache_write(dir, key, *ret_why);
}

/* The probe as a daemon of its own (double fork, no terminal, no inherited
 * descriptors), so that the command that started it returns at once. */
static void probe_in_background(const char *qemu, const char *kernel, const char *dir, const char *key)
{
	fflush(NULL);
	pid_t child = fork();
	if (child < 0)
		return;
	if (child == 0) {
		setsid();
		if (fork() != 0)
			_exit(0);
		int null = open("/dev/null", O_RDWR | O_CLOEXEC);
		for (int fd = 0; fd < 3; fd++)
			dup2(null, fd);
		for (int fd = 3; fd < 1024; fd++)
			if (fd != null)
				close(fd);
		char *why = NULL;
		probe_and_record(qemu, kernel, dir, key, &why);
		_exit(0);
	}
	while (waitpid(child, NULL, 0) < 0 && errno == EINTR)
		;
}

const char *qemu_accel(const struct hearth_ctx *ctx, const char *qemu, bool wait, char **ret_why)
{
	const char *force = ctx_get(ctx, HEARTH_SETTING_ACCEL);
	if (force) {
		*ret_why = xasprintf("%s (HEARTH_ACCEL)", force);
		return strcmp(force, "kvm") == 0 ? "kvm" : "tcg";
	}
	int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (kvm < 0) {
		*ret_why = xasprintf("tcg (/dev/kvm: %s)", strerror(errno));
		return "tcg";
	}
	close(kvm);
	_cleanup_free_ char *kernel = xasprintf("%s/vmlinux", ctx_get(ctx, HEARTH_SETTING_DATA_DIR));
	if (access(kernel, R_OK) < 0) {
		*ret_why = xasprintf("tcg (no kernel to probe KVM with at %s)", kernel);
		return "tcg";
	}
	_cleanup_free_ char *key = qemu_accel_key(qemu, kernel);
	const char *dir = ctx_get(ctx, HEARTH_SETTING_RUNTIME_DIR);
	*ret_why = qemu_accel_cached(dir, key);
	/* A user may read root's verdict for the same QEMU and kernel (it is
	 * root's and writable by no one else), never write it. */
	if (!*ret_why && geteuid() != 0 && !ctx_is_set(ctx, HEARTH_SETTING_RUNTIME_DIR))
		*ret_why = qemu_accel_cached(ROOT_RUNTIME_DIR, key);
	if (!*ret_why && wait)
		probe_and_record(qemu, kernel, dir, key, ret_why);
	if (!*ret_why && wait) /* another process was probing: its verdict */
		for (int i = 0; i < KVM_PROBE_TIMEOUT_MS / 50 + 20 && !*ret_why; i++) {
			sleep_ms(50);
			*ret_why = qemu_accel_cached(dir, key);
		}
	if (!*ret_why) {
		/* A working KVM decides within a few hundred milliseconds: wait
		 * that long, so it serves the very first start too; a hypervisor
		 * that hangs the probe costs this start no more than that. */
		probe_in_background(qemu, kernel, dir, key);
		for (int waited = 0; waited < FIRST_START_WAIT_MS && !*ret_why; waited += 25) {
			sleep_ms(25);
			*ret_why = qemu_accel_cached(dir, key);
		}
	}
	if (!*ret_why) {
		*ret_why = xstrdup(
			"tcg (KVM not probed on this machine yet: probing in the background for the next start)");
		return "tcg";
	}
	return str_has_prefix(*ret_why, "kvm") ? "kvm" : "tcg";
}
