/*
 * cleanup_engine.h - cleanup's work on one message, as a library: check
 * the envelope, add Received: (and Message-ID/Date/From for local
 * submissions), apply header_checks, virtual_alias_maps and the size
 * limits, write the queue file into incoming/ (or hold/), commit it
 * durably, log, and wake qmgr.
 *
 * One implementation, two ways in: the cleanup daemon (cleanup/cleanup.c)
 * runs it for clients of the cleanup protocol (cleanup_proto.h), and
 * cleanup_client.c runs it in the caller's own process when
 * inline_cleanup is set (smtpd and pickup, which run as mail_owner like
 * the cleanup daemon: no privilege boundary is merged away, one process
 * hop and its round trips are).
 *
 *     cleanup_engine_init();                  once, before any chroot
 *     cleanup_msg_t *m = cleanup_msg_begin(&env, &err);   NULL: bad envelope
 *     cleanup_msg_write(m, data, len);        any number of times
 *     struct cleanup_outcome out;
 *     cleanup_msg_end(m, &out);               out.status 0: on stable storage
 *     cleanup_msg_free(&m);                   before _end: nothing is queued
 *
 * Promises:
 *   - The current directory is queue_directory from cleanup_engine_init
 *     on (it changes there); paths in the queue are relative to it.
 *   - status CLEANUP_STAT_OK from cleanup_msg_end means the queue file and
 *     its directory entry are on stable storage; then qmgr has been woken
 *     (unless the message was held or discarded).
 *   - A message freed before cleanup_msg_end, or one that fails, leaves no
 *     complete queue file behind; a process killed at any point leaves at
 *     most an incomplete one (mode 0600), which qmgr never picks up.
 */
#ifndef TERN_CLEANUP_ENGINE_H
#define TERN_CLEANUP_ENGINE_H

#include "sys.h"
#include "cleanup_client.h"

typedef struct cleanup_state cleanup_msg_t;

struct cleanup_outcome {
    int status;           /* CLEANUP_STAT_OK / _TEMP / _PERM */
    const char *queue_id; /* "" unless status 0 (or a discard) */
    const char *dsn;      /* "2.0.0", "4.3.0", "5.3.4", ... */
    const char *reason;   /* "" when status 0 */
};

/* Tables and limits from the configuration; chdir to queue_directory. */
void cleanup_engine_init(void);
/* Whether cleanup_engine_init has run in this process. */
bool cleanup_engine_ready(void);

/* Start a message; NULL with a malloc'ed *error_r when env is malformed. */
cleanup_msg_t *cleanup_msg_begin(const struct cleanup_envelope *env, char **error_r);
/* Content bytes (header and body, "\n" line ends); errors are noted. */
void cleanup_msg_write(cleanup_msg_t *m, const void *data, size_t len);
/* End of content: commit and log; *out points into m until it is freed. */
void cleanup_msg_end(cleanup_msg_t *m, struct cleanup_outcome *out);
/* Free (and before cleanup_msg_end, abort) a message.  NULL is fine. */
void cleanup_msg_free(cleanup_msg_t **mp);

#endif
