/*
 * mkimage - build an image through the Engine API from one folder, for the
 * demo and the Docker tests:
 *
 *   mkimage TAG DIR      e.g. mkimage greeter:demo /tmp/ctx
 *
 * DIR holds a Dockerfile and what it copies. It is archived with the
 * builder's tar writer (svc_tree_tar) and sent with svc_docker_image_build;
 * the engine's output goes to stdout. The engine is DOCKER_HOST's.
 */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "runtime/docker_api.h"
#include "global.h"
#include "tree.h"
#include "util.h"

int main(int argc, char **argv)
{
	struct svc_docker *d = NULL;
	struct svc_error err = { 0 };
	char tar[] = "/tmp/mkimage-XXXXXX", buf[1200];
	int fd, rc = 1;

	if (argc != 3) {
		fputs("usage: mkimage TAG DIR\n", stderr);
		return 2;
	}
	if (svc_global_init(&err)) {
		fprintf(stderr, "mkimage: %s\n", err.message);
		return 1;
	}
	fd = mkstemp(tar);
	if (fd < 0) {
		perror("mkimage");
		return 1;
	}
	close(fd);
	if (svc_tree_tar(argv[2], tar, &err) || svc_docker_open(&d, NULL, &err) ||
	    svc_docker_image_build(d, tar, argv[1], NULL, NULL, 0, STDOUT_FILENO, &err))
		fprintf(stderr, "mkimage: %s\n", svc_error_format(&err, buf, sizeof(buf)));
	else
		rc = 0;
	unlink(tar);
	svc_docker_free(d);
	return rc;
}
