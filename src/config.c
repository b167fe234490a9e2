/*
 * config.c - the three files of the relay plugin held together.
 *
 * For: the wasm boundary (exports.c), the C tests and the fuzzers.
 *
 * Each file is parsed into a fresh part and only then swapped in, so a
 * reload is all or nothing.  Checks that need two files (a nexthop while
 * force_routing is off, domains while dest_domains is off, all=true) are
 * made when diagnostics are asked for, against the parts in force then; so
 * is the severity of a nexthop that cannot be read (an error while
 * force_routing is on, a warning while it is off).
 */
#include "core.h"

#include <stdlib.h>
#include <string.h>

struct relay_config {
    struct settings settings;
    struct acl acl;
    struct domains domains;
    struct diag_list report; /* the last answer of relay_diagnostics */
};

static const char *const file_names[RELAY_FILE_COUNT] = {
    "relay.ini", "relay_acl_allow", "relay_dest_domains.ini"};

const char *relay_file_name(enum relay_file file)
{
    return (unsigned)file < RELAY_FILE_COUNT ? file_names[file] : "?";
}

struct relay_config *relay_config_new(void)
{
    struct relay_config *cfg = calloc(1, sizeof *cfg);
    if (cfg)
        cfg->settings.bits = RELAY_SET_DEFAULTS;
    return cfg;
}

void relay_config_free(struct relay_config *cfg)
{
    if (!cfg)
        return;
    settings_free(&cfg->settings);
    acl_free(&cfg->acl);
    domains_free(&cfg->domains);
    diag_clear(&cfg->report);
    free(cfg);
}

static int part_errors(const struct relay_config *cfg, const struct diag_list *part);

/* owned: the text itself when the caller handed it over, else NULL */
static int load(struct relay_config *cfg, enum relay_file file, const char *text,
                size_t len, char *owned)
{
    int rc = -1;
    switch (file) {
    case RELAY_FILE_INI: {
        struct settings fresh;
        if (settings_build(&fresh, text, len) == 0) {
            settings_free(&cfg->settings);
            cfg->settings = fresh;
            rc = (int)diag_errors(&fresh.diags);
        }
        break;
    }
    case RELAY_FILE_ACL: {
        struct acl fresh;
        rc = acl_build(&fresh, text, len, owned);
        owned = NULL; /* acl_build freed it */
        if (rc == 0) {
            acl_free(&cfg->acl);
            cfg->acl = fresh;
            rc = (int)diag_errors(&fresh.diags);
        }
        break;
    }
    case RELAY_FILE_DOMAINS: {
        struct domains fresh;
        int built = domains_build(&fresh, text, len, owned);
        owned = NULL; /* the domains took it (they keep the text) */
        if (built == 0) {
            domains_free(&cfg->domains);
            cfg->domains = fresh;
            rc = part_errors(cfg, &cfg->domains.diags);
        }
        break;
    }
    default:
        break;
    }
    free(owned);
    return rc;
}

int relay_config_load(struct relay_config *cfg, enum relay_file file,
                      const char *text, size_t len)
{
    return load(cfg, file, text, len, NULL);
}

int relay_config_load_taking(struct relay_config *cfg, enum relay_file file,
                             char *text, size_t len)
{
    return load(cfg, file, text, len, text);
}

unsigned relay_settings(const struct relay_config *cfg)
{
    return cfg->settings.bits;
}

uint32_t relay_setting_line(const struct relay_config *cfg, unsigned setting)
{
    for (size_t i = 0; i < SWITCH_COUNT; i++)
        if (settings_switches[i].bit == setting)
            return cfg->settings.line[i];
    return 0;
}

int relay_acl_match(const struct relay_config *cfg, const char *ip, size_t len,
                    uint32_t *line)
{
    return acl_lookup(&cfg->acl, ip, len, line);
}

enum relay_action relay_rcpt_action(const struct relay_config *cfg,
                                    const char *domain, size_t len,
                                    uint32_t *line)
{
    const struct domain_entry *e = domains_match(&cfg->domains, domain, len);
    *line = e ? e->line : 0;
    return e ? (enum relay_action)e->action : RELAY_ACTION_UNLISTED;
}

const char *relay_rcpt_key(const struct relay_config *cfg, const char *domain, size_t len)
{
    const struct domain_entry *e = domains_match(&cfg->domains, domain, len);
    return e ? e->name : NULL;
}

/* The route a domain's entry gives: MX (none), NEXTHOP, or INVALID when
 * its nexthop cannot be read, or the entry is broken and may have meant a
 * route, so no route may be guessed. */
static enum relay_route entry_route(const struct domain_entry *e)
{
    if (e->route_invalid || (e->action == RELAY_ACTION_INVALID && !e->nexthop))
        return RELAY_ROUTE_INVALID;
    return e->nexthop ? RELAY_ROUTE_NEXTHOP : RELAY_ROUTE_MX;
}

