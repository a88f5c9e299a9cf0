/*
 * holdconns - open idle connections to a unix socket and hold them, for the
 * router's control-connection tests.
 *
 *   holdconns PATH COUNT SECONDS
 *
 * Connects COUNT times to the unix socket PATH (1-1000), prints
 * "held N" (how many connected) on stdout, then holds them without
 * sending a byte for SECONDS (1-600) and exits 0. Exits 1 when not one
 * connection could be made.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	long count, seconds, held = 0;

	if (argc != 4 || strlen(argv[1]) >= sizeof(sun.sun_path) ||
	    (count = strtol(argv[2], NULL, 10)) < 1 || count > 1000 ||
	    (seconds = strtol(argv[3], NULL, 10)) < 1 || seconds > 600) {
		fputs("usage: holdconns PATH COUNT(1-1000) SECONDS(1-600)\n", stderr);
		return 2;
	}
	memcpy(sun.sun_path, argv[1], strlen(argv[1]) + 1);
	for (long i = 0; i < count; i++) {
		int fd = socket(AF_UNIX, SOCK_STREAM, 0);
		if (fd < 0 || connect(fd, (struct sockaddr *)&sun, sizeof(sun))) {
			fprintf(stderr, "holdconns: connection %ld: %s\n", i + 1, strerror(errno));
			if (fd >= 0)
				close(fd);
			continue;
		}
		held++;
	}
	printf("held %ld\n", held);
	fflush(stdout);
	sleep((unsigned)seconds);
	return held ? 0 : 1;
}
