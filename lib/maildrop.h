/*
 * maildrop.h - local submission: the request sendmail(1) pipes into the
 * setgid terndrop(1), and the maildrop file terndrop leaves for pickup(8).
 *
 * THE REQUEST (sendmail -> terndrop, on terndrop's standard input)
 *
 * It uses the attribute protocol (attr.h) and the content framing of the
 * cleanup protocol (cleanup_proto.h):
 *
 *   1. one envelope record:
 *        request=submit
 *        sender=ADDR          (empty value: the null sender <>)
 *        full_name=TEXT       (optional, sendmail -F)
 *        extract_recipients=0|1  (sendmail -t)
 *        envid=TEXT, ret=FULL|HDRS, notify=NEVER|SUCCESS,FAILURE,DELAY
 *                             (optional DSN attributes: -V, -R, -N)
 *        rcpt=ADDR            (repeated, at most MAILDROP_RCPT_MAX)
 *   2. the content as records "chunk=LEN" (1..MAILDROP_CHUNK_MAX) each
 *      followed by exactly LEN raw bytes, and "chunk=0" to end it.  Lines
 *      end in a bare "\n" (sendmail has normalised CRLF).  Input that ends
 *      before "chunk=0" is an aborted submission: nothing is queued.
 *
 * terndrop trusts none of it: every record is bounded, addresses are
 * parsed with addr_parse_path, and the total size is bounded by
 * message_size_limit.  The answer is terndrop's exit status (sysexits).
 *
 * THE MAILDROP FILE
 *
 * A queue file in the format of qfile.h, in queue_directory/maildrop/,
 * named by its queue ID, with these attributes besides the sender,
 * recipients and content: submit_uid (the real uid of the terndrop
 * process, never taken from the request), submit_user (its login name,
 * if any), extract_recipients, full_name, dsn_envid, dsn_ret.  The file
 * is owned by the submitting user (see maildrop_create below for how it
 * is written); pickup(8) checks that its owner is
 * submit_uid.  A finished file has mode MAILDROP_FILE_MODE (owner execute
 * set = complete, as qfile.h says; other-read so that pickup, running as
 * mail_owner, can read a file owned by the user; the maildrop directory
 * itself, mode 0730, keeps everyone but mail_owner and setgid_group out).
 */
#ifndef TERN_MAILDROP_H
#define TERN_MAILDROP_H

#include "sys.h"
#include "str.h"
#include "stream.h"
#include "queue_id.h"

#define MAILDROP_DIR "maildrop"
#define MAILDROP_RCPT_MAX 1000   /* recipients in one request */
#define MAILDROP_CHUNK_MAX 65536 /* content bytes per chunk record */
#define MAILDROP_VALUE_MAX 2048  /* one envelope attribute value */
#define MAILDROP_FILE_MODE 0744  /* a complete maildrop file */
#define MAILDROP_PICKUP_SERVICE "public/pickup"

/* Attribute names in the maildrop file. */
#define MAILDROP_ATTR_UID "submit_uid"
#define MAILDROP_ATTR_USER "submit_user"
#define MAILDROP_ATTR_EXTRACT "extract_recipients"
#define MAILDROP_ATTR_FULL_NAME "full_name"

struct maildrop_request {
    char *sender;    /* "" = null sender */
    char *full_name; /* NULL when not given */
    bool extract_recipients;
    char *envid;  /* NULL when not given */
    char *ret;    /* "FULL", "HDRS" or NULL */
    char *notify; /* "NEVER" or a list of SUCCESS,FAILURE,DELAY, or NULL */
    char **rcpts;
    size_t rcpt_count;
};

/* Add a recipient (copied) to a request being built. */
void maildrop_request_add_rcpt(struct maildrop_request *r, const char *addr);
/* Free every field and zero the struct. */
void maildrop_request_clear(struct maildrop_request *r);

/* Send the envelope record (not flushed); the stream's sticky status. */
int maildrop_request_write(stream_t *s, const struct maildrop_request *r);
/*
 * Read and check the envelope record: 0, or -1 with a malloc'ed reason.
 * Addresses come back in canonical form; ret and notify are checked.
 */
int maildrop_request_read(stream_t *s, struct maildrop_request *r, char **error_r);

/* One content chunk (len 0 = the end marker); the stream's status. */
int maildrop_chunk_write(stream_t *s, const void *data, size_t len);
/*
 * Read one content chunk, appending its bytes to out: the chunk length
 * (0 = the end marker), or -1 with a malloc'ed reason.
 */
ssize_t maildrop_chunk_read(stream_t *s, str_t *out, char **error_r);

/*
 * Check one address as a sender (may be "") or a recipient and return
 * its canonical form (malloc'ed), or NULL with a malloc'ed reason.
 */
char *maildrop_addr_check(const char *addr, bool sender, char **error_r);
/*
 * Writing a maildrop file.  terndrop, running with the maildrop group
 * only, may create files in maildrop/ (mode 0730) but not read the
 * directory, so it cannot use qfile_create/qfile_commit (which fsync the
 * directory by opening it).  This writer produces the same qfile.h
 * records: it writes under "tmp.PID.N" (never a valid queue ID, so
 * pickup ignores it), fsyncs the file, sets MAILDROP_FILE_MODE, renames it
 * to its queue ID without replacing, then makes the entry durable with a
 * directory fsync or, where the directory cannot be opened, syncfs(2).
 */
typedef struct maildrop_writer maildrop_writer_t;

maildrop_writer_t *maildrop_create(const char *dir, char **error_r);
/* Append one record (qfile.h type letter); errors are sticky until commit. */
void maildrop_put(maildrop_writer_t *w, int type, const void *data, size_t len);
/* "name=value" attribute record. */
void maildrop_put_attr(maildrop_writer_t *w, const char *name, const char *value);
/* Pending recipient record with NOTIFY bits. */
void maildrop_put_rcpt(maildrop_writer_t *w, const char *addr, unsigned notify);
/* Content, split into chunk records. */
void maildrop_put_content(maildrop_writer_t *w, const void *data, size_t len);
/* Write E, make it durable and visible: 0 with the ID, or -1 (file removed). */
int maildrop_commit(maildrop_writer_t **wp, char id_r[QUEUE_ID_SIZE], char **error_r);
/* Give up and remove the temporary file (NULL is fine). */
void maildrop_abort(maildrop_writer_t **wp);

/* DSN NOTIFY text ("NEVER", "SUCCESS,DELAY") to QFILE_NOTIFY_* bits; -1 bad. */
int maildrop_notify_bits(const char *text, unsigned *bits_r);
/* QFILE_NOTIFY_* bits to text (malloc'ed), NULL for 0. */
char *maildrop_notify_text(unsigned bits);

#endif
