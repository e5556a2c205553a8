/*
 * passwd_file.h - the user database: Dovecot's passwd-file format, and
 * the crypt(3) password hashes in it.
 *
 * FORMAT (one user per line, fields separated by ':')
 *
 *     user@domain:{SCHEME}hash:uid:gid:gecos:home:shell:extra
 *
 * Only the first two fields are required; the rest may be empty or left
 * off ("alice@example.org:{SHA512-CRYPT}$6$..."). A password without a
 * {SCHEME} prefix is a crypt(3) hash ({CRYPT}). Blank lines and lines
 * whose first non-blank character is '#' are ignored; a trailing "\r" is
 * dropped. uid and gid are decimal and never 0; home is an absolute
 * path; gecos and shell are ignored; extra is kept as text.
 *
 * Schemes: CRYPT (any crypt(3) hash libxcrypt knows), YESCRYPT ($y$),
 * SHA512-CRYPT ($6$), SHA256-CRYPT ($5$), BLF-CRYPT ($2a$/$2b$/$2y$),
 * MD5-CRYPT ($1$, verification only), and PLAIN/CLEARTEXT (the password
 * itself) only when the caller allows plaintext. Scheme names are
 * case-insensitive. A hash starting with '!' or '*' is a locked account:
 * the line is valid but no password matches it.
 *
 * A bad line is reported ("FILE, line N: ...", msg_warn) and skipped; the
 * other lines stay usable. User names are looked up case-insensitively
 * (ASCII); when a name repeats, the first line wins and the later one is
 * reported.
 */
#ifndef TERN_PASSWD_FILE_H
#define TERN_PASSWD_FILE_H

#include "sys.h"

#define PASSWD_LINE_MAX 4096 /* longest line, without its "\n" */
#define PASSWD_USER_MAX 255  /* longest user name */

struct passwd_entry {
    char *user;   /* as written in the file */
    char *scheme; /* upper case: "CRYPT", "SHA512-CRYPT", "PLAIN", ... */
    char *hash;   /* the password field after "{SCHEME}" */
    long uid;     /* -1 when empty */
    long gid;     /* -1 when empty */
    char *home;   /* "" when empty */
    char *extra;  /* "" when empty */
    int line;     /* line number in the file */
};

struct passwd_opts {
    bool allow_plaintext; /* accept {PLAIN}/{CLEARTEXT} lines */
};

struct passwd_db;

/*
 * Parse one line (without its "\n"). Returns 1 with *e filled (free with
 * passwd_entry_clear), 0 for a blank or comment line, -1 with a reason.
 */
int passwd_line_parse(const char *line, size_t len, const struct passwd_opts *opts,
                      struct passwd_entry *e, char **error_r);
void passwd_entry_clear(struct passwd_entry *e);

/* Parse a whole file's text; bad lines are logged as "name, line N: ...". */
struct passwd_db *passwd_db_parse(const char *text, size_t len, const char *name,
                                  const struct passwd_opts *opts);
/* Read and parse path: the database, or NULL with a reason. */
struct passwd_db *passwd_db_load(const char *path, const struct passwd_opts *opts, char **error_r);
void passwd_db_free(struct passwd_db **dbp);
size_t passwd_db_count(const struct passwd_db *db);
/* Lines reported as bad by the last parse. */
size_t passwd_db_bad_lines(const struct passwd_db *db);
/* The entry for user (ASCII case-insensitive), or NULL. */
const struct passwd_entry *passwd_db_find(const struct passwd_db *db, const char *user);

/*
 * Check password against the entry: 1 it matches, 0 it does not, -1 the
 * hash cannot be checked (reason in *error_r). The final comparison runs
 * in constant time.
 */
int passwd_verify(const struct passwd_entry *e, const char *password, char **error_r);
/* As passwd_verify, for a "{SCHEME}hash" or bare crypt(3) string. */
int passwd_verify_string(const char *stored, const char *password, char **error_r);
/*
 * As passwd_verify_string, with the database's policy: a {PLAIN} or
 * {CLEARTEXT} string is refused (-1) unless opts->allow_plaintext, as
 * passwd_line_parse refuses such lines (authd's workers get the stored
 * string, not the entry).
 */
int passwd_verify_string_opts(const char *stored, const char *password,
                              const struct passwd_opts *opts, char **error_r);

/*
 * Hash password with a fresh salt: "{SCHEME}hash" (malloc'ed), or NULL
 * with a reason. scheme is YESCRYPT, SHA512-CRYPT, SHA256-CRYPT,
 * BLF-CRYPT, PLAIN, or CRYPT (yescrypt labelled {CRYPT}, else
 * sha512-crypt labelled {SHA512-CRYPT}: what Dovecot reads).
 */
char *passwd_hash(const char *scheme, const char *password, char **error_r);

/* Whether name is a scheme passwd_verify knows (case-insensitive). */
bool passwd_scheme_known(const char *name);

/* Constant-time comparison of two equal-length buffers: 0 when equal. */
int passwd_memcmp_ct(const void *a, const void *b, size_t n);

#endif
