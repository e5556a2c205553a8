/*
 * manpage.c - render the parameter table as the PARAMETERS section of
 * main.cf(5), so the manual page is generated from the one table
 * (scripts/gen-maincf-man) and a test can check the two agree.
 */
#include "ternconf.h"

#include "config.h"

/* Computed defaults ('@' forms in params.c) described in words. */
static const char *default_words(const char *def)
{
    if (strcmp(def, "@hostname") == 0)
        return "the system host name";
    if (strcmp(def, "@domain") == 0)
        return "$myhostname without its first label, or localdomain";
    if (strcmp(def, "@config_dir") == 0)
        return "the directory given with -c or $MAIL_CONFIG, else $sysconfdir/tern";
    /* Build-time paths differ per ./configure; the page must not. */
    if (strcmp(def, TERN_BINDIR) == 0)
        return "$bindir as chosen by ./configure";
    if (strcmp(def, TERN_LIBEXECDIR) == 0)
        return "$libexecdir/tern as chosen by ./configure";
    if (strcmp(def, TERN_QUEUEDIR) == 0)
        return "$localstatedir/spool/tern as chosen by ./configure";
    return NULL;
}

/* Write text with roff's special characters escaped. */
static void roff_text(FILE *fp, const char *text)
{
    if (*text == '.' || *text == '\'')
        fputs("\\&", fp);
    for (const char *p = text; *p; p++) {
        if (*p == '\\')
            fputs("\\e", fp);
        else if (*p == '-')
            fputs("\\-", fp);
        else
            fputc(*p, fp);
    }
}

static const char *type_word(enum param_type t)
{
    static const char *const words[] = {"text", "integer", "boolean", "time", "size", "list"};
    return words[t];
}

static void man_param(FILE *fp, const struct param_def *def)
{
    const char *words = default_words(def->def);
    fputs(".TP\n\\fB", fp);
    roff_text(fp, def->name);
    fprintf(fp, "\\fR (%s", type_word(def->type));
    if (def->type == PARAM_TIME)
        fprintf(fp, ", unit %c", def->time_unit);
    fputs("; default: ", fp);
    if (words) {
        fputs("\\fI", fp);
        roff_text(fp, words);
        fputs("\\fR", fp);
    } else if (*def->def == '\0') {
        fputs("empty", fp);
    } else {
        fputs("\\fB", fp);
        roff_text(fp, def->def);
        fputs("\\fR", fp);
    }
    fputs(")\n", fp);
    roff_text(fp, def->doc);
    fputc('\n', fp);
}

void ternconf_print_man(FILE *fp)
{
    fputs(".SH PARAMETERS\n", fp);
    for (size_t i = 0; i < param_table_count; i++)
        man_param(fp, &param_table[i]);
}
