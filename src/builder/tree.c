/*
 * tree.c - walk a folder in a fixed order; hash it, copy it, or archive it
 * in the same pass (see tree.h for the contract).
 *
 * Hash layout, per entry in walk order (names sorted with strcmp per
 * folder, depth first, ".git" left out, the root itself not an entry):
 *   folder:  'd', str(path)
 *   file:    'f', str(path), 'x' or '-', u64le(size), content
 *   symlink: 'l', str(path), str(target)
 * where str() is svc_hash_update_str (a length-prefixed string) and path
 * is relative to the root with '/' separators.
 *
 * Symlinks in an input tree must stay inside it. The check is lexical and
 * strict: a target is relative, its ".." components come first and are no
 * more than the link's depth ("../lib/x" from "a/l" is fine), and no ".."
 * follows a name ("a/../b" is refused: through a symlink "a" it could
 * leave). Since every link is held to this, following any chain of them
 * stays inside the tree.
 */
#include "tree.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util.h"

#define COPY_BUF (256 * 1024)
#define TARGET_MAX 4096

struct walk {
	const char *label;        /* names the root in messages */
	struct svc_hash *h;       /* may be NULL */
	struct archive *ar;       /* may be NULL: archive instead of copy */
	struct svc_tree_stats *stats;
	bool strict;              /* an input tree: refuse what may not be in one */
	bool skip_manifests;      /* leave the root's *.yaml, *.yml, *.lock out */
	char *buf;
	struct svc_error *err;
};

static int cmp_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The names in the folder open at fd, sorted, ".git" left out. Caller frees. */
static char **list_names(int fd, size_t *count, struct svc_error *err, const char *what)
{
	int dup_fd = dup(fd);
	DIR *d = dup_fd >= 0 ? fdopendir(dup_fd) : NULL;
	char **names = NULL;
	size_t n = 0, alloc = 0;
	struct dirent *de;

	if (!d) {
		if (dup_fd >= 0)
			close(dup_fd);
		svc_error_set_errno(err, SVC_EGENERIC, errno, "cannot read folder %s", what);
		return NULL;
	}
	rewinddir(d);
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..") ||
		    !strcmp(de->d_name, ".git"))
			continue;
		if (n + 1 >= alloc) {
			alloc = alloc ? alloc * 2 : 32;
			names = svc_realloc(names, alloc, sizeof(*names));
		}
		names[n++] = svc_strdup(de->d_name);
	}
	closedir(d);
	if (!names)
		names = svc_calloc(1, sizeof(*names));
	names[n] = NULL;
	qsort(names, n, sizeof(*names), cmp_name);
	*count = n;
	return names;
}

static void hash_u64(struct svc_hash *h, uint64_t v)
{
	unsigned char le[8];

	for (int i = 0; i < 8; i++)
		le[i] = (unsigned char)(v >> (8 * i));
	svc_hash_update(h, le, sizeof(le));
}

/* Whether a symlink at rel (depth: folders above it) with target stays inside. */
static const char *target_problem(const char *target, int depth)
{
	bool named = false;

	if (target[0] == '/')
		return "pointing outside the context";
	for (const char *c = target; *c;) {
		size_t seg = strcspn(c, "/");

		if (seg == 2 && c[0] == '.' && c[1] == '.') {
			if (named)
				return "whose target has '..' after a name";
			if (--depth < 0)
				return "pointing outside the context";
		} else if (seg && !(seg == 1 && c[0] == '.')) {
			named = true;
		}
		c += seg;
		while (*c == '/')
			c++;
	}
	return NULL;
}

static int refuse(struct walk *w, const char *rel, const char *what)
{
	return svc_error_set(w->err, SVC_EFAILED, "%s: '%s' %s", w->label, rel, what);
}

