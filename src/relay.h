/*
 * relay.h - the relay decision core of haraka-plugin-relay-wasm.
 *
 * For: the wasm boundary (exports.c), the native C tests and fuzzers.
 *
 * The core takes the three config files of the relay plugin as text and
 * answers the questions a mail server asks: may this client relay, what does
 * relay_dest_domains.ini say of this recipient's domain, where does outbound
 * send mail for this domain.  It does no I/O.  Every problem found in the
 * text becomes a diagnostic (file, line, column, severity, code, message);
 * a line that cannot be read never widens who may relay.
 *
 * Life of a config:
 *     struct relay_config *cfg = relay_config_new();
 *     relay_config_load(cfg, RELAY_FILE_ACL, text, len);  // any file, any order,
 *                                                          // again on every change
 *     relay_acl_match(cfg, "192.0.2.7", 9, &line);
 *     relay_config_free(cfg);
 * A load replaces that file's part whole or, when memory runs out, leaves the
 * old part in place and returns -1: never half of each.
 */
#ifndef RELAY_H
#define RELAY_H

#include <stddef.h>
#include <stdint.h>

enum relay_file {
    RELAY_FILE_INI = 0,     /* relay.ini */
    RELAY_FILE_ACL = 1,     /* relay_acl_allow */
    RELAY_FILE_DOMAINS = 2, /* relay_dest_domains.ini */
    RELAY_FILE_COUNT
};

const char *relay_file_name(enum relay_file file);

/* relay.ini [relay] switches, as a bit set. */
enum {
    RELAY_SET_ACL = 1,           /* acl, default true */
    RELAY_SET_FORCE_ROUTING = 2, /* force_routing, default false */
    RELAY_SET_DEST_DOMAINS = 4,  /* dest_domains, default false */
    RELAY_SET_ALL = 8            /* all, default false */
};
#define RELAY_SET_DEFAULTS RELAY_SET_ACL

/* What relay_dest_domains.ini says of a recipient domain. */
enum relay_action {
    RELAY_ACTION_UNLISTED = 0, /* no entry */
    RELAY_ACTION_ACCEPT = 1,
    RELAY_ACTION_CONTINUE = 2,
    RELAY_ACTION_DENY = 3,
    RELAY_ACTION_NONE = 4,    /* entry with no "action" (a route only) */
    RELAY_ACTION_INVALID = 5  /* entry that could not be read: refuse (a bad
                                 nexthop alone leaves the action as written) */
};

/* Where outbound sends mail for a domain (force routing). */
enum relay_route {
    RELAY_ROUTE_MX = 0,      /* no forced route: normal MX lookup */
    RELAY_ROUTE_NEXTHOP = 1, /* the nexthop of the domain's entry, or of `any`
                                for a domain without an entry */
    RELAY_ROUTE_INVALID = 2  /* the route that applies cannot be read: defer */
};

enum relay_severity { RELAY_ERROR = 0, RELAY_WARNING = 1, RELAY_INFO = 2 };

struct relay_diagnostic {
    enum relay_file file;
    uint32_t line;   /* 1-based; 0 when the problem is the file as a whole */
    uint32_t column; /* 1-based; 0 when not known */
    enum relay_severity severity;
    const char *code; /* stable, kebab-case, e.g. "acl-bad-prefix" */
    char *message;
    uint32_t seq;     /* the core's own: the last key of the sort, so that
                         diagnostics at one place keep the order found in */
};

struct relay_config;

struct relay_config *relay_config_new(void);
void relay_config_free(struct relay_config *cfg);

/* Parses one file's text (need not be NUL-terminated) and swaps it in.
 * Returns the number of errors found in it, or -1 when memory ran out (the
 * previous text of that file stays in force). */
int relay_config_load(struct relay_config *cfg, enum relay_file file,
                      const char *text, size_t len);

/* The same, for text from malloc that the core takes.  relay_acl_allow's
 * is freed as soon as it has been read, before the lookup tables are
 * built, so a big file's text and its tables are never in memory together;
 * relay_dest_domains.ini's is kept while the domains are in force (the
 * names and routes of its common entries point into it: no copy of each,
 * see domains.c). */
int relay_config_load_taking(struct relay_config *cfg, enum relay_file file,
                             char *text, size_t len);

unsigned relay_settings(const struct relay_config *cfg);

/* The line of relay.ini that set a switch (one RELAY_SET_* bit) as it
 * stands, the last one when it is set more than once; 0 when no line set
 * it (its default) or `setting` is no single switch. */
uint32_t relay_setting_line(const struct relay_config *cfg, unsigned setting);

/* What relay_acl_match answers. */
enum relay_acl_answer {
    RELAY_ACL_NOT_ADDRESS = -1, /* the text is not an address */
    RELAY_ACL_UNLISTED = 0,     /* an address no entry holds */
    RELAY_ACL_LISTED = 1        /* *line: the most specific entry holding it */
};

/* Is the client address (IPv4, IPv6, or IPv4-mapped IPv6 text) in
 * relay_acl_allow?  An enum relay_acl_answer: RELAY_ACL_LISTED with the
 * line of the most specific entry that holds it, RELAY_ACL_UNLISTED when
 * none does, RELAY_ACL_NOT_ADDRESS when the text is not an address. */
int relay_acl_match(const struct relay_config *cfg, const char *ip,
                    size_t len, uint32_t *line);

/* The entry of relay_dest_domains.ini for a recipient domain (any case):
 * the key that names the domain itself, else the longest subdomain key
 * over it (a key with a leading dot, `.example.com`, is an entry of every
 * subdomain of example.com at any depth, not of example.com itself), else
 * none (RELAY_ACTION_UNLISTED, *line 0).  A domain that starts with a dot
 * has no entry.  The cost: one hash lookup, and when the file has any
 * subdomain key, at most one more per label of the domain. */
enum relay_action relay_rcpt_action(const struct relay_config *cfg,
                                    const char *domain, size_t len,
                                    uint32_t *line);

/* The key of that entry, as the table holds it (lower case: "example.com",
 * or ".example.com" for a subdomain key), owned by cfg; NULL when the
 * domain has no entry.  For naming the key (relay-check, the page, a log
 * line), not needed to decide. */
const char *relay_rcpt_key(const struct relay_config *cfg, const char *domain,
                           size_t len);

/* The forced route for a domain: a domain with an entry (its own key or a
 * subdomain key over it, as relay_rcpt_action finds it) goes to that
 * entry's nexthop, or by MX when the entry gives none; a domain without an
 * entry goes to the nexthop of `any`, or by MX (as in haraka-plugin-relay
 * 1.0.2).
 * On RELAY_ROUTE_NEXTHOP *nexthop is the route as JSON text (a JSON string,
 * or an array of strings); on RELAY_ROUTE_INVALID it is why the route
 * cannot be used, as plain text (which element of the nexthop is bad, and
 * how); both owned by cfg.  *line is the entry's line (0 for MX);
 * *via_any is 1 when that entry is `any` (relay_rcpt_key names the
 * domain's own entry otherwise). */
enum relay_route relay_route(const struct relay_config *cfg,
                             const char *domain, size_t len,
                             const char **nexthop, uint32_t *line,
                             int *via_any);

/* All diagnostics, of the three files and of how they combine, in file,
 * line, column and severity order; those at one place in the order they
 * were found.  The array is owned by cfg and valid until the next load. */
size_t relay_diagnostics(struct relay_config *cfg,
                         const struct relay_diagnostic **out);

#endif
