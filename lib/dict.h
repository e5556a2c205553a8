/*
 * dict.h - lookup tables behind one interface, named in Postfix's
 * "type:name" form.
 *
 * Types:
 *   hash:NAME, btree:NAME  Berkeley DB 5.3 file NAME.db (DB_HASH / DB_BTREE),
 *                          built from the text file NAME by ternmap(1).
 *   lmdb:NAME              LMDB file NAME.lmdb (one file, no subdirectory;
 *                          LMDB creates no lock file, see "Rebuilds").
 *   texthash:NAME          the text file NAME, read into memory at open.
 *   inline:{ k=v, ... }    the table written in the name itself; an entry
 *                          with spaces or commas is braced: { k = a b }.
 *   static:VALUE           VALUE for every key; static:{ a b } for spaces.
 *   cidr:NAME              cidr_table(5): "network/prefix result", IPv4
 *                          and IPv6, first match in file order, if/endif.
 *   regexp:NAME            regexp_table(5): "/pattern/flags result" with
 *                          POSIX extended regular expressions, !negation,
 *                          $1..$9 substitution, if/endif.
 *
 * Promises:
 *   - dict_lookup() is three-way: 1 found, 0 not found, -1 temporary error
 *     (the table could not be read; the reason is logged with msg_warn).
 *     Callers defer (4xx) on -1, never treat it as "not found".
 *   - An empty key is never found (0) in any table.
 *   - Keys are folded to lower case for hash, btree, lmdb, texthash and
 *     inline, at build time and at lookup, unless DICT_FLAG_NO_FOLD is given.
 *     cidr keys are addresses; regexp matches case-insensitively by default
 *     (flag i toggles), as in Postfix; static ignores the key.
 *   - The value returned through value_r stays valid until the next lookup,
 *     update, delete or close on the same table.
 *   - Errors in table source (text for indexed types and texthash, cidr,
 *     regexp, inline) are logged with msg_error as "FILE, line N: ..." (or
 *     "inline:{...}: ...") and make dict_open()/dict_build() fail; error_r
 *     then holds the first one.  A table with errors is never half-used.
 *
 * Indexed file format (hash, btree, lmdb): each key and each value is
 * stored with its terminating NUL byte, as Postfix does by default on
 * Linux, so files built by postmap(1) can be read and vice versa.  Lookups
 * also accept records stored without the NUL.
 *
 * Rebuilds: every change to an indexed file (a build, dict_update,
 * dict_delete) writes a complete new file next to the target
 * (NAME.db.tmp.PID), fsyncs it, renames it over the target and fsyncs the
 * directory; an indexed file is never modified in place.  A reader
 * therefore only ever sees a whole old or a whole new file.  Every lookup
 * on an indexed table stats the file and reopens it when its inode, size
 * or mtime changed, so long-running daemons see a rebuilt map at once
 * (one stat(2) per lookup).  texthash, cidr and regexp are read once at
 * open; daemons pick up changes when they restart or reload.
 *
 * Text source format (postmap(1) input, also texthash):
 *   "key whitespace value"; blank lines and lines whose first non-blank
 *   character is '#' are ignored; a line starting with whitespace continues
 *   the previous logical line (joined with one space).  A line without a
 *   value is an error.  With a duplicate key the first entry wins and the
 *   duplicate is warned about with its file and line.
 *   Aliases format (DICT_FLAG_ALIAS, newaliases): "name: value", the key
 *   ends at the first ':' and may be double-quoted.
 */
#ifndef TERN_DICT_H
#define TERN_DICT_H

#include "sys.h"
#include "str.h"

typedef struct dict dict_t;

/* dict_open / dict_build flags. */
#define DICT_FLAG_FOLD_KEY 0x01 /* fold keys to lower case (the default) */
#define DICT_FLAG_NO_FOLD 0x02  /* keep keys as given (ternmap -f) */
#define DICT_FLAG_ALIAS 0x04    /* source text is aliases(5) format */
#define DICT_FLAG_DEFAULT DICT_FLAG_FOLD_KEY

/* Iteration callback: return 0 to continue, anything else stops. */
typedef int (*dict_iter_fn)(const char *key, const char *value, void *ctx);

/*
 * Open "type:name".  Returns NULL and an allocated message in *error_r
 * (free() it) when the spec is malformed, the type unknown, the file
 * missing or unreadable, or its source has errors.
 */
dict_t *dict_open(const char *spec, int flags, char **error_r);
/* 1 found (*value_r set), 0 not found, -1 temporary error (logged). */
int dict_lookup(dict_t *d, const char *key, const char **value_r);
/* Call fn for every entry (ternmap -s); 0, or -1 (logged) on error or
 * when the type cannot be listed. */
int dict_iterate(dict_t *d, dict_iter_fn fn, void *ctx);
/* Indexed types only: set key to value (replacing it); 0 or -1 (logged). */
int dict_update(dict_t *d, const char *key, const char *value);
/* Indexed types only: 1 deleted, 0 not there, -1 error (logged). */
int dict_delete(dict_t *d, const char *key);
void dict_close(dict_t **dp);

/* "type:name" as opened, for messages. */
const char *dict_spec(const dict_t *d);
/* Whether type (without ':') is known; and whether it is built by ternmap. */
bool dict_type_known(const char *type);
bool dict_type_indexed(const char *type);
/* The indexed file for type:name (e.g. "NAME.db"), allocated; NULL if the
 * type is not indexed. */
char *dict_indexed_path(const char *type, const char *name);

