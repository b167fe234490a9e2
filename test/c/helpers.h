/* helpers.h - shared by the C tests: load texts, find a diagnostic. */
#ifndef HELPERS_H
#define HELPERS_H

#include "relay.h"
#include "check.h"

static struct relay_config *load3(const char *ini, const char *acl, const char *domains)
{
    struct relay_config *cfg = relay_config_new();
    if (ini)
        relay_config_load(cfg, RELAY_FILE_INI, ini, strlen(ini));
    if (acl)
        relay_config_load(cfg, RELAY_FILE_ACL, acl, strlen(acl));
    if (domains)
        relay_config_load(cfg, RELAY_FILE_DOMAINS, domains, strlen(domains));
    return cfg;
}

/* Line of the first diagnostic with this code, or -1. */
static long diag_line(struct relay_config *cfg, const char *code)
{
    const struct relay_diagnostic *d;
    size_t n = relay_diagnostics(cfg, &d);
    for (size_t i = 0; i < n; i++)
        if (strcmp(d[i].code, code) == 0)
            return (long)d[i].line;
    return -1;
}

static int acl(struct relay_config *cfg, const char *ip)
{
    uint32_t line = 0;
    int rc = relay_acl_match(cfg, ip, strlen(ip), &line);
    return rc == 1 ? (int)line : rc;
}

static int action(struct relay_config *cfg, const char *domain)
{
    uint32_t line;
    return relay_rcpt_action(cfg, domain, strlen(domain), &line);
}

#endif
