/*
 * local.h - the local delivery agent's shared state: one request (a
 * queue file and its recipients), one recipient's expansion (aliases,
 * .forward, :include:) and the identities deliveries run as.
 *
 * Every write into a user's files (Maildir, file, command) happens in a
 * forked child that has dropped to the owner's uid/gid for good
 * (local_child.c); the long-lived process only reads the queue file and
 * the lookup tables, and talks to qmgr and cleanup.
 */
#ifndef TERN_LOCAL_H
#define TERN_LOCAL_H

#include "sys.h"
#include "deliver.h"
#include "qfile.h"
#include "str.h"

#define LOCAL_MAX_DEPTH 20      /* nesting of aliases, .forward, :include: */
#define LOCAL_MAX_TARGETS 1000  /* destinations one recipient expands to */
#define LOCAL_MAX_FILE 1048576  /* largest .forward or :include: file */
#define LOCAL_COMMAND_TIME 1000 /* seconds a |command may run */

/* Who a delivery runs as, and where its addresses came from. */
struct local_id {
    uid_t uid;
    gid_t gid;
    const char *user;  /* for the command environment, may be NULL */
    const char *home;  /* working directory for commands, may be NULL */
    const char *class; /* "alias", "forward", "include" or NULL (mailbox) */
};

/* One message being delivered. */
struct local_msg {
    const struct deliver_request *req;
    qfile_t *qf;
    char **delivered_to; /* Delivered-To values found in the header */
    size_t ndelivered_to;
};

/* What one child process did (fixed size: it travels through a pipe). */
struct local_outcome {
    int status; /* DELIVER_OK / _TEMP / _PERM */
    char dsn[16];
    char text[480];
};

/* One recipient of the request, with everything its expansion found. */
struct local_rcpt_state {
    struct local_msg *msg;
    const char *rcpt; /* the recipient qmgr gave us (Delivered-To) */
    int status;       /* worst so far: TEMP > PERM > OK; -1 = nothing yet */
    char dsn[16];
    str_t *reason;
    char **seen;  /* destinations already delivered (dedupe), and the */
    size_t nseen; /* alias/.forward chain markers */
    char **chain;
    size_t nchain;
    char **fwd; /* non-local addresses to forward through cleanup */
    size_t nfwd;
    size_t ntargets;
};

/* local_state.c */
void local_note(struct local_rcpt_state *st, int status, const char *dsn, const char *fmt, ...)
    TERN_PRINTF(4, 5);
void local_note_outcome(struct local_rcpt_state *st, const struct local_outcome *o);
/* true when key is new (and now remembered). */
bool local_seen_add(struct local_rcpt_state *st, const char *key);
bool local_chain_has(const struct local_rcpt_state *st, const char *key);
void local_chain_push(struct local_rcpt_state *st, const char *key);
void local_chain_pop(struct local_rcpt_state *st);
void local_state_free(struct local_rcpt_state *st);
void local_outcome_set(struct local_outcome *o, int status, const char *dsn, const char *fmt, ...)
    TERN_PRINTF(4, 5);

/* local_expand.c: deliver (or forward) one address; depth counts nesting. */
void local_expand_addr(struct local_rcpt_state *st, const char *addr, const struct local_id *id,
                       int depth, bool top);
/* The items of an alias value or a .forward / :include: file. */
void local_expand_list(struct local_rcpt_state *st, const char *text, const struct local_id *id,
                       int depth);

/* local_maps.c: search the tables of a list parameter; 1/0/-1 as dict. */
int local_maps_lookup(const char *param, const char *key, const char **value_r,
                      const char **spec_r);
/* Owner of a table's file (for alias privileges); -1 if unknown. */
int local_maps_owner(const char *spec, uid_t *uid_r, gid_t *gid_r);

/* local_child.c */
typedef void (*local_child_fn)(void *ctx, struct local_outcome *out);
/* Run fn in a child as id (never as root); fills out in every case. */
void local_child_run(const struct local_id *id, local_child_fn fn, void *ctx,
                     struct local_outcome *out);
/* As local_child_run, but in this process when the agent is not root (a
 * child would not change identity); fn must leave no process state. */
void local_run_as(const struct local_id *id, local_child_fn fn, void *ctx,
                  struct local_outcome *out);
/*
 * Read a file as id.  want_owner: the file must belong to id->uid.
 * Returns 1 read (owner in *uid_r and *gid_r), 0 absent (or not owned), -1
 * error (text in out).
 */
int local_child_read(const struct local_id *id, const char *path, bool want_owner, str_t *data,
                     uid_t *uid_r, gid_t *gid_r, struct local_outcome *out);
bool local_is_root(void);

/* local_write.c: the message with our headers, through a writer. */
typedef int (*local_write_fn)(void *ctx, const void *data, size_t len);
/* 0, -1 reading the queue file failed, LOCAL_WRITE_ERROR fn failed. */
#define LOCAL_WRITE_ERROR (-2)
int local_write_message(const struct local_msg *m, const char *rcpt, bool mbox, local_write_fn fn,
                        void *ctx, char **error_r);
/* Delivered-To loop check on the header section. */
int local_read_delivered_to(struct local_msg *m, char **error_r);
bool local_has_delivered_to(const struct local_msg *m, const char *rcpt);

/* local_dest.c: the three kinds of destination, run as id. */
void local_to_maildir(struct local_rcpt_state *st, const char *path, const struct local_id *id);
void local_to_file(struct local_rcpt_state *st, const char *path, const struct local_id *id);
void local_to_command(struct local_rcpt_state *st, const char *cmd, const struct local_id *id);

/* Maildir delivery of one recipient of the message in qf (sender as
 * given), for a helper process. */
void local_maildir_job(const char *target, const char *rcpt, const char *sender, qfile_t *qf,
                       struct local_outcome *o);

/* local_helper.c: as root, deliver to the Maildir path as id through a
 * long-lived child of that owner; false when none can be used (the
 * caller then forks one for this delivery). */
bool local_helper_maildir(const struct local_id *id, const struct local_rcpt_state *st,
                          const char *path, struct local_outcome *out);

/* local_forward.c: send st->fwd through cleanup. */
void local_forward(struct local_rcpt_state *st);

#endif
