/*
 * cleanup_state.h - the cleanup engine's per-message state, shared by its
 * files in lib/: cleanup_engine.c (a message from envelope to outcome:
 * content chunks, size limit, commit, log), cleanup_envelope.c (the
 * envelope checked and taken over), cleanup_header.c (each logical
 * header: header_checks, hop count, sendmail -t, missing headers),
 * cleanup_valias.c (virtual_alias_maps) and cleanup_out.c (the queue
 * file, Received, commit, qmgr).  Callers use cleanup_engine.h.
 *
 * The queue file is created only when the header section has been read
 * and checked, so a message rejected or discarded by header_checks never
 * leaves a file behind, and a held message is written into hold/ from
 * the start.  The processed header section waits in memory until then
 * (bounded by header_size_limit plus what header_checks adds).
 */
#ifndef TERN_CLEANUP_STATE_H
#define TERN_CLEANUP_STATE_H

#include "sys.h"
#include "cleanup_engine.h"
#include "dict.h"
#include "header.h"
#include "qfile.h"
#include "str.h"
#include "stream.h"

#include <sys/time.h>

struct cleanup_rcpt_entry {
    char *addr;
    char *orcpt;     /* NULL when not given */
    char *original;  /* before virtual_alias_maps rewrote it; NULL when not */
    unsigned notify; /* QFILE_NOTIFY_* */
};

/* Configuration read once per process. */
struct cleanup_config {
    dict_t **header_checks; /* NULL-terminated */
    size_t header_size_limit;
    unsigned long long message_size_limit; /* 0 = none */
    long hopcount_limit;
    size_t rcpt_limit;
    bool append_at_myorigin;
    bool valias; /* virtual_alias_maps is set */
    const char *myhostname;
    const char *myorigin;
};

struct cleanup_state {
    const struct cleanup_config *cf;
    /* envelope */
    char *origin, *sender, *client_name, *client_addr, *client_port, *helo;
    char *protocol, *sasl_method, *sasl_username, *envid, *ret, *submit_uid;
    char *tls_info; /* "TLSv1.3 with cipher ... (256/256 bits)", or NULL */
    bool local_submission, extract, smtputf8;
    struct cleanup_rcpt_entry *rcpts;
    size_t nrcpt, rcpt_cap;
    struct timeval arrival;
    /* content */
    header_reader_t *reader;
    str_t *headers; /* processed header section, until the file exists */
    uint64_t size;  /* content bytes received */
    long hops;      /* Received: headers seen */
    bool seen_msgid, seen_date, seen_from;
    char *message_id; /* printable, for the log */
    /* queue file */
    qfile_writer_t *w;
    char id[QUEUE_ID_SIZE];
    bool hold, discard;
    char *why; /* the header_checks match for hold/discard logs */
    /* outcome: the first failure sticks */
    int status; /* CLEANUP_STAT_* */
    char *dsn, *reason;
    bool logged; /* the failure has been logged already */
};

/* cleanup_envelope.c */
/* Check and take over a client's envelope; 0, or -1 with a malloc'ed *error_r. */
int cleanup_set_envelope(struct cleanup_state *st, const struct cleanup_envelope *env,
                         char **error_r);
/* Add a recipient (from the envelope or a header); 0, or -1 over the limit. */
int cleanup_add_rcpt(struct cleanup_state *st, const char *addr, size_t len, const char *orcpt,
                     unsigned notify);
/* "addr", or "addr@$myorigin" when it has no domain (malloc'ed). */
char *cleanup_qualify(const struct cleanup_state *st, const char *addr, size_t len);

/* cleanup_valias.c */
/* Rewrite the recipients through virtual_alias_maps; 0, or -1 (failed, noted). */
int cleanup_valias(struct cleanup_state *st);

/* cleanup_header.c */
int cleanup_header_event(enum header_event ev, const char *data, size_t len, void *ctx);

/* cleanup_out.c */
int cleanup_out_create(struct cleanup_state *st);
int cleanup_out_content(struct cleanup_state *st, const char *data, size_t len);
int cleanup_out_body_marker(struct cleanup_state *st);
/* Commit; on failure sets the temporary status.  0/-1. */
int cleanup_out_commit(struct cleanup_state *st);
void cleanup_out_wake_qmgr(void);

/* cleanup_engine.c */
/* Record the outcome of a failed message (first call wins). */
void cleanup_fail(struct cleanup_state *st, int status, const char *dsn, const char *fmt, ...)
    TERN_PRINTF(4, 5);
/* "ID" or "NOQUEUE", for log lines. */
const char *cleanup_log_id(const struct cleanup_state *st);
/* "from=<s> to=<r>" style context for reject logs (malloc'ed, printable). */
char *cleanup_log_context(const struct cleanup_state *st);

#endif
