/*
 * config.h - main.cf: the one table of known parameters and their values.
 *
 * Syntax is Postfix's: "name = value", comment lines start with '#', a line
 * starting with whitespace continues the previous one, values may refer to
 * other parameters as $name, ${name} or $(name) and are expanded on use.
 * The parameter table (params.c) is the single source of names, types,
 * defaults and one-line documentation: main.cf(5) and `ternconf -d` are
 * generated from or checked against it.
 *
 * Process model: one configuration per process, loaded once at start (and
 * again on reload); values are read through cfg_*() by name.
 */
#ifndef TERN_CONFIG_H
#define TERN_CONFIG_H

#include "sys.h"
#include "str.h"

enum param_type {
    PARAM_STR,  /* free text, expanded */
    PARAM_INT,  /* decimal integer */
    PARAM_BOOL, /* yes/no (also true/false, on/off, 1/0) */
    PARAM_TIME, /* number with optional unit s/m/h/d/w; stored as seconds */
    PARAM_SIZE, /* number of bytes (plain integer, as in Postfix) */
    PARAM_LIST, /* list separated by commas and/or whitespace */
};

struct param_def {
    const char *name;
    enum param_type type;
    const char *def; /* default value text, may contain $name */
    char time_unit;  /* PARAM_TIME: unit of a bare number ('s','m','h','d') */
    long long min;   /* PARAM_INT/SIZE/TIME: smallest legal value */
    const char *doc; /* one or two sentences for main.cf(5) / ternconf -d */
};

extern const struct param_def param_table[];
extern const size_t param_table_count;

const struct param_def *param_find(const char *name);
/*
 * Per-transport parameters (Postfix's TRANSPORT_destination_*): for a
 * name NAME_SUFFIX with a known SUFFIX ("_destination_concurrency_limit",
 * "_destination_recipient_limit", "_destination_rate_delay") the suffix,
 * else NULL.  Such names are not in the table for every transport (the
 * transports are master.cf's), so config_load does not warn about them;
 * qmgr, which reads master.cf, checks them.
 */
const char *param_service_suffix(const char *name);

/*
 * Load DIR/main.cf over the defaults (DIR NULL: $MAIL_CONFIG, else the
 * compiled-in sysconfdir).  Syntax and type errors are logged as
 * "DIR/main.cf, line N: ..." with msg_error and make the call return -1;
 * unknown names are warned about (msg_warn, same form) and kept.
 * Calling it again replaces the previous configuration (reload).
 */
int config_load(const char *dir);
/* Load from a string instead of a file (tests, fuzzing); name is for messages. */
int config_load_string(const char *text, size_t len, const char *name);
/* Apply "-o name=value"; returns -1 (with a logged error) when malformed. */
int config_override(const char *name_value);
/* The configuration directory last loaded. */
const char *config_dir(void);

/*
 * Values.  Asking for a name that is not in the table is a bug (panic).
 * Type errors are found by config_load, so these never fail.
 */
const char *cfg_str(const char *name); /* expanded value */
long long cfg_int(const char *name);
bool cfg_bool(const char *name);
long long cfg_time(const char *name); /* seconds */
/*
 * Split a list value into a NULL-terminated array (free with cfg_list_free).
 * Postfix list syntax: elements are separated by commas and/or white
 * space, except inside "{...}", so "inline:{ a=b, c=d }" is one element
 * (braces kept); an element that is one "{ text }" group as a whole
 * becomes "text" (outer braces and the white space just inside them
 * removed; an empty group is no element).  config_load rejects list
 * values whose braces do not balance.
 */
char **cfg_list(const char *name);
void cfg_list_free(char ***listp);
/* The same splitting for any text (table results, unexpanded values). */
char **config_list_split(const char *text);
/* NULL when the braces in a list value balance, else the reason. */
const char *config_list_check(const char *text);

/* Raw (unexpanded) value and whether main.cf or -o set it explicitly. */
const char *cfg_raw(const char *name, bool *is_set_r);
/* Expand $name references in text against the current configuration. */
char *cfg_expand(const char *text);

/* Parse a Postfix time value ("300s", "5d", "10") with the given default unit. */
int config_parse_time(const char *text, char default_unit, long long *secs_r);
int config_parse_bool(const char *text, bool *value_r);

/* Names of parameters set in main.cf but not in the table (for ternconf/check). */
char **config_unknown_names(void);

/*
 * Additions used by ternconf and the master.cf parser.
 */
/* Effective default text (host-dependent defaults computed); panics if unknown. */
const char *cfg_default(const char *name);
/* Raw value of a name set in main.cf/-o that is not in the table, else NULL. */
const char *config_unknown_value(const char *name);

/*
 * Logical-line reader shared by the main.cf and master.cf parsers: skips
 * blank lines and lines whose first non-space character is '#', and joins
 * lines that start with whitespace to the previous one with one space.
 * Returns 1 with the line in out and its first line number in *line_r,
 * 0 at the end of the text, or -1 when a continuation line has no line
 * before it (*line_r says where; the reader moves past it).
 */
struct config_reader {
    const char *pos;
    const char *end;
    int lineno;
};
void config_reader_init(struct config_reader *rd, const char *text, size_t len);
int config_read_line(struct config_reader *rd, str_t *out, int *line_r);

#endif
