/* Fuzzes hearth-monitor's reader of its spec: whatever comes down the
 * pipe, it gets a spec it can run (argv, dir, VMM name) or says why, and
 * what it accepted is written back the same. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/monitor.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = xstrndup((const char *)data, size);
	struct monitor_spec spec;
	json_t *json = NULL;
	struct hearth_error *err = NULL;
	if (monitor_spec_parse(s, &spec, &json, &err) < 0) {
		if (!err || !err->message)
			abort();
		hearth_error_free(err);
	} else {
		if (!spec.argv || !spec.argv[0] || !spec.dir || !spec.vmm_name)
			abort(); /* accepted must mean runnable */
		char *again = monitor_spec_to_json(&spec);
		struct monitor_spec back;
		json_t *json2 = NULL;
		if (monitor_spec_parse(again, &back, &json2, NULL) < 0 || strcmp(back.dir, spec.dir) != 0 ||
		    back.n_ports != spec.n_ports)
			abort();
		monitor_spec_release(&back, json2);
		monitor_spec_release(&spec, json);
		free(again);
	}
	free(s);
	return 0;
}
