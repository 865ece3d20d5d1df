/* Fuzzes the reader of a guest's record.json: whatever a damaged or
 * hostile state file holds, hearth reads a valid record or says why. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/state.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = xstrndup((const char *)data, size);
	struct hearth_record *rec = NULL;
	struct hearth_error *err = NULL;
	if (record_parse(s, &rec, &err) < 0) {
		if (!err || !err->message)
			abort();
		hearth_error_free(err);
	} else if (!rec->name || !rec->backend || !hearth_name_valid(rec->name) ||
		   (unsigned)rec->status > HEARTH_STATUS_FAILED) {
		abort(); /* accepted must mean usable */
	} else {
		record_free(rec);
	}
	free(s);
	return 0;
}
