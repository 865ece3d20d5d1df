/* Image references in each transport's syntax, and an image's run
 * config made into the guest's workload.json. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <signal.h>
#include <string.h>

#include "hearth/config.h"
#include "image/ref.h"
#include "image/workload.h"

static void test_refs(void **state)
{
	(void)state;
	struct image_ref r;
	struct hearth_error *err = NULL;
	assert_int_equal(image_ref_parse("docker://127.0.0.1:5000/test/app:1", &r, &err), 0);
	assert_int_equal(r.transport, IMAGE_DOCKER);
	assert_string_equal(r.registry, "127.0.0.1:5000");
	assert_string_equal(r.repository, "test/app");
	assert_string_equal(r.tag, "1");
	assert_null(r.digest);
	image_ref_release(&r);
	const char *d = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
	char buf[200];
	snprintf(buf, sizeof(buf), "docker://localhost/app@%s", d);
	assert_int_equal(image_ref_parse(buf, &r, &err), 0);
	assert_string_equal(r.registry, "localhost");
	assert_string_equal(r.digest, d);
	assert_null(r.tag);
	image_ref_release(&r);
	assert_int_equal(image_ref_parse("docker://alpine", &r, &err), 0); /* Docker Hub's library */
	assert_string_equal(r.registry, "registry-1.docker.io");
	assert_string_equal(r.repository, "library/alpine");
	assert_string_equal(r.tag, "latest");
	image_ref_release(&r);
	assert_int_equal(image_ref_parse("oci:/srv/layout:v2", &r, &err), 0);
	assert_string_equal(r.path, "/srv/layout");
	assert_string_equal(r.tag, "v2");
	image_ref_release(&r);
	assert_int_equal(image_ref_parse("oci:/srv/my:dir/layout", &r, &err), 0); /* a colon before the last slash */
	assert_string_equal(r.path, "/srv/my:dir/layout");
	assert_null(r.tag);
	image_ref_release(&r);
	assert_int_equal(image_ref_parse("docker-archive:/tmp/a.tar", &r, &err), 0);
	assert_string_equal(r.path, "/tmp/a.tar");
	image_ref_release(&r);
	assert_int_equal(image_ref_parse("docker-daemon:team/app:2", &r, &err), 0);
	assert_string_equal(r.repository, "team/app");
	assert_string_equal(r.tag, "2");
	image_ref_release(&r);
}

static void test_refs_refused(void **state)
{
	(void)state;
	static const char *const bad[][2] = {
		{ "ftp:x", "unknown transport \"ftp\"" },
		{ "/some/path", "no transport" },
		{ "docker://reg.io/UPPER:1", "not a repository name" },
		{ "docker://reg.io/app:bad*tag", "not a tag" },
		{ "docker://reg.io/app@sha256:abc", "not a sha256 digest" },
		{ "docker://reg.io/", "not a repository name" },
		{ "oci:", "no path" },
		{ "docker-daemon:app@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
		  "takes NAME:TAG" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct image_ref r;
		struct hearth_error *err = NULL;
		assert_int_equal(image_ref_parse(bad[i][0], &r, &err), -1);
		assert_non_null(err);
		if (!strstr(err->message, bad[i][1]))
			fail_msg("%s: %s", bad[i][0], err->message);
		assert_non_null(strstr(err->message, "image:"));
		hearth_error_free(err);
	}
}

static void test_workload(void **state)
{
	(void)state;
	json_t *c = json_loads("{\"Entrypoint\": [\"/bin/app\"], \"Cmd\": [\"serve\"], \"Env\": [\"A=1\"], "
			       "\"WorkingDir\": \"/srv\", \"User\": \"app\", \"StopSignal\": \"SIGUSR1\"}",
			       0, NULL);
	struct hearth_config *cfg = hearth_config_new();
	cfg->image = strdup("oci:/x");
	struct hearth_error *err = NULL;
	char *w = image_workload(c, cfg, &err);
	assert_non_null(w);
	json_t *o = json_loads(w, 0, NULL);
	assert_string_equal(json_string_value(json_array_get(json_object_get(o, "argv"), 1)), "serve");
	/* No PATH in the image: the usual one first. */
	assert_true(strncmp(json_string_value(json_array_get(json_object_get(o, "env"), 0)), "PATH=", 5) == 0);
	assert_string_equal(json_string_value(json_array_get(json_object_get(o, "env"), 1)), "A=1");
	assert_string_equal(json_string_value(json_object_get(o, "cwd")), "/srv");
	assert_string_equal(json_string_value(json_object_get(o, "user")), "app");
	assert_int_equal(json_integer_value(json_object_get(o, "stop_signal")), SIGUSR1);
	json_decref(o);
	free(w);
	/* Args replace Cmd, the Entrypoint stays. */
	const char *args[] = { "sh", "-c", "true" };
	hearth_config_set_args(cfg, args, 3);
	w = image_workload(c, cfg, &err);
	o = json_loads(w, 0, NULL);
	assert_int_equal(json_array_size(json_object_get(o, "argv")), 4);
	assert_string_equal(json_string_value(json_array_get(json_object_get(o, "argv"), 0)), "/bin/app");
	assert_string_equal(json_string_value(json_array_get(json_object_get(o, "argv"), 3)), "true");
	json_decref(o);
	free(w);
	/* No command at all, and a signal hearth does not know. */
	json_t *none = json_loads("{\"Env\": []}", 0, NULL);
	hearth_config_set_args(cfg, NULL, 0);
	free(cfg->args);
	cfg->args = NULL;
	assert_null(image_workload(none, cfg, &err));
	assert_non_null(strstr(err->message, "no Entrypoint or Cmd"));
	hearth_error_free(err);
	err = NULL;
	json_object_set_new(c, "StopSignal", json_string("SIGNOPE"));
	assert_null(image_workload(c, cfg, &err));
	assert_non_null(strstr(err->message, "StopSignal"));
	hearth_error_free(err);
	json_decref(none);
	json_decref(c);
	hearth_config_free(cfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_refs),
		cmocka_unit_test(test_refs_refused),
		cmocka_unit_test(test_workload),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
