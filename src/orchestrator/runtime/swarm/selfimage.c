/*
 * runtime/swarm/selfimage.c - the image of svcctl itself that the routers
 * on swarm nodes run: FROM scratch, the running svcctl binary as /svcctl,
 * every shared library it has loaded in /lib (under each name the loader
 * may ask for), and its program interpreter where its ELF header says,
 * built through the Engine API (swarm.h).
 *
 * The libraries are those /proc/self/maps shows mapped, so the image holds
 * exactly what this svcctl runs with. A library is asked for by its soname
 * (libcurl.so.4), which on Debian is a symlink beside the file mapped
 * (libcurl.so.4.8.0): each is copied under its own name, with a symlink
 * in /lib for every symlink of its folder that resolves to it. The tag is svcctl-router:ID12,
 * ID the hash of the image's folder, so the same svcctl gives the same tag
 * and an image already there is not built again.
 */
#include "runtime/swarm/swarm.h"

#include <dirent.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runtime/docker_api.h"
#include "tree.h"
#include "util.h"

#define IMAGE_REPO "svcctl-router"

static const char dockerfile[] =
	"FROM scratch\n"
	"COPY . /\n"
	"ENV LD_LIBRARY_PATH=/lib\n"
	"ENTRYPOINT [\"/svcctl\"]\n";

/* Copy the regular file from to to (mode), whole. */
static int copy_file(const char *from, const char *to, mode_t mode, struct svc_error *err)
{
	char buf[65536];
	int in = open(from, O_RDONLY | O_CLOEXEC), out = -1, rc = 0;
	ssize_t n;

	if (in < 0)
		return svc_error_set_errno(err, SVC_EGENERIC, errno, "cannot open '%s'", from);
	out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (out < 0) {
		rc = svc_error_set_errno(err, SVC_EGENERIC, errno, "cannot create '%s'", to);
		goto done;
	}
	while ((n = read(in, buf, sizeof(buf))) > 0)
		if (write(out, buf, (size_t)n) != n) {
			rc = svc_error_set_errno(err, SVC_EGENERIC, errno, "cannot write '%s'", to);
			goto done;
		}
	if (n < 0)
		rc = svc_error_set_errno(err, SVC_EGENERIC, errno, "cannot read '%s'", from);
done:
	if (out >= 0 && close(out) && !rc)
		rc = svc_error_set_errno(err, SVC_EGENERIC, errno, "cannot write '%s'", to);
	close(in);
	return rc;
}

/* The program interpreter (PT_INTERP) of the ELF file at path, in out ("" when none). */
static int elf_interp(const char *path, char *out, size_t len, struct svc_error *err)
{
	Elf64_Ehdr eh;
	int fd = open(path, O_RDONLY | O_CLOEXEC), rc = 0;

	out[0] = '\0';
	if (fd < 0)
		return svc_error_set_errno(err, SVC_EGENERIC, errno, "cannot open '%s'", path);
	if (pread(fd, &eh, sizeof(eh), 0) != (ssize_t)sizeof(eh) ||
	    memcmp(eh.e_ident, ELFMAG, SELFMAG) || eh.e_ident[EI_CLASS] != ELFCLASS64) {
		rc = svc_error_set(err, SVC_EGENERIC, "'%s' is not a 64-bit ELF file", path);
		goto done;
	}
	for (unsigned i = 0; i < eh.e_phnum; i++) {
		Elf64_Phdr ph;
		if (pread(fd, &ph, sizeof(ph), (off_t)(eh.e_phoff + (uint64_t)i * eh.e_phentsize)) !=
		    (ssize_t)sizeof(ph))
			break;
		if (ph.p_type != PT_INTERP)
			continue;
		if (ph.p_filesz >= len || pread(fd, out, ph.p_filesz, (off_t)ph.p_offset) !=
						  (ssize_t)ph.p_filesz) {
			rc = svc_error_set(err, SVC_EGENERIC, "cannot read the interpreter of '%s'",
					   path);
			goto done;
		}
		out[ph.p_filesz] = '\0';
		break;
	}
done:
	close(fd);
	return rc;
}

