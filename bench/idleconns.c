/*
 * idleconns - open N idle TCP connections to an address and hold them for
 * T seconds, then exit: the load generator of bench/idle_memory.sh.
 *
 *   idleconns HOST:PORT N SECONDS
 *
 * Connects are non-blocking and at most 256 are in flight at once, so the
 * target's accept backlog is never overrun. Once every connection is
 * established the program prints "ready N" on stdout (the benchmark
 * measures then) and holds them, sending nothing, until SECONDS have passed
 * since that line or SIGTERM/SIGINT arrives. A connection the peer closes
 * is counted and reported on exit. Bounded: N <= 100000, SECONDS <= 3600.
 * It raises its own RLIMIT_NOFILE soft limit to the hard one.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "util.h"

#define MAX_CONNS 100000
#define MAX_SECONDS 3600
#define IN_FLIGHT 256
#define CONNECT_PHASE_MS 60000

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static void usage(void)
{
	fprintf(stderr, "usage: idleconns HOST:PORT N SECONDS  (N <= %d, SECONDS <= %d)\n",
		MAX_CONNS, MAX_SECONDS);
}

int main(int argc, char **argv)
{
	struct svc_addr addr;
	struct svc_error err;
	struct rlimit rl;
	struct sigaction sa;
	struct epoll_event evs[256];
	long long n, seconds;
	int *fds = NULL;
	long started = 0, established = 0, failed = 0, in_flight = 0, closed = 0;
	int epfd = -1, rc = 1;
	int64_t deadline;

	svc_error_clear(&err);
	if (argc != 4 || svc_addr_parse(&addr, argv[1], false, &err) ||
	    svc_parse_int(&n, argv[2], 1, MAX_CONNS) ||
	    svc_parse_int(&seconds, argv[3], 0, MAX_SECONDS)) {
		if (err.code)
			fprintf(stderr, "idleconns: %s\n", err.message);
		usage();
		return 2;
	}
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	fds = calloc((size_t)n, sizeof(*fds));
	epfd = epoll_create1(EPOLL_CLOEXEC);
	if (!fds || epfd < 0) {
		perror("idleconns");
		goto done;
	}
	for (long i = 0; i < n; i++)
		fds[i] = -1;

	/* Phase 1: connect, IN_FLIGHT at a time. */
	deadline = svc_mono_ms() + CONNECT_PHASE_MS;
	while (established + failed < n && !stop) {
		int k;

		while (in_flight < IN_FLIGHT && started < n) {
			int fd = socket(addr.ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
			struct epoll_event ev = { .events = EPOLLOUT, .data.u64 = (uint64_t)started };

			if (fd < 0) {
				fprintf(stderr, "idleconns: socket: %s (after %ld)\n",
					strerror(errno), started);
				goto done;
			}
			fds[started] = fd;
			if (connect(fd, (struct sockaddr *)&addr.ss, addr.len) && errno != EINPROGRESS) {
				failed++;
				started++;
				continue;
			}
			epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev);
			in_flight++;
			started++;
		}
		if (svc_mono_ms() > deadline) {
			fprintf(stderr, "idleconns: connects did not finish within %ds\n",
				CONNECT_PHASE_MS / 1000);
			goto done;
		}
		k = epoll_wait(epfd, evs, 256, 1000);
		for (int i = 0; i < k; i++) {
			long idx = (long)evs[i].data.u64;
			int soerr = 0;
			socklen_t sl = sizeof(soerr);

			getsockopt(fds[idx], SOL_SOCKET, SO_ERROR, &soerr, &sl);
			epoll_ctl(epfd, EPOLL_CTL_DEL, fds[idx], NULL);
			in_flight--;
			if (soerr) {
				failed++;
			} else {
				struct epoll_event ev = { .events = EPOLLRDHUP, .data.u64 = (uint64_t)idx };
				established++;
				epoll_ctl(epfd, EPOLL_CTL_ADD, fds[idx], &ev);
			}
		}
	}
	printf("ready %ld\n", established);
	if (failed)
		printf("failed %ld\n", failed);
	fflush(stdout);

	/* Phase 2: hold, counting connections the peer closes. */
	deadline = svc_mono_ms() + seconds * 1000;
	while (!stop && svc_mono_ms() < deadline) {
		int64_t left = deadline - svc_mono_ms();
		int k = epoll_wait(epfd, evs, 256, left > 1000 ? 1000 : (int)left);

		for (int i = 0; i < k; i++) {
			long idx = (long)evs[i].data.u64;
			epoll_ctl(epfd, EPOLL_CTL_DEL, fds[idx], NULL);
			closed++;
		}
	}
	printf("closed_by_peer %ld\n", closed);
	rc = failed ? 1 : 0;
done:
	if (fds)
		for (long i = 0; i < n; i++)
			if (fds[i] >= 0)
				close(fds[i]);
	free(fds);
	if (epfd >= 0)
		close(epfd);
	return rc;
}