/*
 * Build the indexed file for spec ("hash:/etc/tern/aliases") from the text
 * file NAME, atomically.  With DICT_FLAG_ALIAS the source is aliases(5)
 * format.  Source errors are logged as "NAME, line N: ..." and leave the
 * old file in place.  Returns 0 or -1 with *error_r.
 */
int dict_build(const char *spec, int flags, char **error_r);

/* Build an indexed file entry by entry (newaliases adds its own entries). */
typedef struct dict_writer dict_writer_t;
dict_writer_t *dict_writer_begin(const char *spec, int flags, char **error_r);
/* 0 stored, 1 duplicate (first kept, not stored), -1 error (logged). */
int dict_writer_put(dict_writer_t *w, const char *key, const char *value);
/* Make the new file the table: 0, or -1 with *error_r (writer is freed). */
int dict_writer_commit(dict_writer_t **wp, char **error_r);
/* Throw the new file away. */
void dict_writer_abort(dict_writer_t **wp);

/*
 * Parse table source text (postmap format, or aliases format when
 * is_alias).  fn gets each logical entry with the line it starts on;
 * returning -1 from fn stops the parse.  Errors are logged as
 * "NAME, line N: ..." and the first is kept in *error_r (may be NULL).
 * Returns 0, or -1 when there was any error.
 */
typedef int (*dict_source_fn)(const char *key, const char *value, int line, void *ctx);
int dict_source_parse(const char *text, size_t len, const char *name, bool is_alias,
                      dict_source_fn fn, void *ctx, char **error_r);

/* ---- for table implementations (lib/dict_*.c) only ------------------- */

struct dict {
    char *spec; /* "type:name" */
    char *type; /* "hash" */
    char *name; /* "/etc/tern/aliases" */
    int flags;
    bool fold;     /* set by the type: dict_lookup lower-cases keys */
    str_t *buf;    /* scratch for returned values */
    str_t *keybuf; /* scratch for folded keys */
    int (*lookup)(dict_t *d, const char *key, const char **value_r);
    int (*iterate)(dict_t *d, dict_iter_fn fn, void *ctx); /* may be NULL */
    /* Writers (created by an indexed type's create): 0 stored, 1 dup, -1 err. */
    int (*put)(dict_t *d, const char *key, const char *value);
    /* Writers: make everything durable before the rename; 0 or -1. */
    int (*sync)(dict_t *d, char **error_r);
    void (*close)(dict_t *d);
};

struct dict_type {
    const char *name;
    const char *suffix; /* indexed types: ".db", ".lmdb"; else NULL */
    /* Open name (for indexed types: the indexed file path) read-only. */
    dict_t *(*open)(const char *name, int flags, char **error_r);
    /* Indexed types: create a new empty file at path for writing. */
    dict_t *(*create)(const char *path, int flags, char **error_r);
};

/* Register another type (networked types); the struct must stay alive. */
void dict_register(const struct dict_type *type);

/* Allocate the common part; the caller fills in the methods. */
dict_t *dict_alloc(size_t size, const char *type, const char *name, int flags);
void dict_free_common(dict_t *d);
bool dict_folds(const dict_t *d);

/* Collects source errors: logs each, keeps the first for error_r. */
struct dict_errors {
    char *first;
    int count;
};
void dict_error_add(struct dict_errors *e, const char *file, int line, const char *fmt, ...)
    TERN_PRINTF(4, 5);
/* Hand the first error (plus a count) to *error_r; frees e's contents. */
void dict_error_take(struct dict_errors *e, char **error_r);

/* Read a whole file into memory; NULL with *error_r on failure. */
char *dict_read_file(const char *path, size_t *len_r, char **error_r);
/* Open a table whose whole source is the file name: read it, hand the
 * text to open_text (cidr, regexp), free it. */
typedef dict_t *(*dict_text_open_fn)(const char *name, const char *text, size_t len, int flags,
                                     char **error_r);
dict_t *dict_open_file(const char *name, int flags, dict_text_open_fn open_text, char **error_r);
/* Split text into lines for the line-oriented table formats: calls fn
 * with each logical line (continuations joined, comments and blanks
 * skipped, trailing whitespace removed) and its first line number. */
typedef int (*dict_line_fn)(const char *line, int lineno, void *ctx);
int dict_lines(const char *text, size_t len, const char *name, struct dict_errors *errs,
               dict_line_fn fn, void *ctx);

/* Types in lib/dict_*.c. */
extern const struct dict_type dict_type_hash, dict_type_btree, dict_type_lmdb, dict_type_texthash,
    dict_type_inline, dict_type_static, dict_type_cidr, dict_type_regexp;

/* Open cidr/regexp tables from text in memory (tests, fuzzing); name is
 * used in messages as the file name. */
dict_t *dict_cidr_open_text(const char *name, const char *text, size_t len, int flags,
                            char **error_r);
dict_t *dict_regexp_open_text(const char *name, const char *text, size_t len, int flags,
                              char **error_r);

/* An in-memory key/value table (texthash, inline). */
struct dict_mem;
struct dict_mem *dict_mem_new(void);
/* 0 stored, 1 key already present (kept first). */
int dict_mem_put(struct dict_mem *m, const char *key, const char *value);
const char *dict_mem_get(const struct dict_mem *m, const char *key);
int dict_mem_iterate(const struct dict_mem *m, dict_iter_fn fn, void *ctx);
void dict_mem_free(struct dict_mem **mp);

#endif
