/*
 * passwd_file.c - the user database in Dovecot's passwd-file format and
 * the crypt(3) hashes in it (see passwd_file.h for the format).
 *
 * One copy of the hashing code: ternpasswd and `tern init` both call
 * passwd_hash(), authd calls passwd_verify().
 */
#include "passwd_file.h"
#include "log.h"
#include "mem.h"
#include "str.h"

#include <crypt.h>
#include <ctype.h>
#include <fcntl.h>
#include <strings.h>
#include <sys/stat.h>

#define PASSWD_FILE_MAX (256L * 1024 * 1024) /* refuse bigger files */
#define PASSWD_FIELDS 8

struct passwd_db {
    struct passwd_entry *entries; /* sorted by user, case-insensitive */
    size_t count;
    size_t bad;
};

/* ---- schemes ---------------------------------------------------------- */

struct passwd_scheme {
    const char *name;
    const char *prefixes; /* space-separated hash prefixes; NULL: any */
    const char *gen;      /* crypt_gensalt prefix for hashing; NULL: none */
    bool plain;
};

static const struct passwd_scheme passwd_schemes[] = {
    {"BLF-CRYPT", "$2a$ $2b$ $2y$", "$2b$", false},
    {"CLEARTEXT", NULL, NULL, true},
    {"CRYPT", NULL, NULL, false},
    {"MD5-CRYPT", "$1$", NULL, false},
    {"PLAIN", NULL, NULL, true},
    {"SHA256-CRYPT", "$5$", "$5$", false},
    {"SHA512-CRYPT", "$6$", "$6$", false},
    {"YESCRYPT", "$y$", "$y$", false},
};

static const struct passwd_scheme *passwd_scheme_find(const char *name, size_t len)
{
    for (size_t i = 0; i < N_ELEMENTS(passwd_schemes); i++)
        if (strlen(passwd_schemes[i].name) == len &&
            strncasecmp(passwd_schemes[i].name, name, len) == 0)
            return &passwd_schemes[i];
    return NULL;
}

bool passwd_scheme_known(const char *name)
{
    return passwd_scheme_find(name, strlen(name)) != NULL;
}

/* Whether hash starts with one of the scheme's prefixes. */
static bool passwd_prefix_ok(const struct passwd_scheme *sc, const char *hash)
{
    if (sc->prefixes == NULL || hash[0] == '!' || hash[0] == '*')
        return true;
    for (const char *p = sc->prefixes; *p;) {
        size_t n = strcspn(p, " ");
        if (strncmp(hash, p, n) == 0)
            return true;
        p += n + (p[n] == ' ');
    }
    return false;
}

int passwd_memcmp_ct(const void *a, const void *b, size_t n)
{
    const volatile unsigned char *x = a, *y = b;
    unsigned char diff = 0;
    for (size_t i = 0; i < n; i++)
        diff |= x[i] ^ y[i];
    return diff != 0;
}

/* Plaintext compare whose time depends only on the stored length. */
static int passwd_plain_match(const char *stored, const char *password)
{
    size_t n = strlen(stored), m = strlen(password);
    const volatile unsigned char *s = (const unsigned char *)stored;
    const unsigned char *p = (const unsigned char *)password;
    unsigned char diff = n != m;
    for (size_t i = 0; i < n; i++)
        diff |= s[i] ^ (i < m ? p[i] : 0);
    return diff == 0;
}

static int passwd_crypt_match(const char *hash, const char *password, char **error_r)
{
    struct crypt_data *cd = xcalloc(1, sizeof(*cd));
    const char *out = crypt_r(password, hash, cd);
    int rc;
    if (out == NULL || out[0] == '*')
        rc = error_set(error_r, "crypt(3) cannot check this hash (unsupported or malformed)");
    else
        rc = strlen(out) == strlen(hash) && passwd_memcmp_ct(out, hash, strlen(hash)) == 0;
    explicit_bzero(cd, sizeof(*cd));
    free(cd);
    return rc;
}

static int passwd_check(const struct passwd_scheme *sc, const char *hash, const char *password,
                        char **error_r)
{
    if (sc->plain)
        return passwd_plain_match(hash, password);
    if (hash[0] == '!' || hash[0] == '*')
        return 0; /* locked */
    if (!passwd_prefix_ok(sc, hash))
        return error_set(error_r, "hash does not match scheme %s", sc->name);
    return passwd_crypt_match(hash, password, error_r);
}

