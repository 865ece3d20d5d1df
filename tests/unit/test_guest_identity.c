/* hearth-init's parser of the "identity" command a restored guest gets:
 * what the host sends is taken whole, anything else is refused by field
 * (a restored guest must never run on half an identity). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "identity.h"

static char err[256];

#define ENTROPY32 "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"

static void test_whole_identity(void **state)
{
	(void)state;
	struct guest_identity id;
	assert_int_equal(identity_parse("{\"name\": \"w-1\", \"ip\": \"10.89.0.7/24\", \"gateway\": \"10.89.0.1\", "
					"\"mac\": \"52:54:00:aa:bb:cc\", \"time_sec\": 1795996573, \"time_nsec\": 5, "
					"\"entropy\": \"" ENTROPY32 ENTROPY32 "\", \"remount\": true}",
					&id, err, sizeof(err)),
			 0);
	assert_string_equal(id.net.name, "w-1");
	assert_string_equal(id.net.ip, "10.89.0.7");
	assert_int_equal(id.net.prefix, 24);
	assert_true(id.net.has_gw);
	assert_string_equal(id.net.gw, "10.89.0.1");
	assert_true(id.has_mac);
	assert_memory_equal(id.mac, ((const unsigned char[]){ 0x52, 0x54, 0x00, 0xaa, 0xbb, 0xcc }), 6);
	assert_int_equal(id.time_sec, 1795996573);
	assert_int_equal(id.time_nsec, 5);
	assert_int_equal(id.entropy_len, 64);
	assert_int_equal(id.entropy[1], 0x11);
	assert_true(id.remount);
}

static void test_minimal_identity(void **state)
{
	(void)state;
	struct guest_identity id;
	assert_int_equal(identity_parse("{\"name\": \"a\", \"ip\": null, \"time_sec\": 1, \"time_nsec\": 0, "
					"\"entropy\": \"" ENTROPY32 "\"}",
					&id, err, sizeof(err)),
			 0);
	assert_false(id.net.has_ip);
	assert_false(id.has_mac);
	assert_false(id.remount);
}

static void refused(const char *json, const char *want)
{
	struct guest_identity id;
	err[0] = '\0';
	assert_int_equal(identity_parse(json, &id, err, sizeof(err)), -1);
	if (!strstr(err, want))
		fail_msg("want '%s' in '%s' for %s", want, err, json);
}

static void test_hostile_identities(void **state)
{
	(void)state;
	refused("", "not a JSON object");
	refused("[1]", "not a JSON object");
	refused("{\"name\": \"a\", \"name\": \"b\"}", "not a JSON object");
	refused("{\"time_sec\": 1}", "name: missing");
	refused("{\"name\": \"Bad Name\", \"time_sec\": 1, \"time_nsec\": 0, \"entropy\": \"" ENTROPY32 "\"}",
		"hearth.name");
	refused("{\"name\": \"a\", \"ip\": \"10.0.0.300/24\", \"time_sec\": 1, \"time_nsec\": 0, \"entropy\": \"" ENTROPY32
		"\"}",
		"hearth.ip");
	refused("{\"name\": \"a\", \"ip\": 7, \"time_sec\": 1, \"time_nsec\": 0, \"entropy\": \"" ENTROPY32 "\"}",
		"ip: not a string");
	refused("{\"name\": \"a\", \"mac\": \"52:54:00:aa:bb\", \"time_sec\": 1, \"time_nsec\": 0, \"entropy\": "
		"\"" ENTROPY32 "\"}",
		"mac: not a MAC");
	refused("{\"name\": \"a\", \"time_sec\": 1, \"time_nsec\": 1000000000, \"entropy\": \"" ENTROPY32 "\"}",
		"time_sec/time_nsec");
	refused("{\"name\": \"a\", \"time_sec\": -5, \"time_nsec\": 0, \"entropy\": \"" ENTROPY32 "\"}",
		"time_sec/time_nsec");
	refused("{\"name\": \"a\", \"time_sec\": 1, \"time_nsec\": 0, \"entropy\": \"0011\"}", "entropy");
	refused("{\"name\": \"a\", \"time_sec\": 1, \"time_nsec\": 0, \"entropy\": \"zz" ENTROPY32 "\"}", "entropy");
	refused("{\"name\": \"a\", \"time_sec\": 1, \"time_nsec\": 0, \"entropy\": \"0g" ENTROPY32 "\"}", "entropy");
	refused("{\"name\": \"a\", \"time_sec\": 1, \"time_nsec\": 0, \"entropy\": \"" ENTROPY32 ENTROPY32 "00\"}",
		"entropy");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_whole_identity),
		cmocka_unit_test(test_minimal_identity),
		cmocka_unit_test(test_hostile_identities),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
