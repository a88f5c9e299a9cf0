/*
 * hashtree - time the builder's context hash (svc_tree_walk with a hash,
 * no copy) over a folder:
 *
 *   hashtree DIR [ROUNDS]     prints one line per round:
 *   files=N bytes=N seconds=S mb_per_s=R
 *
 * The first round reads from disk or the page cache as it finds them; the
 * script that runs this decides which rounds count (bench/build.sh).
 */
#include <stdio.h>
#include <stdlib.h>

#include "hash.h"
#include "tree.h"
#include "util.h"

int main(int argc, char **argv)
{
	int rounds = argc > 2 ? atoi(argv[2]) : 1;

	if (argc < 2 || rounds < 1) {
		fputs("usage: hashtree DIR [ROUNDS]\n", stderr);
		return 2;
	}
	for (int i = 0; i < rounds; i++) {
		struct svc_tree_stats st;
		struct svc_error err = { 0 };
		struct svc_hash *h = svc_hash_new();
		char hex[SVC_HASH_HEX_LEN + 1], buf[1200];
		int64_t t0 = svc_mono_ms();
		double s;

		if (svc_tree_walk(argv[1], NULL, h, NULL, &st, &err)) {
			fprintf(stderr, "hashtree: %s\n", svc_error_format(&err, buf, sizeof(buf)));
			return 1;
		}
		svc_hash_final_hex(h, hex);
		svc_hash_free(h);
		s = (double)(svc_mono_ms() - t0) / 1000.0;
		printf("files=%llu bytes=%llu seconds=%.3f mb_per_s=%.0f hash=%.12s\n",
		       (unsigned long long)st.files, (unsigned long long)st.bytes, s,
		       s > 0 ? (double)st.bytes / 1e6 / s : 0.0, hex);
	}
	return 0;
}