int passwd_verify(const struct passwd_entry *e, const char *password, char **error_r)
{
    const struct passwd_scheme *sc = passwd_scheme_find(e->scheme, strlen(e->scheme));
    if (sc == NULL)
        return error_set(error_r, "unknown password scheme %s", e->scheme);
    return passwd_check(sc, e->hash, password, error_r);
}

/* Split "{SCHEME}hash" (no braces: CRYPT); -1 for a bad scheme. */
static int passwd_split_scheme(const char *field, const struct passwd_scheme **sc_r,
                               const char **hash_r, char **error_r)
{
    if (field[0] != '{') {
        *sc_r = passwd_scheme_find("CRYPT", 5);
        *hash_r = field;
        return 0;
    }
    const char *close = strchr(field, '}');
    if (close == NULL)
        return error_set(error_r, "password scheme without closing '}'");
    *sc_r = passwd_scheme_find(field + 1, (size_t)(close - field - 1));
    if (*sc_r == NULL) {
        str_t *s = str_new(32);
        str_append_printable(s, field + 1, (size_t)(close - field - 1), 32);
        int rc = error_set(error_r, "unknown password scheme {%s}", str_c(s));
        str_free(&s);
        return rc;
    }
    *hash_r = close + 1;
    return 0;
}

int passwd_verify_string_opts(const char *stored, const char *password,
                              const struct passwd_opts *opts, char **error_r)
{
    const struct passwd_scheme *sc;
    const char *hash;
    if (passwd_split_scheme(stored, &sc, &hash, error_r) < 0)
        return -1;
    if (hash[0] == '\0')
        return error_set(error_r, "empty password hash");
    if (sc->plain && (opts == NULL || !opts->allow_plaintext))
        return error_set(error_r, "plaintext password ({%s}) refused", sc->name);
    return passwd_check(sc, hash, password, error_r);
}

int passwd_verify_string(const char *stored, const char *password, char **error_r)
{
    static const struct passwd_opts any = {.allow_plaintext = true};
    return passwd_verify_string_opts(stored, password, &any, error_r);
}

/* ---- hashing ---------------------------------------------------------- */

static char *passwd_crypt_new(const char *gen, const char *label, const char *password)
{
    char salt[CRYPT_GENSALT_OUTPUT_SIZE];
    if (crypt_gensalt_rn(gen, 0, NULL, 0, salt, (int)sizeof(salt)) == NULL)
        return NULL;
    struct crypt_data *cd = xcalloc(1, sizeof(*cd));
    const char *h = crypt_r(password, salt, cd);
    char *out = NULL;
    if (h != NULL && h[0] != '*')
        out = xasprintf("{%s}%s", label, h);
    explicit_bzero(cd, sizeof(*cd));
    free(cd);
    return out;
}

char *passwd_hash(const char *scheme, const char *password, char **error_r)
{
    const struct passwd_scheme *sc = passwd_scheme_find(scheme, strlen(scheme));
    char *out = NULL;
    if (sc == NULL) {
        error_set(error_r, "unknown password scheme %s", scheme);
        return NULL;
    }
    if (sc->plain) {
        if (strchr(password, ':') != NULL || strchr(password, '\n') != NULL) {
            error_set(error_r, "a plaintext password cannot contain ':' or a newline");
            return NULL;
        }
        return xasprintf("{%s}%s", sc->name, password);
    }
    if (strcmp(sc->name, "CRYPT") == 0) {
        out = passwd_crypt_new("$y$", "CRYPT", password);
        if (out == NULL)
            out = passwd_crypt_new("$6$", "SHA512-CRYPT", password);
    } else if (sc->gen != NULL)
        out = passwd_crypt_new(sc->gen, sc->name, password);
    else {
        error_set(error_r, "scheme %s is for checking old hashes only", sc->name);
        return NULL;
    }
    if (out == NULL)
        error_set(error_r, "crypt(3) cannot make %s hashes", sc->name);
    return out;
}

/* ---- one line --------------------------------------------------------- */

void passwd_entry_clear(struct passwd_entry *e)
{
    if (e->hash != NULL)
        explicit_bzero(e->hash, strlen(e->hash));
    xfree(e->user);
    xfree(e->scheme);
    xfree(e->hash);
    xfree(e->home);
    xfree(e->extra);
}

static int passwd_check_user(const char *u, size_t n, char **error_r)
{
    if (n == 0)
        return error_set(error_r, "empty user name");
    if (n > PASSWD_USER_MAX)
        return error_set(error_r, "user name longer than %d bytes", PASSWD_USER_MAX);
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)u[i] <= 0x20 || u[i] == 0x7f)
            return error_set(error_r, "user name with a space or control character");
    return 0;
}

