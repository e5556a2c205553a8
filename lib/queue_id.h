/*
 * queue_id.h - queue IDs: unique, short, file-name-safe, ordered by time.
 *
 * FORMAT
 *
 * An ID is 11 to 21 characters from the alphabet 0-9 A-Z a-z (in that
 * order, which is also ASCII order):
 *
 *     SSSSSS UUUU I...
 *     6 chars: arrival seconds since the epoch, base 62, fixed width
 *     4 chars: microseconds 0..999999, base 62, fixed width
 *     1-11 chars: the queue file's inode number, base 62, no leading zeros
 *
 * e.g. "1rXbW70DPq4Kj".  Sorting IDs as strings sorts them by creation time
 * (to the microsecond), like Postfix's long queue IDs.
 *
 * UNIQUENESS
 *
 * The ID is derived after the queue file exists: qfile_create() creates it
 * O_EXCL under a temporary name, takes its inode number and the time, and
 * renames it to the ID with a rename that refuses to replace (see
 * durable_rename_noreplace).  Two files that exist at the same time on one
 * file system have different inode numbers, so their IDs differ even when
 * two processes create them in the same microsecond; an inode number that
 * is reused later comes with a later time; and if, against all that, the
 * name exists anyway, the no-replace rename fails and the creator retries
 * with a fresh time.  All queue directories are on one file system, so an
 * ID is unique across the whole queue.
 */
#ifndef TERN_QUEUE_ID_H
#define TERN_QUEUE_ID_H

#include "sys.h"

#include <sys/time.h>

#define QUEUE_ID_MIN 11
#define QUEUE_ID_MAX 21
#define QUEUE_ID_SIZE (QUEUE_ID_MAX + 1) /* buffer size with the NUL */

/* Build the ID for a file with inode ino created at time tv. */
void queue_id_make(char buf[QUEUE_ID_SIZE], const struct timeval *tv, uint64_t ino);
/*
 * True when s is a well-formed queue ID: safe to append to a queue
 * directory path (no '/', no "..", only the alphabet, bounded length).
 * Tools taking an ID from a user must check it with this.
 */
bool queue_id_valid(const char *s);
/* The creation time encoded in a valid ID; -1 if the ID is malformed. */
int queue_id_time(const char *id, struct timeval *tv_r);

#endif
