/*
 * qfile.h - queue files: one message (envelope + content) as typed,
 * length-bounded records, written durably and read strictly.
 *
 * ON-DISK FORMAT (version 1)
 *
 * A queue file is a sequence of records.  Each record is
 *
 *     1 byte    type (an ASCII letter, below)
 *     4 bytes   data length, unsigned big-endian
 *     N bytes   data
 *
 * No record's data may be longer than the reader's max_record limit
 * (QFILE_RECORD_MAX = 1 MiB by default); the writer splits content into
 * chunks of at most QFILE_CHUNK_SIZE.  Record types:
 *
 *   V  version: "1".  Always the first record.
 *   T  arrival time: "SECONDS.USEC", decimal, exactly 6 digits of USEC.
 *   F  envelope sender: the address, "" for the null sender <>.
 *   A  attribute: "name=value"; name is [a-z][a-z0-9_]* (at most 64
 *      bytes), value any bytes but NUL.  Each name at most once per file.
 *      Client and DSN information use the QFILE_ATTR_* names below;
 *      unknown names are kept, so the envelope can grow without a new
 *      record type.
 *   R  recipient: STATUS NOTIFY ADDRESS \0 ORCPT \0 ORIGINAL
 *        STATUS   1 byte: 'P' pending, 'D' delivered, 'F' failed and
 *                 bounced (D and F are "done": never tried again).  This
 *                 byte is rewritten in place when the recipient is done.
 *        NOTIFY   1 hex digit '0'-'f': DSN NOTIFY bits (QFILE_NOTIFY_*),
 *                 0 = not given; NEVER excludes the others.
 *        ADDRESS  the recipient address, not empty
 *        ORCPT    DSN ORCPT as given ("rfc822;user@example.org"), may be ""
 *        ORIGINAL the address before rewriting/alias expansion, may be ""
 *   C  content chunk: message bytes (headers then body), opaque.
 *   B  body marker (empty): the content before it is the header section.
 *   E  end marker (empty).  Must be the last record: EOF follows.
 *
 * Order: V; then the envelope (T and F exactly once each, A and R any
 * number); then the content (C records, at most one B among them); then
 * more A and R records (recipients found while reading the content, as
 * with sendmail -t); then E.  Anything else (an unknown type, a record
 * past EOF, bytes after E, T/F after the content, a second content run)
 * makes the file corrupt, and the reader says which and at what offset.
 * Recipients are numbered 0, 1, ... in file order.
 *
 * COMPLETENESS AND DURABILITY
 *
 * A file is created in its queue directory with mode 0600 under its final
 * name (its queue ID) and stays 0600 while being written.  qfile_commit()
 * writes E, flushes, fsyncs the file, then sets mode 0700 (owner execute
 * = "complete", as Postfix does) and fsyncs the directory.  So a 0700 file
 * is whole on disk; qfile_open() refuses a file without the execute bit
 * (QFILE_INCOMPLETE) and, independently, any file whose last record is not
 * E.  After a crash between the file fsync and the mode change a whole
 * file may sit there as 0600: qfile_recover() checks it and marks it
 * complete; a queue manager runs it at start-up on incomplete files too
 * old to have a live writer.  The 250 after DATA may be sent when
 * qfile_commit() returns 0; any failure (ENOSPC, EDQUOT, EIO) returns -1,
 * the file is removed, and the caller answers 4xx.
 *
 * Before it has its ID a new file briefly exists as "tmp.PID.N" in the
 * same directory (created O_EXCL, then renamed to the ID without
 * replacing).  Such names are not valid queue IDs, so queue scanners skip
 * them; one left by a crash never held an acknowledged message and may be
 * removed when old.
 *
 * Queue state is the directory a file is in; qfile_move() renames it and
 * fsyncs both directories.  qfile_rename() and qfile_unlink() skip the
 * directory fsync, for state changes that may be lost in a crash without
 * losing mail: a file that reappears in incoming/ or active/ after a crash
 * is delivered again (at least once, as DESIGN.md allows), never lost.
 */
#ifndef TERN_QFILE_H
#define TERN_QFILE_H

#include "sys.h"
#include "queue_id.h"

#include <sys/time.h>

#define QFILE_RECORD_MAX (1024 * 1024) /* default bound on one record */
#define QFILE_RCPT_MAX 100000          /* default bound on recipients read */
#define QFILE_CHUNK_SIZE 65536         /* content bytes per C record */
#define QFILE_ATTR_NAME_MAX 64
#define QFILE_ATTR_MAX 256 /* attributes per file */