/* A decimal uid/gid: empty is -1; 0 is refused. */
static int passwd_parse_id(const char *f, size_t n, const char *what, long *id_r, char **error_r)
{
    long v = 0;
    *id_r = -1;
    if (n == 0)
        return 0;
    for (size_t i = 0; i < n; i++) {
        if (!isdigit((unsigned char)f[i]) || n > 10)
            return error_set(error_r, "%s is not a number", what);
        v = v * 10 + (f[i] - '0');
    }
    if (v == 0)
        return error_set(error_r, "%s 0 (root) is not allowed", what);
    if (v > (long)UINT32_MAX - 1)
        return error_set(error_r, "%s out of range", what);
    *id_r = v;
    return 0;
}

struct passwd_fields {
    const char *p[PASSWD_FIELDS];
    size_t n[PASSWD_FIELDS];
    int count;
};

/* Split on ':'; the last field takes the rest of the line. */
static void passwd_split(const char *line, size_t len, struct passwd_fields *f)
{
    const char *p = line, *end = line + len;
    memset(f, 0, sizeof(*f));
    while (f->count < PASSWD_FIELDS) {
        const char *c = f->count < PASSWD_FIELDS - 1 ? memchr(p, ':', (size_t)(end - p)) : NULL;
        f->p[f->count] = p;
        f->n[f->count] = c ? (size_t)(c - p) : (size_t)(end - p);
        f->count++;
        if (c == NULL)
            break;
        p = c + 1;
    }
}

static bool passwd_blank(const char *line, size_t len)
{
    size_t i = 0;
    while (i < len && (line[i] == ' ' || line[i] == '\t'))
        i++;
    return i == len || line[i] == '#';
}

static int passwd_fill(const struct passwd_fields *f, const struct passwd_opts *opts,
                       struct passwd_entry *e, char **error_r)
{
    const struct passwd_scheme *sc;
    const char *hash;
    char *pw = xstrndup(f->p[1], f->n[1]);
    int rc = passwd_split_scheme(pw, &sc, &hash, error_r);
    if (rc == 0 && hash[0] == '\0')
        rc = error_set(error_r, "empty password");
    else if (rc == 0 && sc->plain && (opts == NULL || !opts->allow_plaintext))
        rc = error_set(error_r,
                       "plaintext password ({%s}) refused: "
                       "auth_allow_plaintext_passwords = no",
                       sc->name);
    else if (rc == 0 && !passwd_prefix_ok(sc, hash))
        rc = error_set(error_r, "hash does not match scheme {%s}", sc->name);
    if (rc == 0) {
        e->scheme = xstrdup(sc->name);
        e->hash = xstrdup(hash);
    }
    explicit_bzero(pw, f->n[1]);
    free(pw);
    return rc;
}

int passwd_line_parse(const char *line, size_t len, const struct passwd_opts *opts,
                      struct passwd_entry *e, char **error_r)
{
    struct passwd_fields f;
    memset(e, 0, sizeof(*e));
    e->uid = e->gid = -1;
    if (len > 0 && line[len - 1] == '\r')
        len--;
    if (passwd_blank(line, len))
        return 0;
    if (len > PASSWD_LINE_MAX)
        return error_set(error_r, "line longer than %d bytes", PASSWD_LINE_MAX);
    if (memchr(line, '\0', len) != NULL)
        return error_set(error_r, "NUL byte in line");
    passwd_split(line, len, &f);
    if (f.count < 2)
        return error_set(error_r, "no password field (expected user:password:...)");
    if (passwd_check_user(f.p[0], f.n[0], error_r) < 0 ||
        (f.count > 2 && passwd_parse_id(f.p[2], f.n[2], "uid", &e->uid, error_r) < 0) ||
        (f.count > 3 && passwd_parse_id(f.p[3], f.n[3], "gid", &e->gid, error_r) < 0))
        return -1;
    if (f.count > 5 && f.n[5] > 0 && f.p[5][0] != '/')
        return error_set(error_r, "home directory is not an absolute path");
    if (passwd_fill(&f, opts, e, error_r) < 0)
        return -1;
    e->user = xstrndup(f.p[0], f.n[0]);
    e->home = f.count > 5 ? xstrndup(f.p[5], f.n[5]) : xstrdup("");
    e->extra = f.count > 7 ? xstrndup(f.p[7], f.n[7]) : xstrdup("");
    return 1;
}

/* ---- the database ----------------------------------------------------- */

