/*
 * resolve.h - what to do with a recipient address: which transport and
 * next hop, whether it is one of ours, and whether that user exists.
 * Used by smtpd (relay control, unknown-recipient rejection at RCPT time)
 * and qmgr (routing), so both always agree.
 *
 * Address classes, decided on the domain as Postfix does:
 *   RESOLVE_LOCAL    domain in mydestination (or no domain): system users
 *                    and alias_maps; transport local_transport ("local")
 *   RESOLVE_VIRTUAL  domain in virtual_mailbox_domains: virtual_mailbox_maps;
 *                    transport virtual_transport ("local" in tern: the
 *                    local agent also delivers virtual mailboxes)
 *   RESOLVE_RELAY    domain in relay_domains: relay_transport ("smtp")
 *   RESOLVE_DEFAULT  anything else: default_transport ("smtp"), which
 *                    smtpd relays only for trusted clients
 * The next hop of RELAY and DEFAULT mail is $relayhost when set (or the
 * sender's relay host, see resolve_addr_sender), else the domain.
 * transport_maps (full address, then domain, then parent domains) may
 * override the transport and next hop ("smtp:[host]:port", "local:",
 * "error:text", "discard:").
 */
#ifndef TERN_RESOLVE_H
#define TERN_RESOLVE_H

#include "sys.h"

enum resolve_class { RESOLVE_LOCAL, RESOLVE_VIRTUAL, RESOLVE_RELAY, RESOLVE_DEFAULT };

struct resolve_result {
    enum resolve_class cls;
    char *transport; /* "local", "smtp", "error", "discard", ... */
    char *nexthop;   /* domain, "[host]:port", or error text */
    char *addr;      /* the address, domain lower-cased */
};

/* 0, or -1 on a temporary error (a table could not be read). */
int resolve_addr(const char *addr, struct resolve_result *r, char **error_r);
/*
 * The same, for mail from sender ("" the null sender): relay and default
 * mail may then go to the sender's relay host (sender_dependent_relayhost_maps,
 * searched with the sender address, then @domain; the null sender with
 * $empty_address_relayhost_maps_lookup_key; DUNNO: no override) instead
 * of $relayhost.  sender NULL: no sender lookup, as resolve_addr.
 */
int resolve_addr_sender(const char *addr, const char *sender, struct resolve_result *r,
                        char **error_r);
void resolve_result_clear(struct resolve_result *r);

/*
 * Does this local or virtual recipient exist?  1 yes, 0 no (reject with
 * 550 5.1.1), -1 temporary error (answer 450).  Handles recipient_delimiter
 * (user+tag), aliases, system users (local) and virtual_mailbox_maps.
 * For RELAY/DEFAULT classes it returns 1 (relay_recipient_maps later).
 */
int resolve_rcpt_known(const char *addr, char **error_r);

/*
 * The class of a domain ("" is local): 0, or -1 on a table error.
 */
int resolve_domain_class(const char *domain, enum resolve_class *cls_r, char **error_r);

/*
 * Look key up in the tables of a list parameter, in order, through the
 * cache below (patterns and unix:passwd.byname are skipped): 1 found
 * (*value_r malloc'ed when value_r is not NULL), 0 not found, -1 table
 * error (*error_r malloc'ed).
 */
int resolve_maps_lookup(const char *param, const char *key, char **value_r, char **error_r);

/* Drop cached tables (after a configuration reload). */
void resolve_reset(void);

#endif
