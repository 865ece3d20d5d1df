/* hearth run: build a start configuration from flags (and -f JSON) and
 * start it. */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "hearth/template.h"

static const char run_help[] =
	"usage: hearth run [OPTIONS] [-- ARGS...]\n"
	"\n"
	"Start a guest and print its name once it is ready. ARGS replace an image's Cmd.\n"
	"\n"
	"  -f, --file FILE            start configuration as JSON (flags override it)\n"
	"      --flake REF            build REF with nix first and run the result\n"
	"      --profile NAME         the flake package to build (default: default)\n"
	"      --backend NAME         qemu, firecracker, docker, microvm-nix, or auto\n"
	"                             (default; a build with a runner runs on microvm-nix)\n"
	"      --network MODE         user (qemu's default), bridge (a TAP on hearth0;\n"
	"                             firecracker's only mode) or none\n"
	"      --firecracker PATH     the firecracker binary (default: $HEARTH_FIRECRACKER, PATH)\n"
	"      --jailer PATH          run firecracker under this jailer\n"
	"      --jail-uid N, --jail-gid N  whom the jailer drops to (default 0)\n"
	"      --name NAME            guest name, [a-z0-9][a-z0-9-]{0,62}\n"
	"      --rootfs PATH          root filesystem image (ext4)\n"
	"      --image REF            an OCI image instead: docker://HOST/NAME[:TAG|@DIGEST],\n"
	"                             oci:DIR[:TAG], oci-archive:PATH[:TAG],\n"
	"                             docker-archive:PATH, docker-daemon:NAME:TAG\n"
	"      --tls-verify=false     reach the image's registry without TLS verification\n"
	"                             (or over http); loopback registries always are\n"
	"      --rootfs-mode MODE     ephemeral (default: writes vanish when it stops) or\n"
	"                             persistent (a disk of its own, kept for hearth start)\n"
	"      --kernel PATH          kernel (vmlinux or bzImage); default: hearth's\n"
	"      --initrd PATH          initial ramdisk\n"
	"      --cpus N               vCPUs, 1..32 (default 2)\n"
	"      --memory SIZE          512, 512M or 1G (default 512M)\n"
	"  -p, --publish SPEC         [IP:]HOST:GUEST[/udp] (repeatable)\n"
	"  -v, --volume SPEC          HOST:GUEST[:SIZE][:ro]; HOST a path or a name\n"
	"      --config-file N=PATH   a file for /mnt/config (repeatable)\n"
	"      --config-dir DIR       every file of DIR for /mnt/config\n"
	"      --secret-file N=PATH   a file for /mnt/secrets (repeatable)\n"
	"      --secrets-dir DIR      every file of DIR for /mnt/secrets\n"
	"      --ready PROBE          when the guest is ready: none, log:REGEX (a console\n"
	"                             line), tcp:PORT, http:PORT[/PATH] (2xx), exec:CMD\n"
	"                             (exit 0); default: hearth-init's ready line\n"
	"      --no-wait              return once started, before ready\n"
	"      --timeout S            seconds to wait for ready (default 60)\n"
	"      --template NAME        start from template NAME (hearth template): warm, in\n"
	"                             a fraction of a boot; with it only --name, -p, the\n"
	"                             config and secret flags, --no-wait, --timeout, --json\n"
	"      --json                 print {\"name\": ...} instead of the name\n"
	"  -h, --help                 this text\n";

enum {
	OPT_BACKEND = 256,
	OPT_NAME,
	OPT_ROOTFS,
	OPT_KERNEL,
	OPT_INITRD,
	OPT_CPUS,
	OPT_MEMORY,
	OPT_CONFIG_FILE,
	OPT_CONFIG_DIR,
	OPT_SECRET_FILE,
	OPT_SECRETS_DIR,
	OPT_NO_WAIT,
	OPT_READY,
	OPT_TIMEOUT,
	OPT_JSON,
	OPT_FLAKE,
	OPT_PROFILE,
	OPT_NETWORK,
	OPT_FIRECRACKER,
	OPT_JAILER,
	OPT_JAIL_UID,
	OPT_JAIL_GID,
	OPT_IMAGE,
	OPT_ROOTFS_MODE,
	OPT_TLS_VERIFY,
	OPT_TEMPLATE,
};