/* Copy (or archive) and hash one regular file's bytes. */
static int do_file(struct walk *w, int dirfd, const char *name, const char *rel,
		   const struct stat *st, int destfd, struct archive_entry *ae)
{
	bool exec = (st->st_mode & 0111) != 0;
	int in = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC), out = -1, rc = 0;
	uint64_t total = 0;
	ssize_t n;

	if (in < 0)
		return svc_error_set_errno(w->err, SVC_EGENERIC, errno, "%s: cannot read '%s'",
					   w->label, rel);
	if (destfd >= 0) {
		out = openat(destfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (out < 0 || fchmod(out, exec ? 0755 : 0644)) {
			rc = svc_error_set_errno(w->err, SVC_EGENERIC, errno,
						 "cannot create the copy of '%s'", rel);
			goto done;
		}
	}
	if (w->h) {
		svc_hash_update(w->h, "f", 1);
		svc_hash_update_str(w->h, rel);
		svc_hash_update(w->h, exec ? "x" : "-", 1);
		hash_u64(w->h, (uint64_t)st->st_size);
	}
	if (ae && archive_write_header(w->ar, ae) != ARCHIVE_OK) {
		rc = svc_error_set(w->err, SVC_EGENERIC, "cannot archive '%s': %s", rel,
				   archive_error_string(w->ar));
		goto done;
	}
	while ((n = read(in, w->buf, COPY_BUF)) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			rc = svc_error_set_errno(w->err, SVC_EGENERIC, errno, "%s: cannot read '%s'",
						 w->label, rel);
			goto done;
		}
		total += (uint64_t)n;
		if (total > (uint64_t)st->st_size)
			break;
		if (w->h)
			svc_hash_update(w->h, w->buf, (size_t)n);
		if (out >= 0 && svc_write_all(out, w->buf, (size_t)n)) {
			rc = svc_error_set_errno(w->err, SVC_EGENERIC, errno,
						 "cannot write the copy of '%s'", rel);
			goto done;
		}
		if (ae && archive_write_data(w->ar, w->buf, (size_t)n) != n) {
			rc = svc_error_set(w->err, SVC_EGENERIC, "cannot archive '%s': %s", rel,
					   archive_error_string(w->ar));
			goto done;
		}
	}
	if (total != (uint64_t)st->st_size)
		rc = svc_error_set(w->err, SVC_EFAILED, "%s: '%s' changed while it was being read",
				   w->label, rel);
	if (w->stats) {
		w->stats->files++;
		w->stats->bytes += total;
	}
done:
	if (out >= 0 && close(out) && !rc)
		rc = svc_error_set_errno(w->err, SVC_EGENERIC, errno,
					 "cannot write the copy of '%s'", rel);
	close(in);
	return rc;
}

static int do_symlink(struct walk *w, int dirfd, const char *name, const char *rel,
		      int depth, int destfd, struct archive_entry *ae)
{
	char target[TARGET_MAX];
	const char *problem;
	ssize_t n = readlinkat(dirfd, name, target, sizeof(target) - 1);

	if (n < 0)
		return svc_error_set_errno(w->err, SVC_EGENERIC, errno, "%s: cannot read link '%s'",
					   w->label, rel);
	target[n] = '\0';
	if (w->strict && (problem = target_problem(target, depth))) {
		char what[600];

		snprintf(what, sizeof(what), "is a symlink %s ('%.400s')", problem, target);
		return refuse(w, rel, what);
	}
	if (w->h) {
		svc_hash_update(w->h, "l", 1);
		svc_hash_update_str(w->h, rel);
		svc_hash_update_str(w->h, target);
	}
	if (destfd >= 0 && symlinkat(target, destfd, name))
		return svc_error_set_errno(w->err, SVC_EGENERIC, errno,
					   "cannot create the copy of '%s'", rel);
	if (ae) {
		archive_entry_set_symlink(ae, target);
		if (archive_write_header(w->ar, ae) != ARCHIVE_OK)
			return svc_error_set(w->err, SVC_EGENERIC, "cannot archive '%s': %s", rel,
					     archive_error_string(w->ar));
	}
	if (w->stats)
		w->stats->symlinks++;
	return 0;
}

static struct archive_entry *entry_for(const char *rel, const struct stat *st, mode_t type)
{
	struct archive_entry *ae = archive_entry_new();
	mode_t perm = type == AE_IFREG ? ((st->st_mode & 0111) ? 0755 : 0644) : 0755;

	if (!ae) {
		fputs("svcctl: out of memory\n", stderr);
		abort();
	}
	archive_entry_set_pathname(ae, rel);
	archive_entry_set_filetype(ae, type);
	archive_entry_set_perm(ae, type == AE_IFLNK ? 0777 : perm);
	archive_entry_set_size(ae, type == AE_IFREG ? st->st_size : 0);
	archive_entry_set_uid(ae, 0);
	archive_entry_set_gid(ae, 0);
	archive_entry_set_mtime(ae, 0, 0);
	return ae;
}

