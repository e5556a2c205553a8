/*
 * pickup.h - the pickup daemon: feeds maildrop/ files (written by
 * terndrop) to cleanup.
 */
#ifndef TERN_PICKUP_H
#define TERN_PICKUP_H

#include "sys.h"

/* Outcome of one maildrop file. */
enum pickup_result {
    PICKUP_DONE,    /* queued by cleanup and removed */
    PICKUP_SKIP,    /* not ready or unreadable now: try at the next scan */
    PICKUP_RETRY,   /* cleanup is unavailable: stop this scan */
    PICKUP_CORRUPT, /* moved to corrupt/ */
};

/* pickup_file.c: handle maildrop/ID (cwd is the queue directory). */
enum pickup_result pickup_file(const char *id);

#endif