#define QFILE_MODE_WRITING 0600
#define QFILE_MODE_COMPLETE 0700

/* Record types. */
enum {
    QFILE_REC_VERSION = 'V',
    QFILE_REC_TIME = 'T',
    QFILE_REC_SENDER = 'F',
    QFILE_REC_ATTR = 'A',
    QFILE_REC_RCPT = 'R',
    QFILE_REC_CONTENT = 'C',
    QFILE_REC_BODY = 'B',
    QFILE_REC_END = 'E',
};

/* Recipient status bytes. */
enum {
    QFILE_RCPT_PENDING = 'P',
    QFILE_RCPT_DELIVERED = 'D',
    QFILE_RCPT_FAILED = 'F',
};

/* DSN NOTIFY bits (RFC 3461). */
#define QFILE_NOTIFY_SUCCESS 1u
#define QFILE_NOTIFY_FAILURE 2u
#define QFILE_NOTIFY_DELAY 4u
#define QFILE_NOTIFY_NEVER 8u

/* Well-known attribute names. */
#define QFILE_ATTR_CLIENT_NAME "client_name"
#define QFILE_ATTR_CLIENT_ADDR "client_addr"
#define QFILE_ATTR_CLIENT_PORT "client_port"
#define QFILE_ATTR_HELO_NAME "helo_name"
#define QFILE_ATTR_PROTOCOL "protocol"
#define QFILE_ATTR_SASL_METHOD "sasl_method"
#define QFILE_ATTR_SASL_USERNAME "sasl_username"
#define QFILE_ATTR_DSN_ENVID "dsn_envid"
#define QFILE_ATTR_DSN_RET "dsn_ret"

/* Return values of qfile_open*() besides 0. */
enum {
    QFILE_CORRUPT = -1,    /* malformed */
    QFILE_INCOMPLETE = -2, /* not (yet) marked complete: skip it for now */
    QFILE_IOERROR = -3,    /* open/read failed (errno; ENOENT: gone) */
};

/* qfile_open() flags. */
#define QFILE_OPEN_RDWR 1u     /* allow qfile_mark()/qfile_recover() */
#define QFILE_OPEN_ANY_MODE 2u /* parse even without the complete bit (viewer) */

/* ---- writing -------------------------------------------------------- */

typedef struct qfile_writer qfile_writer_t;

struct qfile_client {
    const char *name;          /* reverse name or "unknown" */
    const char *addr;          /* IP address */
    const char *port;          /* may be NULL */
    const char *helo;          /* may be NULL */
    const char *protocol;      /* "ESMTP", "ESMTPSA", "LOCAL", ... may be NULL */
    const char *sasl_method;   /* may be NULL */
    const char *sasl_username; /* may be NULL */
};

struct qfile_rcpt_spec {
    const char *address;  /* required, not empty */
    const char *orcpt;    /* may be NULL */
    const char *original; /* may be NULL */
    unsigned notify;      /* QFILE_NOTIFY_* bits, 0 = not given */
};

/*
 * Create a new queue file in dir (which must exist) and write its
 * version record.  id_r receives the queue ID.  -1 with error_r on failure.
 */
int qfile_create(const char *dir, qfile_writer_t **w_r, char id_r[QUEUE_ID_SIZE], char **error_r);
const char *qfile_writer_id(const qfile_writer_t *w);
const char *qfile_writer_path(const qfile_writer_t *w);

/*
 * Record writers.  Each returns 0, or -1 with error_r (malformed value,
 * a record in the wrong place, or an earlier write error, which is sticky:
 * a caller may check only qfile_commit()).
 */
int qfile_write_arrival(qfile_writer_t *w, const struct timeval *tv, char **error_r);
int qfile_write_sender(qfile_writer_t *w, const char *addr, char **error_r);
int qfile_write_attr(qfile_writer_t *w, const char *name, const char *value, char **error_r);
/* Client information as QFILE_ATTR_* attributes (NULL fields skipped). */
int qfile_write_client(qfile_writer_t *w, const struct qfile_client *c, char **error_r);
/* DSN ENVID and RET ("FULL"/"HDRS"); either may be NULL. */
int qfile_write_dsn(qfile_writer_t *w, const char *envid, const char *ret, char **error_r);
int qfile_write_rcpt(qfile_writer_t *w, const struct qfile_rcpt_spec *r, char **error_r);
/* Message content, any number of calls; chunked into C records. */
int qfile_write_content(qfile_writer_t *w, const void *data, size_t len, char **error_r);
/* Mark the end of the header section at the current content position. */
int qfile_write_body_marker(qfile_writer_t *w, char **error_r);
/*
 * Make the file durable and complete (see above).  On success and on
 * failure the writer is freed and *wp set to NULL; on failure the file is
 * removed.  Arrival time and sender are required.
 */