static int walk_dir(struct walk *w, int fd, const char *prefix, int depth, int destfd);

static int walk_entry(struct walk *w, int fd, const char *name, const char *rel, int depth,
		      int destfd)
{
	struct archive_entry *ae = NULL;
	struct stat st;
	int rc = 0, sub = -1, subdest = -1;

	if (fstatat(fd, name, &st, AT_SYMLINK_NOFOLLOW))
		return svc_error_set_errno(w->err, SVC_EGENERIC, errno, "%s: cannot read '%s'",
					   w->label, rel);
	if (S_ISREG(st.st_mode)) {
		if (w->ar)
			ae = entry_for(rel, &st, AE_IFREG);
		rc = do_file(w, fd, name, rel, &st, destfd, ae);
	} else if (S_ISLNK(st.st_mode)) {
		if (w->ar)
			ae = entry_for(rel, &st, AE_IFLNK);
		rc = do_symlink(w, fd, name, rel, depth, destfd, ae);
	} else if (S_ISDIR(st.st_mode)) {
		if (w->h) {
			svc_hash_update(w->h, "d", 1);
			svc_hash_update_str(w->h, rel);
		}
		if (w->ar) {
			ae = entry_for(rel, &st, AE_IFDIR);
			if (archive_write_header(w->ar, ae) != ARCHIVE_OK)
				rc = svc_error_set(w->err, SVC_EGENERIC, "cannot archive '%s': %s",
						   rel, archive_error_string(w->ar));
		}
		if (!rc && destfd >= 0) {
			if (mkdirat(destfd, name, 0700) ||
			    (subdest = openat(destfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0 ||
			    fchmod(subdest, 0755))
				rc = svc_error_set_errno(w->err, SVC_EGENERIC, errno,
							 "cannot create the copy of '%s'", rel);
		}
		if (!rc && (sub = openat(fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
					 O_CLOEXEC)) < 0)
			rc = svc_error_set_errno(w->err, SVC_EGENERIC, errno,
						 "%s: cannot read folder '%s'", w->label, rel);
		if (!rc) {
			if (w->stats)
				w->stats->dirs++;
			rc = walk_dir(w, sub, rel, depth + 1, subdest);
		}
	} else if (w->strict) {
		rc = refuse(w, rel, "is not a file, folder or symlink (a fifo, socket or "
			    "device cannot be a build input)");
	}
	if (ae)
		archive_entry_free(ae);
	if (sub >= 0)
		close(sub);
	if (subdest >= 0)
		close(subdest);
	return rc;
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), k = strlen(suffix);

	return n > k && !strcmp(s + n - k, suffix);
}

static bool is_manifest_name(const char *name)
{
	return ends_with(name, ".yaml") || ends_with(name, ".yml") || ends_with(name, ".lock");
}

static int walk_dir(struct walk *w, int fd, const char *prefix, int depth, int destfd)
{
	size_t n = 0;
	char **names = list_names(fd, &n, w->err, prefix[0] ? prefix : w->label);
	int rc = names ? 0 : SVC_EGENERIC;

	for (size_t i = 0; i < n && !rc; i++) {
		char *rel;

		if (depth == 0 && w->skip_manifests && is_manifest_name(names[i]))
			continue;
		rel = prefix[0] ? svc_strfmt("%s/%s", prefix, names[i]) : svc_strdup(names[i]);
		rc = walk_entry(w, fd, names[i], rel, depth, destfd);
		free(rel);
	}
	svc_strv_free(names);
	return rc;
}

/* dest as an empty folder: created with its parents, or empty already. */
static int open_dest(const char *dest, struct svc_error *err)
{
	size_t n = 0;
	char **names;
	int fd, rc;

	if ((rc = svc_mkdir_p(dest, 0755, err)))
		return -1;
	fd = open(dest, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		svc_error_set_errno(err, SVC_EGENERIC, errno, "cannot open '%s'", dest);
		return -1;
	}
	names = list_names(fd, &n, err, dest);
	svc_strv_free(names);
	if (!names || n) {
		if (names)
			svc_error_set(err, SVC_EFAILED, "'%s' is not empty", dest);
		close(fd);
		return -1;
	}
	return fd;
}

static int open_root(const char *root, const char *label, struct svc_error *err)
{
	int fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0)
		svc_error_set_errno(err, errno == ENOENT ? SVC_ENOTFOUND : SVC_EGENERIC, errno,
				    "%s: cannot open it as a folder", label);
	return fd;
}

