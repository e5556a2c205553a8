/*
 * pidlock.h - "is a master running for this queue directory?"
 *
 * master holds an exclusive fcntl() lock on QUEUE_DIRECTORY/pid/master.pid
 * for its whole life and writes its pid there.  The kernel drops the lock
 * when master dies, however it dies, so the lock (not the file's content)
 * says whether a master runs; the content only names it.
 */
#ifndef TERN_PIDLOCK_H
#define TERN_PIDLOCK_H

#include "sys.h"

/* QUEUE_DIR/pid/master.pid (free it). */
char *pidlock_path(const char *queue_dir);

/* The pid written in an open pid file, 0 when unreadable. */
pid_t pidlock_read_pid(int fd);

/*
 * The pid of the process holding the lock: > 0 running, 0 not running
 * (no file, or nobody holds the lock), -1 the file cannot be examined.
 */
pid_t pidlock_holder(const char *queue_dir);

#endif