static int passwd_entry_cmp(const void *a, const void *b)
{
    const struct passwd_entry *x = a, *y = b;
    int c = strcasecmp(x->user, y->user);
    return c != 0 ? c : (x->line > y->line) - (x->line < y->line);
}

/* After sorting, drop later duplicates of a name (the first line wins). */
static void passwd_db_dedup(struct passwd_db *db, const char *name)
{
    size_t out = 0;
    for (size_t i = 0; i < db->count; i++) {
        if (out > 0 && strcasecmp(db->entries[out - 1].user, db->entries[i].user) == 0) {
            msg_warn("%s, line %d: user %s already defined on line %d; line ignored", name,
                     db->entries[i].line, db->entries[i].user, db->entries[out - 1].line);
            db->bad++;
            passwd_entry_clear(&db->entries[i]);
            continue;
        }
        db->entries[out++] = db->entries[i];
    }
    db->count = out;
}

static void passwd_db_add(struct passwd_db *db, size_t *cap, const struct passwd_entry *e)
{
    if (db->count == *cap) {
        *cap = *cap ? size_mul(*cap, 2) : 64;
        db->entries = xreallocarray(db->entries, *cap, sizeof(*db->entries));
    }
    db->entries[db->count++] = *e;
}

struct passwd_db *passwd_db_parse(const char *text, size_t len, const char *name,
                                  const struct passwd_opts *opts)
{
    struct passwd_db *db = xcalloc(1, sizeof(*db));
    size_t cap = 0;
    const char *p = text, *end = text + len;
    for (int lineno = 1; p < end; lineno++) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
        struct passwd_entry e;
        char *error = NULL;
        int rc = passwd_line_parse(p, n, opts, &e, &error);
        if (rc < 0) {
            msg_warn("%s, line %d: %s; line ignored", name, lineno, error);
            db->bad++;
            free(error);
        } else if (rc > 0) {
            e.line = lineno;
            passwd_db_add(db, &cap, &e);
        }
        p += n + (nl != NULL);
    }
    if (db->count > 1)
        qsort(db->entries, db->count, sizeof(*db->entries), passwd_entry_cmp);
    passwd_db_dedup(db, name);
    return db;
}

static char *passwd_read_file(const char *path, size_t *len_r, char **error_r)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    struct stat st;
    if (fd < 0) {
        error_set(error_r, "open %s: %s", path, strerror(errno));
        return NULL;
    }
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > PASSWD_FILE_MAX) {
        error_set(error_r, "%s: not a regular file of at most %ld bytes", path, PASSWD_FILE_MAX);
        close(fd);
        return NULL;
    }
    str_t *buf = str_new((size_t)st.st_size + 1);
    char chunk[65536];
    ssize_t n;
    while ((n = read(fd, chunk, sizeof(chunk))) != 0) {
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 || str_len(buf) + (size_t)n > (size_t)PASSWD_FILE_MAX) {
            error_set(error_r, "read %s: %s", path, n < 0 ? strerror(errno) : "file too big");
            close(fd);
            str_free(&buf);
            return NULL;
        }
        str_append(buf, chunk, (size_t)n);
    }
    close(fd);
    explicit_bzero(chunk, sizeof(chunk));
    *len_r = str_len(buf);
    return str_steal(&buf);
}

struct passwd_db *passwd_db_load(const char *path, const struct passwd_opts *opts, char **error_r)
{
    size_t len;
    char *text = passwd_read_file(path, &len, error_r);
    if (text == NULL)
        return NULL;
    struct passwd_db *db = passwd_db_parse(text, len, path, opts);
    explicit_bzero(text, len);
    free(text);
    return db;
}

void passwd_db_free(struct passwd_db **dbp)
{
    struct passwd_db *db = *dbp;
    if (db == NULL)
        return;
    for (size_t i = 0; i < db->count; i++)
        passwd_entry_clear(&db->entries[i]);
    free(db->entries);
    xfree(*dbp);
}

size_t passwd_db_count(const struct passwd_db *db)
{
    return db->count;
}

size_t passwd_db_bad_lines(const struct passwd_db *db)
{
    return db->bad;
}

static int passwd_find_cmp(const void *key, const void *elem)
{
    const struct passwd_entry *e = elem;
    return strcasecmp(key, e->user);
}

const struct passwd_entry *passwd_db_find(const struct passwd_db *db, const char *user)
{
    if (db == NULL || db->count == 0)
        return NULL;
    return bsearch(user, db->entries, db->count, sizeof(*db->entries), passwd_find_cmp);
}
