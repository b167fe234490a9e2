/* test_domains.c - relay_dest_domains.ini: actions, routes, broken entries. */
#include "core.h"
#include "helpers.h"

#include <stdlib.h>

static int route(struct relay_config *cfg, const char *domain, const char **hop, int *any)
{
    uint32_t line;
    return relay_route(cfg, domain, strlen(domain), hop, &line, any);
}

int main(void)
{
    struct relay_config *cfg = load3("[relay]\ndest_domains=true\nforce_routing=true\n", NULL,
        "[domains]\n"
        "accept.example = { \"action\": \"accept\" }\n"                       /* 2 */
        "Continue.Example = { \"action\": \"continue\", \"nexthop\": \"192.0.2.5:2525\" }\n"
        "deny.example = {\"action\":\"deny\"}\n"                               /* 4 */
        "typo.example = {\"action\":\"Accept\"}\n"                             /* 5 */
        "json.example = {action: accept}\n"                                    /* 6 */
        "array.example = [\"accept\"]\n"                                       /* 7 */
        "port.example = {\"action\":\"accept\",\"nexthop\":\"mx.example:70000\"}\n"
        "route.example = {\"nexthop\":[\"[2001:db8::25]:25\",\"lmtp://lmtp.example:24\"]}\n"
        "novalue.example\n"                                                    /* 10 */
        "any = {\"nexthop\":\"smtp://user:pass@smarthost.example:587\"}\n");   /* 11 */
    CHECK_EQ(action(cfg, "accept.example"), RELAY_ACTION_ACCEPT);
    CHECK_EQ(action(cfg, "ACCEPT.example"), RELAY_ACTION_ACCEPT);
    CHECK_EQ(action(cfg, "continue.example"), RELAY_ACTION_CONTINUE);
    CHECK_EQ(action(cfg, "deny.example"), RELAY_ACTION_DENY);
    CHECK_EQ(action(cfg, "typo.example"), RELAY_ACTION_INVALID);
    CHECK_EQ(action(cfg, "json.example"), RELAY_ACTION_INVALID);
    CHECK_EQ(action(cfg, "array.example"), RELAY_ACTION_INVALID);
    CHECK_EQ(action(cfg, "port.example"), RELAY_ACTION_INVALID);
    CHECK_EQ(action(cfg, "route.example"), RELAY_ACTION_NONE);
    CHECK_EQ(action(cfg, "novalue.example"), RELAY_ACTION_INVALID);
    CHECK_EQ(action(cfg, "unlisted.example"), RELAY_ACTION_UNLISTED);
    CHECK_EQ(action(cfg, "accept.example.evil"), RELAY_ACTION_UNLISTED);
    CHECK_EQ(action(cfg, "xaccept.example"), RELAY_ACTION_UNLISTED);
    CHECK_EQ(diag_line(cfg, "dest-bad-action"), 5);
    CHECK_EQ(diag_line(cfg, "dest-bad-json"), 6);
    CHECK_EQ(diag_line(cfg, "dest-not-object"), 7);
    CHECK_EQ(diag_line(cfg, "dest-bad-nexthop"), 8);
    CHECK_EQ(diag_line(cfg, "dest-no-value"), 10);

    const char *hop = NULL;
    int any = 0;
    CHECK_EQ(route(cfg, "continue.example", &hop, &any), RELAY_ROUTE_NEXTHOP);
    CHECK(hop && strcmp(hop, "\"192.0.2.5:2525\"") == 0);
    CHECK_EQ(any, 0);
    CHECK_EQ(route(cfg, "route.example", &hop, &any), RELAY_ROUTE_NEXTHOP);
    CHECK(hop && strcmp(hop, "[\"[2001:db8::25]:25\",\"lmtp://lmtp.example:24\"]") == 0);
    CHECK_EQ(route(cfg, "accept.example", &hop, &any), RELAY_ROUTE_NEXTHOP); /* via any */
    CHECK_EQ(any, 1);
    CHECK_EQ(route(cfg, "elsewhere.example", &hop, &any), RELAY_ROUTE_NEXTHOP);
    CHECK_EQ(any, 1);
    /* a broken entry never falls back to `any` or MX */
    CHECK_EQ(route(cfg, "port.example", &hop, &any), RELAY_ROUTE_INVALID);
    CHECK_EQ(route(cfg, "json.example", &hop, &any), RELAY_ROUTE_INVALID);
    relay_config_free(cfg);

    /* no `any`: MX */
    cfg = load3(NULL, NULL, "[domains]\na.example = {\"action\":\"accept\"}\n");
    const char *h2 = NULL;
    CHECK_EQ(route(cfg, "a.example", &h2, &any), RELAY_ROUTE_MX);
    CHECK_EQ(route(cfg, "b.example", &h2, &any), RELAY_ROUTE_MX);
    /* dest_domains is off and force_routing is off: both are said */
    CHECK_EQ(diag_line(cfg, "dest-domains-off"), 2);
    relay_config_free(cfg);

    /* nexthop forms */
    const char *good[] = {"mx.example", "mx.example:25", "192.0.2.1", "192.0.2.1:2525", "2001:db8::1",
                          "[2001:db8::1]", "[2001:db8::1]:587", "smtp://mx.example", "smtp://mx.example:25",
                          "smtp://u:p@mx.example:587", "lmtp://127.0.0.1:24", "smtp://[::1]:25"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        CHECK(nexthop_check(good[i]) == NULL);
    const char *bad[] = {"", "mx.example:0", "mx.example:70000", "mx.example:", "mx.example:ab",
                         "[2001:db8::1", "[2001:db8::1]x", "http://mx.example", "smtp://mx.example/path",
                         "mx example", "300.1.1.1", "smtp://2001:db8::1:25", "mx..example"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CHECK(nexthop_check(bad[i]) != NULL);
        if (!nexthop_check(bad[i]))
            fprintf(stderr, "  accepted: '%s'\n", bad[i]);
    }

    /* found by fuzz_rcpt: a domain with a NUL in it read past the end of a
     * stored name whose bytes it matched so far */
    cfg = load3(NULL, NULL, "[domains]\nab.example = {\"action\":\"accept\"}\n");
    uint32_t line;
    CHECK_EQ(relay_rcpt_action(cfg, "ab.example\0xyz", 14, &line), RELAY_ACTION_UNLISTED);
    /* enough of them that some hash to the slot of ab.example (ASan sees the read) */
    for (unsigned k = 0; k < 2000; k++) {
        char q[32] = "ab.example";
        size_t qn = 11 + fmt(q + 11, sizeof q - 11, "%u", k);
        CHECK_EQ(relay_rcpt_action(cfg, q, qn, &line), RELAY_ACTION_UNLISTED);
    }
    CHECK_EQ(relay_rcpt_action(cfg, "ab.example\0", 11, &line), RELAY_ACTION_UNLISTED);
    CHECK_EQ(relay_rcpt_action(cfg, "ab\0example", 10, &line), RELAY_ACTION_UNLISTED);
    CHECK_EQ(relay_rcpt_action(cfg, "AB.example", 10, &line), RELAY_ACTION_ACCEPT);
    relay_config_free(cfg);

    /* found by the bad-config corpus: cJSON ends a string at \u0000, so
     * "accept\u0000x" read as "accept" (JSON.parse keeps the whole string) */
    cfg = load3(NULL, NULL,
        "[domains]\n"
        "a.example = {\"action\":\"accept\\u0000x\"}\n"                /* 2 */
        "b.example = {\"action\\u0000x\":\"accept\"}\n"                /* 3 */
        "c.example = {\"nexthop\":\"mx.example\\u0000:0\"}\n"          /* 4 */
        "d.example = {\"action\":\"accept\",\"x\":\"\\\\u0000\"}\n"); /* 5: an escaped backslash */
    CHECK_EQ(action(cfg, "a.example"), RELAY_ACTION_INVALID);
    CHECK_EQ(action(cfg, "b.example"), RELAY_ACTION_INVALID);
    CHECK_EQ(action(cfg, "c.example"), RELAY_ACTION_INVALID);
    CHECK_EQ(action(cfg, "d.example"), RELAY_ACTION_ACCEPT);
    CHECK_EQ(diag_line(cfg, "dest-nul-char"), 2);
    CHECK_EQ(route(cfg, "c.example", &hop, &any), RELAY_ROUTE_INVALID);
    relay_config_free(cfg);

    /* found by fuzz_domains: a repeated "nexthop" key leaked the first
     * route (LeakSanitizer); the later one wins, as with JSON.parse */
    cfg = load3(NULL, NULL,
        "[domains]\n"
        "a.example = {\"nexthop\":\"one.example\",\"nexthop\":\"two.example\"}\n"
        "b.example = {\"nexthop\":\"one.example\",\"nexthop\":\"bad:0\"}\n");
    CHECK_EQ(route(cfg, "a.example", &hop, &any), RELAY_ROUTE_NEXTHOP);
    CHECK(hop && strcmp(hop, "\"two.example\"") == 0);
    CHECK_EQ(route(cfg, "b.example", &hop, &any), RELAY_ROUTE_INVALID);
    relay_config_free(cfg);

    /* a key of a megabyte is named in a message of a sensible length */
    size_t big = 1000000;
    char *text = malloc(big + 64);
    memcpy(text, "[domains]\n", 10);
    memset(text + 10, 'a', big);
    strcpy(text + 10 + big, " = {\"action\":1}\n");
    cfg = load3(NULL, NULL, text);
    const struct relay_diagnostic *d;
    size_t n = relay_diagnostics(cfg, &d);
    CHECK(n >= 2);
    for (size_t i = 0; i < n; i++)
        CHECK(strlen(d[i].message) < 400);
    relay_config_free(cfg);
    free(text);
    return check_result();
}
