/*
 * fuzz_lockfile.c - libFuzzer harness for the lock-file reader.
 *
 * Each input is one SERVICE.lock file's bytes, given to
 * svc_lockfile_load_buffer, the parser svc_lockfile_load runs on the file
 * it read. Beyond "no crash, no leak, no sanitizer report" it checks what
 * lockfile.h promises: a failure is SVC_EMANIFEST with a message and
 * leaves nothing allocated; a success has a service, and entries with a
 * name, git, ref and a 40-hex commit, names unique, each found by
 * svc_lockfile_find.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "lockfile.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void broken(const char *what)
{
	fprintf(stderr, "fuzz_lockfile: broken promise: %s\n", what);
	abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct svc_error err = { 0 };
	struct svc_lockfile lf;
	char line[2048];
	int rc;

	rc = svc_lockfile_load_buffer(&lf, (const char *)data, size, "fuzz.lock", &err);
	if (rc) {
		if (rc != SVC_EMANIFEST || err.code != rc || !err.message[0])
			broken("failure: SVC_EMANIFEST with a message");
		if (lf.service || lf.deps || lf.ndeps)
			broken("failure: nothing left allocated");
		svc_error_format(&err, line, sizeof(line));
		return 0;
	}
	if (!lf.service)
		broken("success: a service");
	for (size_t i = 0; i < lf.ndeps; i++) {
		const struct svc_lock_entry *e = &lf.deps[i];

		if (!e->name || !e->git || !e->ref || !svc_hex_is(e->commit, 40) ||
		    e->commit[40])
			broken("success: complete entries");
		if (svc_lockfile_find(&lf, e->name) != e)
			broken("success: unique names, each found");
	}
	svc_lockfile_release(&lf);
	return 0;
}
