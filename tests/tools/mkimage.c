/*
 * mkimage - build an image through the Engine API from the files of one
 * folder (flat: regular files only), for the demo and the Docker tests:
 *
 *   mkimage TAG DIR      e.g. mkimage greeter:demo /tmp/ctx
 *
 * DIR holds a Dockerfile and what it copies. The build context is written
 * as a ustar archive (a header block per file, contents padded to 512
 * bytes, two zero blocks) and sent with svc_docker_image_build; the
 * engine's output goes to stdout. The engine is DOCKER_HOST's.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "docker_api.h"
#include "util.h"

static void octal(char *field, size_t len, unsigned long long v)
{
	snprintf(field, len, "%0*llo", (int)len - 1, v);
}

/* Append one regular file to the archive at out. */
static int add_file(FILE *out, const char *dir, const char *name)
{
	char header[512], block[512], *path = svc_strfmt("%s/%s", dir, name);
	struct stat st;
	unsigned sum = 0;
	FILE *in = NULL;
	size_t n;
	int rc = -1;

	if (stat(path, &st) || !S_ISREG(st.st_mode) || strlen(name) >= 100) {
		rc = 1; /* not a plain file: left out */
		goto done;
	}
	memset(header, 0, sizeof(header));
	memcpy(header, name, strlen(name));
	octal(header + 100, 8, st.st_mode & 0777);
	octal(header + 108, 8, 0);
	octal(header + 116, 8, 0);
	octal(header + 124, 12, (unsigned long long)st.st_size);
	octal(header + 136, 12, (unsigned long long)st.st_mtime);
	memset(header + 148, ' ', 8);
	header[156] = '0';
	memcpy(header + 257, "ustar", 6);
	memcpy(header + 263, "00", 2);
	for (size_t i = 0; i < sizeof(header); i++)
		sum += (unsigned char)header[i];
	snprintf(header + 148, 8, "%06o", sum);
	if (fwrite(header, 1, sizeof(header), out) != sizeof(header))
		goto done;
	in = fopen(path, "rb");
	if (!in)
		goto done;
	while ((n = fread(block, 1, sizeof(block), in)) > 0) {
		memset(block + n, 0, sizeof(block) - n);
		if (fwrite(block, 1, sizeof(block), out) != sizeof(block))
			goto done;
	}
	rc = ferror(in) ? -1 : 0;
done:
	if (in)
		fclose(in);
	free(path);
	return rc;
}

int main(int argc, char **argv)
{
	struct svc_docker *d = NULL;
	struct svc_error err = { 0 };
	char tar[] = "/tmp/mkimage-XXXXXX", zero[1024], buf[1200];
	struct dirent *de;
	DIR *dir;
	FILE *out;
	int fd, rc = 1;

	if (argc != 3) {
		fputs("usage: mkimage TAG DIR\n", stderr);
		return 2;
	}
	fd = mkstemp(tar);
	if (fd < 0 || !(out = fdopen(fd, "wb")) || !(dir = opendir(argv[2]))) {
		fprintf(stderr, "mkimage: %s\n", strerror(errno));
		return 1;
	}
	while ((de = readdir(dir)))
		if (de->d_name[0] != '.' && add_file(out, argv[2], de->d_name) < 0) {
			fprintf(stderr, "mkimage: cannot add '%s'\n", de->d_name);
			goto done;
		}
	memset(zero, 0, sizeof(zero));
	if (fwrite(zero, 1, sizeof(zero), out) != sizeof(zero) || fflush(out))
		goto done;
	if (svc_docker_open(&d, NULL, &err) ||
	    svc_docker_image_build(d, tar, argv[1], NULL, STDOUT_FILENO, &err)) {
		fprintf(stderr, "mkimage: %s\n", svc_error_format(&err, buf, sizeof(buf)));
		goto done;
	}
	rc = 0;
done:
	closedir(dir);
	fclose(out);
	unlink(tar);
	svc_docker_free(d);
	return rc;
}