enum relay_route relay_route(const struct relay_config *cfg, const char *domain,
                             size_t len, const char **nexthop, uint32_t *line,
                             int *via_any)
{
    /* As in haraka-plugin-relay 1.0.2, Postfix transport maps and qmail
     * smtproutes: a domain with an entry goes to that entry's nexthop, or by
     * MX when it gives none; `any` is only for the domains without an
     * entry.  The entry is the one that decides its recipients: its own
     * key, else the longest subdomain key over it (.example.com), so a
     * subdomain key's route, or its MX, comes before `any`. */
    const struct domain_entry *own = domains_match(&cfg->domains, domain, len);
    const struct domain_entry *e = own ? own : domains_find(&cfg->domains, "any", 3);
    enum relay_route route = e ? entry_route(e) : RELAY_ROUTE_MX;
    *via_any = route != RELAY_ROUTE_MX && !own;
    *line = route != RELAY_ROUTE_MX ? e->line : 0;
    *nexthop = NULL;
    if (route == RELAY_ROUTE_INVALID)
        *nexthop = e->route_invalid && e->nexthop ? e->nexthop
                 : "the entry cannot be read, so the route it meant is not known";
    else if (route == RELAY_ROUTE_NEXTHOP)
        *nexthop = e->nexthop;
    return route;
}

/* A route that cannot be read affects routing only: an error while
 * force_routing is on (its mail is deferred), a warning while it is off. */
static int route_only(const struct relay_config *cfg, const struct relay_diagnostic *d)
{
    return d->file == RELAY_FILE_DOMAINS && d->severity == RELAY_ERROR &&
           !(cfg->settings.bits & RELAY_SET_FORCE_ROUTING) &&
           strcmp(d->code, "dest-bad-nexthop") == 0;
}

/* The errors of a file's part, as relay_diagnostics reports them. */
static int part_errors(const struct relay_config *cfg, const struct diag_list *part)
{
    size_t n = diag_errors(part);
    for (size_t i = 0; i < part->count; i++)
        n -= route_only(cfg, &part->items[i]);
    return (int)n;
}

static void lint_across(struct relay_config *cfg, struct diag_list *out)
{
    const struct settings *s = &cfg->settings;
    const struct domains *d = &cfg->domains;
    /* The dest_domains hook runs first: with it on, unlisted and deny
     * recipients are still refused and `all` only vouches for the rest. */
    if ((s->bits & RELAY_SET_ALL) && !(s->bits & RELAY_SET_DEST_DOMAINS))
        diag_add(out, RELAY_FILE_INI, s->line[SWITCH_ALL], 1, RELAY_WARNING, "open-relay",
                 "all = true accepts mail for every recipient from every client: "
                 "an open relay (only for spam traps and tests)");
    else if (s->bits & RELAY_SET_ALL)
        diag_add(out, RELAY_FILE_INI, s->line[SWITCH_ALL], 1, RELAY_WARNING, "open-relay",
                 "all = true relays every recipient that relay_dest_domains.ini does not "
                 "refuse, from every client; with dest_domains off it is an open relay");
    if (!(s->bits & RELAY_SET_FORCE_ROUTING) && d->nexthops)
        diag_add(out, RELAY_FILE_DOMAINS, d->first_nexthop, 0, RELAY_WARNING,
                 "nexthop-unused",
                 "%zu entr%s give%s a nexthop but force_routing is off in relay.ini: "
                 "no route is used", d->nexthops, d->nexthops == 1 ? "y" : "ies",
                 d->nexthops == 1 ? "s" : "");
    if (!(s->bits & RELAY_SET_DEST_DOMAINS) && d->count)
        diag_add(out, RELAY_FILE_DOMAINS, d->first_line, 0, RELAY_WARNING,
                 "dest-domains-off",
                 "%zu domain%s listed but dest_domains is off in relay.ini: "
                 "no action is applied", d->count, d->count == 1 ? " is" : "s are");
}

static void add_dropped(struct diag_list *out, enum relay_file file,
                        const struct diag_list *src)
{
    size_t n = src->dropped[0] + src->dropped[1] + src->dropped[2];
    if (n)
        diag_add(out, file, 0, 0, src->dropped[0] ? RELAY_ERROR : RELAY_WARNING,
                 "too-many-diagnostics",
                 "%zu more problems not shown (%zu errors, %zu warnings, %zu notes)",
                 n, src->dropped[0], src->dropped[1], src->dropped[2]);
}

size_t relay_diagnostics(struct relay_config *cfg,
                         const struct relay_diagnostic **out)
{
    struct diag_list *r = &cfg->report;
    diag_clear(r);
    const struct diag_list *parts[RELAY_FILE_COUNT] = {
        &cfg->settings.diags, &cfg->acl.diags, &cfg->domains.diags};
    size_t total = 0;
    for (int f = 0; f < RELAY_FILE_COUNT; f++)
        total += parts[f]->count + 1;
    total += 3;
    r->items = calloc(total, sizeof *r->items);
    if (!r->items) {
        *out = NULL;
        return 0;
    }
    r->cap = total;
    /* The report may hold more than DIAG_MAX: the cap applies per file. */
    for (int f = 0; f < RELAY_FILE_COUNT; f++) {
        for (size_t i = 0; i < parts[f]->count; i++) {
            struct relay_diagnostic d = parts[f]->items[i];
            if (route_only(cfg, &d))
                d.severity = RELAY_WARNING;
            d.message = dup_range(d.message, strlen(d.message));
            if (!d.message)
                continue;
            r->items[r->count++] = d;
        }
    }
    size_t kept = r->count;
    struct diag_list extra = {0};
    lint_across(cfg, &extra);
    for (int f = 0; f < RELAY_FILE_COUNT; f++)
        add_dropped(&extra, (enum relay_file)f, parts[f]);
    for (size_t i = 0; i < extra.count && kept + i < total; i++) {
        r->items[r->count++] = extra.items[i];
        extra.items[i].message = NULL;
    }
    diag_clear(&extra);
    diag_sort(r);
    *out = r->items;
    return r->count;
}
