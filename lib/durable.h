/*
 * durable.h - small helpers for putting things on stable storage.
 *
 * The mail system's promises ("250 means on disk", "a delivery is recorded
 * only after the Maildir file is in new/") rest on three habits gathered
 * here: write every byte or report why not, fsync the directory after an
 * entry in it changed, and never let a rename replace an existing file.
 * All functions return 0, or -1 with errno set (unchanged from the failing
 * system call) so callers can tell ENOSPC/EDQUOT/EIO from the rest.
 */
#ifndef TERN_DURABLE_H
#define TERN_DURABLE_H

#include "sys.h"

#include <sys/stat.h>

/* write(2) until all n bytes are written, retrying EINTR and short writes. */
int durable_write_all(int fd, const void *data, size_t n);
/* pwrite(2) until all n bytes are written at offset off. */
int durable_pwrite_all(int fd, const void *data, size_t n, off_t off);
/* fsync(2) a directory by path (its entries become durable). */
int durable_fsync_dir(const char *dir);
/* fsync(2) of the directory itself, never shared with a group. 0 or -1. */
int durable_fsync_dir_alone(const char *dir);
/* fsync(2) the directory holding path ("a/b/c" -> "a/b", "c" -> "."). */
int durable_fsync_parent(const char *path);
/*
 * Rename from to to, failing with EEXIST instead of replacing an existing
 * to (renameat2 RENAME_NOREPLACE; where the file system lacks it, link(2)
 * then unlink(2), which can leave both names after a crash, never none).
 */
int durable_rename_noreplace(const char *from, const char *to);
/*
 * Create directory path and any missing parents with mode; the parent of
 * each directory created is fsynced so the new entry survives a crash.
 * An existing directory is fine; an existing non-directory is ENOTDIR.
 */
int durable_mkdir_p(const char *path, mode_t mode);
/*
 * Group commit (durable_group.c): from now on durable_fsync_dir(dir), with
 * dir spelled the same, shares its fsync with other processes that opened
 * the same state_path (a small file created if missing), so overlapping
 * commits cost one directory fsync; each call still returns only once its
 * own entries are durable.  Call before any chroot.  0, or -1 with errno.
 */
int durable_group_open(const char *dir, const char *state_path);
/* The group fsync of dir: 0, -1 (errno), or 1 when dir has no group. */
int durable_group_fsync_dir(const char *dir);
/* Leave every group (its state file stays open and mapped till then). */
void durable_group_close_all(void);
/* True for errno values that mean "try again later" (disk full, quota, I/O). */
bool durable_errno_temporary(int err);

#endif