int qfile_commit(qfile_writer_t **wp, char **error_r);
/* Give up: remove the file and free the writer (NULL is fine). */
void qfile_abort(qfile_writer_t **wp);

/* ---- reading -------------------------------------------------------- */

typedef struct qfile qfile_t;

struct qfile_limits {
    size_t max_record; /* largest record data accepted */
    size_t max_rcpt;   /* most recipients accepted */
};

struct qfile_rcpt {
    char *address;
    char *orcpt;    /* "" when not given */
    char *original; /* "" when not given */
    unsigned notify;
    char status;         /* QFILE_RCPT_* */
    off_t status_offset; /* where the status byte lives in the file */
};

/*
 * Open and check a queue file.  Returns 0, QFILE_CORRUPT,
 * QFILE_INCOMPLETE or QFILE_IOERROR; error_r says why (path and offset).
 */
int qfile_open(const char *path, unsigned flags, qfile_t **qf_r, char **error_r);
/*
 * The same on an open descriptor (which the qfile then owns); name is
 * used in messages; limits may be NULL for the defaults.
 */
int qfile_open_fd(int fd, const char *name, unsigned flags, const struct qfile_limits *limits,
                  qfile_t **qf_r, char **error_r);
void qfile_close(qfile_t **qfp);

const char *qfile_name(const qfile_t *qf);
void qfile_arrival(const qfile_t *qf, struct timeval *tv_r);
const char *qfile_sender(const qfile_t *qf);
/* Value of an attribute, or NULL when absent. */
const char *qfile_attr(const qfile_t *qf, const char *name);
size_t qfile_attr_count(const qfile_t *qf);
void qfile_attr_at(const qfile_t *qf, size_t i, const char **name_r, const char **value_r);
size_t qfile_rcpt_count(const qfile_t *qf);
const struct qfile_rcpt *qfile_rcpt(const qfile_t *qf, size_t i);
/* True when the recipient is delivered or failed (never tried again). */
bool qfile_rcpt_done(const struct qfile_rcpt *r);
/* Recipients not yet done. */
size_t qfile_rcpt_pending(const qfile_t *qf);
uint64_t qfile_content_size(const qfile_t *qf);
/* Bytes of content before the body marker (all of it if none). */
uint64_t qfile_header_size(const qfile_t *qf);

/* Start reading content from its beginning. */
void qfile_content_rewind(qfile_t *qf);
/* Read up to n content bytes: count, 0 at the end, -1 with error_r. */
ssize_t qfile_content_read(qfile_t *qf, void *buf, size_t n, char **error_r);

/*
 * Set recipient i's status byte in place (QFILE_OPEN_RDWR needed); not
 * yet durable: qfile_sync() after a batch of marks.
 */
int qfile_mark(qfile_t *qf, size_t i, char status, char **error_r);
int qfile_sync(qfile_t *qf, char **error_r);
/* Open path, mark recipient i delivered, fsync, close. */
int qfile_mark_done(const char *path, size_t i, char **error_r);

/*
 * A file left 0600 by a crash after its data was fsynced: if it parses as
 * complete, set mode 0700 and fsync.  QFILE_CORRUPT etc. otherwise.
 */
int qfile_recover(const char *path, char **error_r);

/* ---- queue directories ---------------------------------------------- */

/* "dir/id" (caller frees). */
char *qfile_path(const char *dir, const char *id);
/* Move queue file id from from_dir to to_dir durably (never replacing). */
int qfile_move(const char *id, const char *from_dir, const char *to_dir, char **error_r);
/* Remove queue file id from dir and fsync dir. */
int qfile_remove(const char *dir, const char *id, char **error_r);
/* The same without the directory fsyncs (see above for when that is safe). */
int qfile_rename(const char *id, const char *from_dir, const char *to_dir, char **error_r);
int qfile_unlink(const char *dir, const char *id, char **error_r);
/* Printable name of a record type ("sender", ...), "unknown" otherwise. */
const char *qfile_record_name(int type);

#endif
