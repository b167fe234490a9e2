/* test_domains.c - relay_dest_domains.ini: actions, routes, broken entries. */
#include "core.h"
#include "helpers.h"

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
    return check_result();
}
