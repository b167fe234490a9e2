/*
 * fuzz_rcpt.c - a recipient domain (the host of RCPT TO) against a fixed
 * relay_dest_domains.ini.
 *
 * Properties: no crash; the action, route and lines equal those of a table
 * searched one entry at a time (a domain matches a key when it has the
 * same length and the same letters in any ASCII case, nothing else); the
 * route is the entry's own (MX when it gives none), `any`'s only for a
 * domain without an entry.
 */
#include "fuzz_common.h"

enum { R_NONE, R_HOP, R_BAD };

struct entry {
    const char *key, *value;
    enum relay_action action;
    int route;
};

static const struct entry entries[] = {
    {"accept.example", "{ \"action\": \"accept\" }", RELAY_ACTION_ACCEPT, R_NONE},
    {"Continue.Example", "{ \"action\": \"continue\", \"nexthop\": \"192.0.2.5:2525\" }", RELAY_ACTION_CONTINUE, R_HOP},
    {"deny.example", "{\"action\":\"deny\"}", RELAY_ACTION_DENY, R_NONE},
    {"typo.example", "{\"action\":\"Accept\"}", RELAY_ACTION_INVALID, R_BAD},
    {"json.example", "{action: accept}", RELAY_ACTION_INVALID, R_BAD},
    {"route.example", "{\"nexthop\":[\"[2001:db8::25]:25\",\"lmtp://lmtp.example:24\"]}", RELAY_ACTION_NONE, R_HOP},
    /* a bad nexthop defers the route and leaves the action */
    {"badroute.example", "{\"action\":\"accept\",\"nexthop\":\"mx.example:0\"}", RELAY_ACTION_ACCEPT, R_BAD},
    {"novalue.example", NULL, RELAY_ACTION_INVALID, R_BAD},
    {"a", "{\"action\":\"accept\"}", RELAY_ACTION_ACCEPT, R_NONE},
    {"xn--bcher-kva.example", "{\"action\":\"continue\"}", RELAY_ACTION_CONTINUE, R_NONE},
    {"x[1]:y", "{\"action\":\"accept\"}", RELAY_ACTION_ACCEPT, R_NONE},
    {"user@host.example", "{\"action\":\"deny\"}", RELAY_ACTION_DENY, R_NONE},
    {"sub.accept.example", "{\"action\":\"deny\"}", RELAY_ACTION_DENY, R_NONE},
    {"example", "{\"action\":\"accept\"}", RELAY_ACTION_ACCEPT, R_NONE},
    {"any", "{\"nexthop\":\"smtp://smarthost.example:587\"}", RELAY_ACTION_NONE, R_HOP},
};
#define FIXED (sizeof entries / sizeof *entries)
#define NUMBERED 40 /* d0.example ... : enough keys for the hash table to have runs */
#define ALL (FIXED + NUMBERED)

static struct relay_config *cfg;
static char names[ALL][32];
static enum relay_action actions[ALL];
static int routes[ALL];

static void setup(void)
{
    static char text[8192];
    size_t n = 0;
    n += (size_t)snprintf(text + n, sizeof text - n, "[domains]\n");
    for (size_t i = 0; i < ALL; i++) {
        const char *key, *value;
        char numbered[32], numbered_value[64];
        if (i < FIXED) {
            key = entries[i].key;
            value = entries[i].value;
            actions[i] = entries[i].action;
            routes[i] = entries[i].route;
        } else {
            unsigned k = (unsigned)(i - FIXED);
            snprintf(numbered, sizeof numbered, "d%u.example", k);
            static const char *const acts[] = {"accept", "continue", "deny"};
            snprintf(numbered_value, sizeof numbered_value, "{\"action\":\"%s\"}", acts[k % 3]);
            key = numbered;
            value = numbered_value;
            actions[i] = (enum relay_action)(RELAY_ACTION_ACCEPT + k % 3);
            routes[i] = R_NONE;
        }
        for (size_t c = 0; key[c]; c++)
            names[i][c] = (char)(key[c] >= 'A' && key[c] <= 'Z' ? key[c] + 32 : key[c]);
        n += (size_t)snprintf(text + n, sizeof text - n, value ? "%s = %s\n" : "%s\n", key, value);
    }
    cfg = relay_config_new();
    CHECK_OR_DIE(cfg && relay_config_load(cfg, RELAY_FILE_DOMAINS, text, n) >= 0, "fixed config");
}

/* index of the entry for the domain, or -1: one entry at a time */
static long find(const char *d, size_t n)
{
    for (size_t i = 0; i < ALL; i++) {
        if (strlen(names[i]) != n)
            continue;
        size_t k = 0;
        while (k < n && (d[k] >= 'A' && d[k] <= 'Z' ? d[k] + 32 : d[k]) == names[i][k])
            k++;
        if (k == n)
            return (long)i;
    }
    return -1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!cfg)
        setup();
    const char *d = (const char *)data;
    long i = find(d, size), any = find("any", 3);
    uint32_t line = 0;
    enum relay_action a = relay_rcpt_action(cfg, d, size, &line);
    CHECK_OR_DIE(a == (i < 0 ? RELAY_ACTION_UNLISTED : actions[i]), "'%.*s': action %d, table %d",
                 (int)size, d, (int)a, i < 0 ? 0 : (int)actions[i]);
    CHECK_OR_DIE(line == (i < 0 ? 0 : (uint32_t)i + 2), "'%.*s': line %u", (int)size, d, (unsigned)line);
    /* a domain with an entry is routed by it (MX when it gives no nexthop);
     * `any` only routes the domains without an entry */
    long via = i >= 0 ? i : any;
    int want = via < 0 ? R_NONE : routes[via];
    const char *hop = NULL;
    int via_any = 0;
    enum relay_route r = relay_route(cfg, d, size, &hop, &line, &via_any);
    CHECK_OR_DIE((int)r == (want == R_NONE ? RELAY_ROUTE_MX : want == R_HOP ? RELAY_ROUTE_NEXTHOP
                                                                          : RELAY_ROUTE_INVALID),
                 "'%.*s': route %d, table %d", (int)size, d, (int)r, want);
    if (want != R_NONE)
        CHECK_OR_DIE(line == (uint32_t)via + 2 && via_any == (via == any && via != i),
                     "'%.*s': route line %u via_any %d", (int)size, d, (unsigned)line, via_any);
    return 0;
}