/* Copy the library at path into lib/ under its name and under every symlink beside it to it. */
static int add_library(const char *root, const char *path, struct svc_error *err)
{
	char *dir = svc_strdup(path), *slash = strrchr(dir, '/'), *to;
	char real[PATH_MAX], other[PATH_MAX];
	DIR *d;
	struct dirent *de;
	int rc;

	*slash = '\0';
	to = svc_strfmt("%s/lib/%s", root, slash + 1);
	rc = copy_file(path, to, 0755, err);
	free(to);
	if (rc || !realpath(path, real) || !(d = opendir(dir[0] ? dir : "/")))
		goto done;
	while (!rc && (de = readdir(d))) {
		char *p;
		struct stat st;
		if (de->d_type != DT_LNK && de->d_type != DT_UNKNOWN)
			continue;
		p = svc_strfmt("%s/%s", dir, de->d_name);
		if (!lstat(p, &st) && S_ISLNK(st.st_mode) && realpath(p, other) &&
		    !strcmp(other, real)) {
			to = svc_strfmt("%s/lib/%s", root, de->d_name);
			/* a symlink in the image too: the tar keeps it (tree.h) */
			if (strcmp(de->d_name, slash + 1) && symlink(slash + 1, to) && errno != EEXIST)
				rc = svc_error_set_errno(err, SVC_EGENERIC, errno,
							 "cannot make '%s'", to);
			free(to);
		}
		free(p);
	}
	closedir(d);
done:
	free(dir);
	return rc;
}

/* Fill root with svcctl, its libraries, its interpreter and the Dockerfile. */
static int make_root(const char *root, const char *self_exe, struct svc_error *err)
{
	char *maps = NULL, *line, *save = NULL, interp[PATH_MAX], **seen = NULL;
	size_t nseen = 0;
	int rc;

	if ((rc = svc_mkdir_p(root, 0700, err)))
		return rc;
	{
		char *lib = svc_strfmt("%s/lib", root), *df = svc_strfmt("%s/Dockerfile", root);
		char *exe = svc_strfmt("%s/svcctl", root);
		if (!(rc = svc_mkdir_p(lib, 0755, err)) &&
		    !(rc = svc_file_write_atomic(df, dockerfile, sizeof(dockerfile) - 1, 0644, err)))
			rc = copy_file(self_exe, exe, 0755, err);
		free(exe);
		free(df);
		free(lib);
		if (rc)
			return rc;
	}
	if ((rc = elf_interp(self_exe, interp, sizeof(interp), err)))
		return rc;
	if (interp[0]) {
		char *to = svc_strfmt("%s%s", root, interp), *dir = svc_strdup(to);
		*strrchr(dir, '/') = '\0';
		if (!(rc = svc_mkdir_p(dir, 0755, err)))
			rc = copy_file(interp, to, 0755, err);
		free(dir);
		free(to);
		if (rc)
			return rc;
	}
	/* /proc/self/maps: "ADDR PERMS OFFSET DEV INODE PATH" */
	if ((rc = svc_file_read(&maps, NULL, "/proc/self/maps", 16 << 20, err)))
		return rc;
	for (line = strtok_r(maps, "\n", &save); line && !rc; line = strtok_r(NULL, "\n", &save)) {
		const char *path = strchr(line, '/'), *base;
		bool dup = false;
		if (!path || !(base = strrchr(path, '/')) || !strstr(base, ".so"))
			continue;
		for (size_t i = 0; i < nseen; i++)
			dup |= !strcmp(seen[i], path);
		if (dup)
			continue;
		seen = svc_realloc(seen, nseen + 2, sizeof(*seen));
		seen[nseen++] = svc_strdup(path);
		seen[nseen] = NULL;
		rc = add_library(root, path, err);
	}
	svc_strv_free(seen);
	free(maps);
	return rc;
}

int svc_swarm_router_image(struct svc_docker *d, const char *self_exe, const char *work_dir,
			   char **tag_out, struct svc_error *err)
{
	char *root = svc_strfmt("%s/router-image", work_dir);
	char *tar = svc_strfmt("%s/router-image.tar", work_dir), *tag = NULL;
	char hex[65];
	bool exists = false;
	int rc;

	*tag_out = NULL;
	svc_rm_rf(root);
	if ((rc = make_root(root, self_exe, err)) ||
	    (rc = svc_tree_hash_dir(root, "router-image", false, hex, NULL, err)))
		goto done;
	tag = svc_strfmt("%s:%.12s", IMAGE_REPO, hex);
	if ((rc = svc_docker_image_exists(d, tag, &exists, err)))
		goto done;
	if (!exists && ((rc = svc_tree_tar(root, tar, err)) ||
			(rc = svc_docker_image_build(d, tar, tag, "Dockerfile", NULL, 300, -1, err))))
		goto done;
	*tag_out = tag;
	tag = NULL;
done:
	unlink(tar);
	svc_rm_rf(root);
	free(tag);
	free(tar);
	free(root);
	return rc;
}
