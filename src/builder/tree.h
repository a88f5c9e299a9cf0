/*
 * tree.h - a folder of files as a build input: walked in a fixed order,
 * hashed, copied and archived.
 *
 * The walk visits entries depth-first with the names of each folder in
 * byte order (strcmp), so the same files give the same hash on every
 * machine. Entries named ".git" are left out at every depth (a context that
 * is a git work tree hashes the same before and after a commit).
 *
 * What a walk hashes, per entry, in walk order (see tree.c for the exact
 * byte layout): the kind (folder, file, symlink), the path relative to the
 * root, for files whether any execute bit is set, the size and the content,
 * for symlinks the target text. Full permission bits, owners and times are
 * not inputs: copies are written with normalized modes (folders 0755, files
 * 0755 when executable else 0644), so what is hashed is what is copied.
 */
#ifndef SVC_TREE_H
#define SVC_TREE_H

#include <stdbool.h>
#include <stdint.h>

#include "error.h"
#include "hash.h"

struct svc_tree_stats {
	uint64_t files;      /* regular files */
	uint64_t dirs;       /* folders, the root not counted */
	uint64_t symlinks;
	uint64_t bytes;      /* content bytes of regular files */
};

/*
 * Walk the folder root. With h, feed every entry to the hash. With dest,
 * also recreate the tree under dest: dest is created (with parents) when
 * missing and must be an empty folder when it exists; symlinks are
 * recreated as symlinks with the same target.
 *
 * Refused, with SVC_EFAILED and a message naming the entry by its path
 * relative to root, and nothing hashed or copied after it:
 *  - a symlink whose target is absolute, or whose target, resolved
 *    lexically from the link's own folder, leaves root ("'lib/x' is a
 *    symlink pointing outside the context ('../../etc/passwd')");
 *  - an entry that is not a folder, regular file or symlink (fifo, socket,
 *    device).
 * root itself may be a symlink to a folder (it is resolved first).
 * label names root in messages (e.g. "build.context '/src/app'"; NULL: the
 * path). stats (may be NULL) is filled with what was walked.
 */
int svc_tree_walk(const char *root, const char *label, struct svc_hash *h,
		  const char *dest, struct svc_tree_stats *stats,
		  struct svc_error *err);

/*
 * The content id of a folder something runs in (not a build input): the
 * walk's hash as hex, lenient where svc_tree_walk is strict (symlinks are
 * hashed by their target wherever they point; fifos, sockets and devices
 * are left out). With skip_manifests, the root's own *.yaml, *.yml and
 * *.lock entries are left out: the manifests beside a service and their
 * lock files, whose content enters the release id already.
 */
int svc_tree_hash_dir(const char *root, const char *label, bool skip_manifests,
		      char out[SVC_HASH_HEX_LEN + 1], struct svc_tree_stats *stats,
		      struct svc_error *err);

/*
 * Write the folder root as a tar archive (POSIX pax format, through
 * libarchive) at tar_path (created 0600, replaced if it exists). Entries
 * are relative to root, in walk order, ".git" left out, owned by 0:0 with
 * mtime 0 and normalized modes, so the same folder gives the same bytes.
 * Symlinks are archived as symlinks, whatever they point at (this is a
 * build's output, checked by the engine, not an input); other special
 * files are left out.
 */
int svc_tree_tar(const char *root, const char *tar_path, struct svc_error *err);

/* Disk usage of everything under path in bytes (st_blocks * 512), 0 when missing. */
uint64_t svc_tree_disk_usage(const char *path);

#endif