static int walk_root(struct walk *w, const char *root, const char *dest,
		     struct svc_error *err);

int svc_tree_walk(const char *root, const char *label, struct svc_hash *h,
		  const char *dest, struct svc_tree_stats *stats,
		  struct svc_error *err)
{
	struct walk w = { .label = label ? label : root, .h = h, .stats = stats,
			  .strict = true, .err = err };

	return walk_root(&w, root, dest, err);
}

int svc_tree_hash_dir(const char *root, const char *label, bool skip_manifests,
		      char out[SVC_HASH_HEX_LEN + 1], struct svc_tree_stats *stats,
		      struct svc_error *err)
{
	struct walk w = { .label = label ? label : root, .h = svc_hash_new(), .stats = stats,
			  .skip_manifests = skip_manifests, .err = err };
	int rc = walk_root(&w, root, NULL, err);

	svc_hash_final_hex(w.h, out);
	svc_hash_free(w.h);
	return rc;
}

static int walk_root(struct walk *w, const char *root, const char *dest,
		     struct svc_error *err)
{
	struct svc_tree_stats *stats = w->stats;
	int fd, destfd = -1, rc;

	if (stats)
		memset(stats, 0, sizeof(*stats));
	if ((fd = open_root(root, w->label, err)) < 0)
		return err && err->code ? err->code : SVC_EGENERIC;
	if (dest && (destfd = open_dest(dest, err)) < 0) {
		close(fd);
		return err && err->code ? err->code : SVC_EGENERIC;
	}
	w->buf = malloc(COPY_BUF);
	if (!w->buf) {
		fputs("svcctl: out of memory\n", stderr);
		abort();
	}
	rc = walk_dir(w, fd, "", 0, destfd);
	free(w->buf);
	if (destfd >= 0)
		close(destfd);
	close(fd);
	return rc;
}

int svc_tree_tar(const char *root, const char *tar_path, struct svc_error *err)
{
	struct walk w = { .label = root, .err = err };
	int fd, out, rc;

	if ((fd = open_root(root, root, err)) < 0)
		return err && err->code ? err->code : SVC_EGENERIC;
	unlink(tar_path);
	out = open(tar_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (out < 0) {
		close(fd);
		return svc_error_set_errno(err, SVC_EGENERIC, errno, "cannot create '%s'", tar_path);
	}
	w.ar = archive_write_new();
	w.buf = malloc(COPY_BUF);
	if (!w.ar || !w.buf) {
		fputs("svcctl: out of memory\n", stderr);
		abort();
	}
	archive_write_set_format_pax_restricted(w.ar);
	if (archive_write_open_fd(w.ar, out) != ARCHIVE_OK)
		rc = svc_error_set(err, SVC_EGENERIC, "cannot write '%s': %s", tar_path,
				   archive_error_string(w.ar));
	else
		rc = walk_dir(&w, fd, "", 0, -1);
	if (archive_write_close(w.ar) != ARCHIVE_OK && !rc)
		rc = svc_error_set(err, SVC_EGENERIC, "cannot write '%s': %s", tar_path,
				   archive_error_string(w.ar));
	archive_write_free(w.ar);
	if (close(out) && !rc)
		rc = svc_error_set_errno(err, SVC_EGENERIC, errno, "cannot write '%s'", tar_path);
	free(w.buf);
	close(fd);
	return rc;
}

static __thread uint64_t du_total;

static int du_add(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)path;
	(void)flag;
	(void)ftw;
	du_total += (uint64_t)st->st_blocks * 512;
	return 0;
}

uint64_t svc_tree_disk_usage(const char *path)
{
	struct stat st;

	if (lstat(path, &st))
		return 0;
	if (!S_ISDIR(st.st_mode))
		return (uint64_t)st.st_blocks * 512;
	du_total = 0;
	nftw(path, du_add, 16, FTW_PHYS);
	return du_total;
}