static const struct option run_options[] = {
	{ "file", required_argument, NULL, 'f' },
	{ "backend", required_argument, NULL, OPT_BACKEND },
	{ "name", required_argument, NULL, OPT_NAME },
	{ "rootfs", required_argument, NULL, OPT_ROOTFS },
	{ "image", required_argument, NULL, OPT_IMAGE },
	{ "rootfs-mode", required_argument, NULL, OPT_ROOTFS_MODE },
	{ "tls-verify", required_argument, NULL, OPT_TLS_VERIFY },
	{ "kernel", required_argument, NULL, OPT_KERNEL },
	{ "initrd", required_argument, NULL, OPT_INITRD },
	{ "cpus", required_argument, NULL, OPT_CPUS },
	{ "memory", required_argument, NULL, OPT_MEMORY },
	{ "publish", required_argument, NULL, 'p' },
	{ "volume", required_argument, NULL, 'v' },
	{ "config-file", required_argument, NULL, OPT_CONFIG_FILE },
	{ "config-dir", required_argument, NULL, OPT_CONFIG_DIR },
	{ "secret-file", required_argument, NULL, OPT_SECRET_FILE },
	{ "secrets-dir", required_argument, NULL, OPT_SECRETS_DIR },
	{ "no-wait", no_argument, NULL, OPT_NO_WAIT },
	{ "ready", required_argument, NULL, OPT_READY },
	{ "timeout", required_argument, NULL, OPT_TIMEOUT },
	{ "json", no_argument, NULL, OPT_JSON },
	{ "flake", required_argument, NULL, OPT_FLAKE },
	{ "profile", required_argument, NULL, OPT_PROFILE },
	{ "network", required_argument, NULL, OPT_NETWORK },
	{ "firecracker", required_argument, NULL, OPT_FIRECRACKER },
	{ "jailer", required_argument, NULL, OPT_JAILER },
	{ "jail-uid", required_argument, NULL, OPT_JAIL_UID },
	{ "jail-gid", required_argument, NULL, OPT_JAIL_GID },
	{ "template", required_argument, NULL, OPT_TEMPLATE },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

/* What a guest started from a template may still choose: the rest is
 * the template's. */
static bool template_allows(int c)
{
	switch (c) {
	case OPT_NAME:
	case 'p':
	case OPT_CONFIG_FILE:
	case OPT_CONFIG_DIR:
	case OPT_SECRET_FILE:
	case OPT_SECRETS_DIR:
	case OPT_NO_WAIT:
	case OPT_TIMEOUT:
	case OPT_JSON:
	case OPT_TEMPLATE:
	case 'h':
		return true;
	default:
		return false;
	}
}

static void set_path(char **field, const char *value)
{
	free(*field);
	*field = cli_absolute(value);
}

/* NAME=PATH for --config-file and --secret-file: 0, or the exit code
 * after saying what is wrong. */
static int add_file_spec(struct hearth_config *cfg, bool secret, const char *spec)
{
	const char *eq = strchr(spec, '=');
	if (!eq || eq == spec || !eq[1])
		return cli_usage_error("%s: expected NAME=PATH (%s)", secret ? "secret_files" : "config_files", spec);
	_cleanup_free_ char *name = cli_asprintf("%.*s", (int)(eq - spec), spec);
	_cleanup_free_ char *path = cli_absolute(eq + 1);
	struct hearth_error *err = NULL;
	return hearth_config_add_file(cfg, secret, name, path, &err) < 0 ? cli_fail(err) : 0;
}

/* -v HOST:GUEST: a HOST with a '/' (or starting with '.') is a path. */
static int add_volume_spec(struct hearth_config *cfg, const char *spec, struct hearth_error **err)
{
	if (spec[0] == '.' || (spec[0] != '/' && strchr(spec, '/') && strchr(spec, '/') < strchr(spec, ':'))) {
		const char *colon = strchr(spec, ':');
		_cleanup_free_ char *host = cli_asprintf("%.*s", colon ? (int)(colon - spec) : (int)strlen(spec), spec);
		_cleanup_free_ char *abs = cli_absolute(host);
		_cleanup_free_ char *full = cli_asprintf("%s%s", abs, colon ? colon : "");
		return hearth_config_add_volume(cfg, full, err);
	}
	return hearth_config_add_volume(cfg, spec, err);
}

int cli_run(struct hearth_ctx *ctx, int argc, char **argv, const char *make_template)
{
	struct hearth_config *cfg = NULL;
	struct hearth_error *err = NULL;
	struct hearth_run_options opts = { .backend = "auto", .timeout_s = 60, .wait = true };
	bool json = false;
	const char *flake = NULL, *profile = NULL;
	bool rootfs_flag = false, image_flag = false;
	const char *template = NULL, *fixed = NULL; /* a flag the template decides */
	int rc = 0;

	/* -f first, so flags override the file whatever their order. */
	for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++) {
		const char *file = NULL;
		if ((strcmp(argv[i], "-f") == 0 || strcmp(argv[i], "--file") == 0) && i + 1 < argc)
			file = argv[i + 1];
		else if (strncmp(argv[i], "--file=", 7) == 0)
			file = argv[i] + 7;
		if (file) {
			hearth_config_free(cfg);
			cfg = hearth_config_load(file, &err);
			if (!cfg)
				return cli_fail(err);
		}
	}
	if (!cfg)
		cfg = hearth_config_new();

	int c;
	optind = 1;
	int li = -1;
	char short_opt[3] = "-?";
	while ((c = getopt_long(argc, argv, "f:p:v:h", run_options, &li)) != -1) {
		uint64_t n;
		if (!template_allows(c) && !fixed) {
			short_opt[1] = (char)c;
			fixed = li >= 0 ? run_options[li].name : short_opt;
		}
		li = -1;
		switch (c) {
		case OPT_TEMPLATE:
			if (make_template) {
				rc = cli_bad_option("template create");
				goto out;
			}
			template = optarg;
			break;
		case 'f':
			break;
		case OPT_BACKEND:
			opts.backend = optarg;
			break;
		case OPT_NAME:
			free(cfg->name);
			cfg->name = cli_asprintf("%s", optarg);
			break;
		case OPT_ROOTFS:
			if (image_flag) {
				rc = cli_usage_error("image: --rootfs and --image name two root filesystems");
				goto out;
			}
			rootfs_flag = true;
			set_path(&cfg->rootfs_path, optarg);
			free(cfg->image); /* over a file's image */
			free(cfg->image_digest);
			cfg->image = cfg->image_digest = NULL;
			break;
		case OPT_TLS_VERIFY:
			if (cli_tls_verify(ctx, optarg) < 0) {
				rc = EXIT_USAGE;
				goto out;
			}
			break;
		case OPT_ROOTFS_MODE:
			free(cfg->rootfs_mode);
			cfg->rootfs_mode = cli_asprintf("%s", optarg);
			break;
		case OPT_IMAGE:
			if (rootfs_flag) {
				rc = cli_usage_error("image: --rootfs and --image name two root filesystems");
				goto out;
			}
			image_flag = true;
			free(cfg->image);
			free(cfg->image_digest);
			cfg->image = cli_asprintf("%s", optarg);
			cfg->image_digest = NULL; /* a reference resolves anew */
			break;
		case OPT_KERNEL:
			set_path(&cfg->kernel_path, optarg);
			break;
		case OPT_INITRD:
			set_path(&cfg->initrd_path, optarg);
			break;
		case OPT_CPUS:
			if (cli_parse_uint(optarg, 0, 1 << 20, &n) < 0) {
				rc = cli_usage_error("cpus: not a number (%s)", optarg);
				goto out;
			}
			cfg->cpus = (unsigned)n;
			break;
		case OPT_MEMORY:
			if (hearth_parse_memory(optarg, &cfg->memory_mib, &err) < 0)
				goto fail;
			break;
		case 'p':
			if (hearth_config_add_port(cfg, optarg, &err) < 0)
				goto fail;
			break;
		case 'v':
			if (add_volume_spec(cfg, optarg, &err) < 0)
				goto fail;
			break;
		case OPT_CONFIG_FILE:
		case OPT_SECRET_FILE:
			if ((rc = add_file_spec(cfg, c == OPT_SECRET_FILE, optarg)) != 0)
				goto out;
			break;
		case OPT_CONFIG_DIR:
		case OPT_SECRETS_DIR: {
			_cleanup_free_ char *dir = cli_absolute(optarg);
			if (hearth_config_add_dir(cfg, c == OPT_SECRETS_DIR, dir, &err) < 0)
				goto fail;
			break;
		}
		case OPT_READY:
			free(cfg->ready);
			cfg->ready = cli_asprintf("%s", optarg);
			break;
		case OPT_NO_WAIT:
			opts.wait = false;
			break;
		case OPT_TIMEOUT:
			if (cli_parse_uint(optarg, 1, 86400, &n) < 0) {
				rc = cli_usage_error("timeout: must be 1..86400 seconds (%s)", optarg);
				goto out;
			}
			opts.timeout_s = (int)n;
			break;
		case OPT_JSON:
			json = true;
			break;
		case OPT_FLAKE:
			flake = optarg;
			break;
		case OPT_PROFILE:
			profile = optarg;
			break;
		case OPT_NETWORK:
			opts.network = optarg;
			break;
		case OPT_FIRECRACKER: {
			/* The probe that picks backends reads it from there too. */
			_cleanup_free_ char *fc = cli_absolute(optarg);
			if (hearth_ctx_set(ctx, HEARTH_SETTING_FIRECRACKER, fc, &err) < 0) {
				hearth_config_free(cfg);
				return cli_fail(err);
			}
			break;
		}
		case OPT_JAILER:
			opts.jailer = optarg;
			break;
		case OPT_JAIL_UID:
		case OPT_JAIL_GID:
			if (cli_parse_uint(optarg, 0, 4294967294u, &n) < 0) {
				rc = cli_usage_error("%s: not a numeric id (%s)",
						     c == OPT_JAIL_UID ? "jail-uid" : "jail-gid", optarg);
				goto out;
			}
			*(c == OPT_JAIL_UID ? &opts.jail_uid : &opts.jail_gid) = (unsigned)n;
			break;
		case 'h':
			fputs(run_help, stdout);
			goto out;
		default:
			rc = cli_bad_option("run");
			goto out;
		}
	}
	if (template && (fixed || optind < argc)) {
		rc = cli_usage_error("run: --template %s: %s%s comes from the template", template,
				     fixed && fixed[0] != '-' ? "--" : "", fixed ? fixed : "a command");
		goto out;
	}
	char *name = NULL;
	if (template) {
		if (hearth_template_run(ctx, template, cfg, &opts, &name, &err) < 0)
			goto fail;
		goto done;
	}
	if (optind < argc && (!cfg->image || strcmp(argv[optind - 1], "--") != 0)) {
		rc = cfg->image ? cli_usage_error("run: an image's arguments go after -- ('%s')", argv[optind])
				: cli_usage_error("run: unexpected argument '%s'", argv[optind]);
		goto out;
	}
	if (optind < argc) {
		hearth_config_set_args(cfg, (const char *const *)argv + optind, (size_t)(argc - optind));
	}
	if (profile && !flake) {
		rc = cli_usage_error("profile: only with --flake (%s)", profile);
		goto out;
	}
	if (flake) {
		struct hearth_build *b = NULL;
		if (hearth_flake_build(ctx, flake, profile, &b, &err) < 0)
			goto fail;
		hearth_build_apply(b, cfg);
		hearth_build_free(b);
	}
	if (!cfg->rootfs_path && !cfg->runner_dir && !cfg->image) {
		rc = cli_usage_error("rootfs_path: required (give --rootfs, --image or -f)");
		goto out;
	}
	if (make_template) {
		if (hearth_template_create(ctx, make_template, NULL, cfg, &opts, &err) < 0)
			goto fail;
		printf("%s\n", make_template);
		goto out;
	}
	if (hearth_guest_run(ctx, cfg, &opts, &name, &err) < 0)
		goto fail;
done:
	if (json)
		printf("{\"name\": \"%s\"}\n", name);
	else
		printf("%s\n", name);
	free(name);
	goto out;
fail:
	rc = cli_fail(err);
out:
	hearth_config_free(cfg);
	return rc;
}

int cmd_run(struct hearth_ctx *ctx, int argc, char **argv)
{
	return cli_run(ctx, argc, argv, NULL);
}
