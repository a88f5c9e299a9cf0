/*
 * fuzz_state.c - libFuzzer harness for every state file's loader.
 *
 * It walks the state file table (svc_state_files[] in state_files.h): each
 * entry names a file under the state dir by pattern and has a check hook
 * that parses bytes exactly as that file's loader does. So a state file
 * added to the table is fuzzed without editing this file or `make fuzz`.
 *
 * - FUZZ_STATE_FILE=PATTERN (e.g. "services/ * /current.json" without the
 *   spaces): every input is that file's bytes. `make fuzz` runs one job per
 *   entry this way, each over its own seeds (corpus/state/SLUG/).
 * - unset or empty: the first byte picks the entry (modulo the table's
 *   length), the rest are its bytes.
 * - FUZZ_STATE_LIST set: print the patterns, one a line, and exit (how
 *   tests/fuzz/run.sh finds the jobs).
 *
 * Beyond "no crash, no leak, no sanitizer report" it checks the hook's
 * promise: 0 with no error set, or a negative SVC_E* code that is also in
 * err, with a message.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "state_files.h"
#include "util.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static size_t nfiles;
static const struct svc_state_file *only;   /* FUZZ_STATE_FILE's entry, or NULL */
static char **paths;                        /* per entry: its pattern, '*' as "fuzz" */

static void broken(const struct svc_state_file *f, const char *what)
{
	fprintf(stderr, "fuzz_state: %s: broken promise: %s\n", f->pattern, what);
	abort();
}

/* "services/ * /current.json" -> "/state/services/fuzz/current.json" */
static char *example_path(const char *pattern)
{
	size_t n = strlen("/state/") + 1;
	char *out, *o;

	for (const char *p = pattern; *p; p++)
		n += *p == '*' ? 4 : 1;
	out = o = svc_calloc(1, n);
	o += snprintf(o, n, "/state/");
	for (const char *p = pattern; *p; p++) {
		if (*p == '*') {
			memcpy(o, "fuzz", 4);
			o += 4;
		} else {
			*o++ = *p;
		}
	}
	return out;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *want = getenv("FUZZ_STATE_FILE");

	(void)argc;
	(void)argv;
	while (svc_state_files[nfiles].pattern)
		nfiles++;
	if (getenv("FUZZ_STATE_LIST")) {
		for (size_t i = 0; i < nfiles; i++)
			printf("%s\n", svc_state_files[i].pattern);
		exit(fflush(stdout) ? 1 : 0);
	}
	if (nfiles == 0) {
		fprintf(stderr, "fuzz_state: the state file table is empty\n");
		exit(2);
	}
	paths = svc_calloc(nfiles, sizeof(*paths));
	for (size_t i = 0; i < nfiles; i++) {
		paths[i] = example_path(svc_state_files[i].pattern);
		if (want && !strcmp(want, svc_state_files[i].pattern))
			only = &svc_state_files[i];
	}
	if (want && *want && !only) {
		fprintf(stderr, "fuzz_state: no state file '%s' in the table\n", want);
		exit(2);
	}
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct svc_state_file *f = only;
	struct svc_error err;
	char line[2048];
	int rc;

	if (!f) {
		if (size == 0)
			return 0;
		f = &svc_state_files[data[0] % nfiles];
		data++;
		size--;
	}
	svc_error_clear(&err);
	rc = f->check((const char *)data, size, paths[f - svc_state_files], &err);
	if (rc == 0) {
		if (err.code)
			broken(f, "success leaves err unset");
	} else {
		if (rc > 0 || err.code != rc || !err.message[0])
			broken(f, "failure: a negative SVC_E* code, in err, with a message");
		svc_error_format(&err, line, sizeof(line));
	}
	return 0;
}
