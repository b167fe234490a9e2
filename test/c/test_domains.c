/* test_domains.c - relay_dest_domains.ini: actions, routes, broken entries. */
#include "core.h"
#include "helpers.h"

#include "cJSON.h"

#include <stdlib.h>

static int route(struct relay_config *cfg, const char *domain, const char **hop, int *any)
{
    uint32_t line;
    return relay_route(cfg, domain, strlen(domain), hop, &line, any);
}

/* The message of the first diagnostic with this code, or "". */
static const char *diag_message(struct relay_config *cfg, const char *code)
{
    const struct relay_diagnostic *d;
    size_t n = relay_diagnostics(cfg, &d);
    for (size_t i = 0; i < n; i++)
        if (strcmp(d[i].code, code) == 0)
            return d[i].message;
    return "";
}

/* The severity of the first diagnostic with this code, or -1. */
static int diag_severity(struct relay_config *cfg, const char *code)
{
    const struct relay_diagnostic *d;
    size_t n = relay_diagnostics(cfg, &d);
    for (size_t i = 0; i < n; i++)
        if (strcmp(d[i].code, code) == 0)
            return (int)d[i].severity;
    return -1;
}

/* issue 9: JSON nested deeper than CJSON_NESTING_LIMIT levels is refused
 * on its own line (dest-too-deep) before cJSON recurses into it: in
 * relay.wasm ~820 levels ran the 64 KiB stack into the static data.  The
 * entries around it stay in force, at any depth and in any shape. */
static void check_deep_json(void)
{
    static const char *const level[][2] = {{"[", "]"}, {"{\"k\":", "}"}};
    static const size_t depths[] = {1, 2, CJSON_NESTING_LIMIT - 1, CJSON_NESTING_LIMIT,
                                    CJSON_NESTING_LIMIT + 1, 855, 1000, 1001, 100000};
    char want[96];
    fmt(want, sizeof want, "nested deeper than %d levels", CJSON_NESTING_LIMIT);
    CHECK_EQ(CJSON_NESTING_LIMIT, 64);
    for (size_t shape = 0; shape < 3; shape++) {
        for (size_t k = 0; k < sizeof depths / sizeof *depths; k++) {
            size_t depth = depths[k]; /* the object of the value included */
            char *text = malloc(128 + depth * 6);
            size_t n = (size_t)sprintf(text, "[domains]\na.example = {\"action\":\"accept\"}\n"
                                             "deep.example = {\"action\":\"accept\",\"x\":");
            for (size_t i = 1; i < depth; i++) /* shape 2: [ and { in turn */
                n += (size_t)sprintf(text + n, "%s", level[shape == 2 ? i % 2 : shape][0]);
            n += (size_t)sprintf(text + n, "1");
            for (size_t i = depth - 1; i >= 1; i--)
                n += (size_t)sprintf(text + n, "%s", level[shape == 2 ? i % 2 : shape][1]);
            sprintf(text + n, "}\nc.example = {\"action\":\"continue\"}\n");
            struct relay_config *cfg = load3(NULL, NULL, text);
            if (depth > CJSON_NESTING_LIMIT) {
                CHECK_EQ(action(cfg, "deep.example"), RELAY_ACTION_INVALID);
                CHECK_EQ(diag_line(cfg, "dest-too-deep"), 3);
                CHECK(strstr(diag_message(cfg, "dest-too-deep"), want) != NULL);
                CHECK_EQ(diag_line(cfg, "dest-bad-json"), -1);
            } else {
                CHECK_EQ(action(cfg, "deep.example"), RELAY_ACTION_ACCEPT);
                CHECK_EQ(diag_line(cfg, "dest-too-deep"), -1);
                CHECK_EQ(diag_line(cfg, "dest-unknown-key"), 3);
            }
            CHECK_EQ(action(cfg, "a.example"), RELAY_ACTION_ACCEPT);
            CHECK_EQ(action(cfg, "c.example"), RELAY_ACTION_CONTINUE);
            relay_config_free(cfg);

    /* Values JSON.parse refuses (1.0.2 threw on them, refusing the
     * recipient) are refused here too, though cJSON would take them. */
    {
        static const char *const not_json[] = {
            "{\"action\":\"accept\",\"n\tote\":1}", "{\"action\":\"accept\",\"x\":01}",
            "{\"action\":\"accept\",\"x\":1.}", "{\"action\":\"accept\",\"x\":.5}",
            "{\f\"action\":\"accept\"}", "{\"action\":\"accept\",}", "{\"action\":\"accept\"} x",
            "{\"action\":\"accept\",\"x\":\"\\q\"}", "{\"action\":\"accept\",\"x\":\"\\u12G4\"}",
            "{'action':'accept'}", "{\"action\":\"accept\",\"x\":-}", "{\"action\":\"accept\",\"x\":1e}",
            "{\"action\":\"accept\",\"x\":[1,]}", "{\"action\":\"accept\",\"x\":tru}",
            "{\"action\":\"accept\",\"x\":+1}", "{\"action\":\"accept\",\"x\":0x10}",
            "{\"action\":\"accept\" \"x\":1}", "{\"action\"\"accept\"}", NULL};
        static const char *const json[] = {
            "{\"action\":\"accept\",\"x\":[1,-0.5e+3,true,false,null,{},[],\"\\u00e9\\/\"]}",
            "{ \"action\" : \"accept\" ,\t \"x\" : 0 }", NULL};
        for (int ok = 0; ok < 2; ok++) {
            for (const char *const *list = ok ? json : not_json; *list; list++) {
                const char *v = *list;
                char text[256];
                size_t n = (size_t)snprintf(text, sizeof text, "[domains]\nj.example = %s\n", v);
                struct relay_config *c = relay_config_new();
                relay_config_load(c, RELAY_FILE_DOMAINS, text, n);
                CHECK_EQ(action(c, "j.example"), ok ? RELAY_ACTION_ACCEPT : RELAY_ACTION_INVALID);
                if (!ok)
                    CHECK_EQ(diag_line(c, "dest-bad-json"), 2);
                relay_config_free(c);
            }
        }
    }
            free(text);
        }
    }

    /* brackets in strings are text; unclosed ones still count */
    size_t big = 100000;
    char *text = malloc(big * 2 + 128);
    size_t n = (size_t)sprintf(text, "[domains]\na.example = {\"action\":\"accept\",\"x\":\"");
    memset(text + n, '[', big);
    n += big;
    n += (size_t)sprintf(text + n, "\\\"{\"}\nb.example = {\"x\":");
    memset(text + n, '{', big);
    n += big;
    sprintf(text + n, "\nc.example = %s\n", "[[[[\"]]]]\"]]]]");
    struct relay_config *cfg = load3(NULL, NULL, text);
    CHECK_EQ(action(cfg, "a.example"), RELAY_ACTION_ACCEPT);
    CHECK_EQ(action(cfg, "b.example"), RELAY_ACTION_INVALID);
    CHECK_EQ(diag_line(cfg, "dest-too-deep"), 3);
    CHECK_EQ(diag_line(cfg, "dest-not-object"), 4);
    relay_config_free(cfg);
    free(text);
}

/* ---- subdomain keys (issue 14) ------------------------------------- */

#define RCPT_IS(cfg, domain, want_action, want_line)                            \
    do {                                                                       \
        uint32_t got_line = 12345;                                             \
        int got = relay_rcpt_action(cfg, domain, strlen(domain), &got_line);   \
        if (got != (int)(want_action) || got_line != (uint32_t)(want_line))    \
            fprintf(stderr, "  rcpt %s: action %d line %u\n", domain, got,     \
                    (unsigned)got_line);                                       \
        CHECK_EQ(got, want_action);                                            \
        CHECK_EQ(got_line, want_line);                                         \
    } while (0)

#define KEY_IS(cfg, domain, want)                                              \
    do {                                                                       \
        const char *got = relay_rcpt_key(cfg, domain, strlen(domain));         \
        const char *w = (want);                                                \
        if (!(w ? got && strcmp(got, w) == 0 : got == NULL))                   \
            fprintf(stderr, "  key of %s: %s\n", domain, got ? got : "(none)"); \
        CHECK(w ? got && strcmp(got, w) == 0 : got == NULL);                   \
    } while (0)

/* How many diagnostics with this code, and of this severity. */
static size_t diag_count(struct relay_config *cfg, const char *code, int severity)
{
    const struct relay_diagnostic *d;
    size_t n = relay_diagnostics(cfg, &d), k = 0;
    for (size_t i = 0; i < n; i++)
        k += strcmp(d[i].code, code) == 0 && (int)d[i].severity == severity;
    return k;
}

/* The message of the diagnostic with this code at this line, or "". */
static const char *diag_at(struct relay_config *cfg, const char *code, uint32_t line)
{
    const struct relay_diagnostic *d;
    size_t n = relay_diagnostics(cfg, &d);
    for (size_t i = 0; i < n; i++)
        if (strcmp(d[i].code, code) == 0 && d[i].line == line)
            return d[i].message;
    return "";
}

static void check_suffix_keys(void)
{
    /* precedence: the exact key, then the longest subdomain key; never the
     * apex; any depth; case and the ASCII form of an IDN as exact keys */
    struct relay_config *cfg = load3("[relay]\ndest_domains=true\n", NULL,
        "[domains]\n"
        "example.com = {\"action\":\"deny\"}\n"                   /* 2 */
        ".example.com = {\"action\":\"accept\"}\n"                /* 3 */
        ".b.example.com = {\"action\":\"continue\"}\n"            /* 4 */
        "exact.b.example.com = {\"action\":\"deny\"}\n"           /* 5 */
        ".EXAMPLE.NET = {\"action\":\"accept\"}\n"                /* 6 */
        ".xn--bcher-kva.example = {\"action\":\"accept\"}\n"      /* 7 */
        ".org = {\"action\":\"deny\"}\n"                          /* 8 */
        "plain.example = {\"action\":\"accept\"}\n");             /* 9 */
    RCPT_IS(cfg, "example.com", RELAY_ACTION_DENY, 2);
    RCPT_IS(cfg, "a.example.com", RELAY_ACTION_ACCEPT, 3);
    RCPT_IS(cfg, "x.y.z.w.example.com", RELAY_ACTION_ACCEPT, 3);
    RCPT_IS(cfg, "b.example.com", RELAY_ACTION_ACCEPT, 3); /* the apex of .b.example.com */
    RCPT_IS(cfg, "a.b.example.com", RELAY_ACTION_CONTINUE, 4);
    RCPT_IS(cfg, "q.r.a.b.example.com", RELAY_ACTION_CONTINUE, 4);
    RCPT_IS(cfg, "exact.b.example.com", RELAY_ACTION_DENY, 5);
    RCPT_IS(cfg, "x.exact.b.example.com", RELAY_ACTION_CONTINUE, 4);
    RCPT_IS(cfg, "A.B.Example.COM", RELAY_ACTION_CONTINUE, 4);
    RCPT_IS(cfg, "notexample.com", RELAY_ACTION_UNLISTED, 0); /* at a dot only */
    RCPT_IS(cfg, "a-example.com", RELAY_ACTION_UNLISTED, 0);
    RCPT_IS(cfg, "com", RELAY_ACTION_UNLISTED, 0);
    RCPT_IS(cfg, "example.net", RELAY_ACTION_UNLISTED, 0);
    RCPT_IS(cfg, "sub.example.net", RELAY_ACTION_ACCEPT, 6);
    RCPT_IS(cfg, "SUB.Example.Net", RELAY_ACTION_ACCEPT, 6);
    RCPT_IS(cfg, "xn--bcher-kva.example", RELAY_ACTION_UNLISTED, 0);
    RCPT_IS(cfg, "a.xn--bcher-kva.example", RELAY_ACTION_ACCEPT, 7);
    RCPT_IS(cfg, "A.XN--BCHER-KVA.EXAMPLE", RELAY_ACTION_ACCEPT, 7);
    RCPT_IS(cfg, "org", RELAY_ACTION_UNLISTED, 0);
    RCPT_IS(cfg, "any.org", RELAY_ACTION_DENY, 8);
    RCPT_IS(cfg, "plain.example", RELAY_ACTION_ACCEPT, 9);
    RCPT_IS(cfg, "a.plain.example", RELAY_ACTION_UNLISTED, 0); /* an exact key is no suffix */
    /* no recipient domain starts with a dot or ends in one */
    RCPT_IS(cfg, ".example.com", RELAY_ACTION_UNLISTED, 0);
    RCPT_IS(cfg, ".b.example.com", RELAY_ACTION_UNLISTED, 0);
    RCPT_IS(cfg, "a.example.com.", RELAY_ACTION_UNLISTED, 0);
    RCPT_IS(cfg, "", RELAY_ACTION_UNLISTED, 0);
    KEY_IS(cfg, "example.com", "example.com");
    KEY_IS(cfg, "A.Example.com", ".example.com");
    KEY_IS(cfg, "a.b.example.com", ".b.example.com");
    KEY_IS(cfg, "exact.b.EXAMPLE.com", "exact.b.example.com");
    KEY_IS(cfg, "x.sub.example.net", ".example.net");
    KEY_IS(cfg, "example.net", NULL);
    KEY_IS(cfg, ".example.com", NULL);
    /* one note per subdomain key, naming what it covers; nothing else */
    CHECK_EQ(diag_count(cfg, "dest-suffix-key", RELAY_INFO), 5);
    CHECK_EQ(diag_count(cfg, "dest-suffix-key", RELAY_ERROR) + diag_count(cfg, "dest-suffix-key", RELAY_WARNING), 0);
    CHECK_EQ(diag_line(cfg, "dest-bad-domain"), -1);
    CHECK_EQ(diag_line(cfg, "dest-suffix-key"), 3);
    CHECK(strstr(diag_at(cfg, "dest-suffix-key", 3),
                 "'.example.com' matches every subdomain of example.com (a.example.com, "
                 "a.b.example.com, \xe2\x80\xa6), not example.com itself; "
                 "haraka-plugin-relay 1.0.2 never matched this key") != NULL);
    CHECK(strstr(diag_at(cfg, "dest-suffix-key", 6), "'.EXAMPLE.NET' matches every subdomain of example.net") != NULL);
    CHECK(strstr(diag_at(cfg, "dest-suffix-key", 8), "of org (a.org, a.b.org") != NULL);
    CHECK_EQ(diag_line(cfg, "dest-domains-off"), -1);
    relay_config_free(cfg);

    /* a file without subdomain keys: an exact key covers its name only */
    cfg = load3(NULL, NULL, "[domains]\nexample.com = {\"action\":\"accept\"}\n");
    RCPT_IS(cfg, "example.com", RELAY_ACTION_ACCEPT, 2);
    RCPT_IS(cfg, "a.example.com", RELAY_ACTION_UNLISTED, 0);
    CHECK_EQ(diag_line(cfg, "dest-suffix-key"), -1);
    relay_config_free(cfg);

    /* routing: the entry that decides the recipient routes it; `any` only
     * the domains no key covers */
    const char *hop;
    int any;
    uint32_t line;
    cfg = load3("[relay]\nforce_routing=true\ndest_domains=true\n", NULL,
        "[domains]\n"
        "any = {\"nexthop\":\"smarthost.example:25\"}\n"                              /* 2 */
        ".example.com = {\"action\":\"accept\",\"nexthop\":\"suffix.example:25\"}\n" /* 3 */
        ".b.example.com = {\"action\":\"accept\"}\n"                                  /* 4 */
        "c.b.example.com = {\"action\":\"accept\",\"nexthop\":\"exact.example:25\"}\n"/* 5 */
        ".bad.example = {\"action\":\"accept\",\"nexthop\":\"host:99999\"}\n"         /* 6 */
        ".lmtp.example = {\"action\":\"accept\",\"nexthop\":[\"lmtp://[::1]:24\"]}\n");/* 7 */
    CHECK_EQ(relay_route(cfg, "a.example.com", 13, &hop, &line, &any), RELAY_ROUTE_NEXTHOP);
    CHECK(hop && strcmp(hop, "\"suffix.example:25\"") == 0);
    CHECK_EQ(line, 3);
    CHECK_EQ(any, 0);
    CHECK_EQ(relay_route(cfg, "x.B.example.com", 15, &hop, &line, &any), RELAY_ROUTE_MX);
    CHECK_EQ(any, 0);
    CHECK_EQ(relay_route(cfg, "c.b.example.com", 15, &hop, &line, &any), RELAY_ROUTE_NEXTHOP);
    CHECK(hop && strcmp(hop, "\"exact.example:25\"") == 0);
    CHECK_EQ(line, 5);
    CHECK_EQ(relay_route(cfg, "d.c.b.example.com", 17, &hop, &line, &any), RELAY_ROUTE_MX);
    CHECK_EQ(relay_route(cfg, "example.com", 11, &hop, &line, &any), RELAY_ROUTE_NEXTHOP);
    CHECK(hop && strcmp(hop, "\"smarthost.example:25\"") == 0);
    CHECK_EQ(line, 2);
    CHECK_EQ(any, 1);
    CHECK_EQ(relay_route(cfg, "other.org", 9, &hop, &line, &any), RELAY_ROUTE_NEXTHOP);
    CHECK_EQ(any, 1);
    CHECK_EQ(relay_route(cfg, "a.bad.example", 13, &hop, &line, &any), RELAY_ROUTE_INVALID);
    CHECK_EQ(line, 6);
    CHECK_EQ(any, 0);
    CHECK(hop && strstr(hop, "port out of range") != NULL);
    RCPT_IS(cfg, "a.bad.example", RELAY_ACTION_ACCEPT, 6); /* the action stands */
    CHECK_EQ(relay_route(cfg, "bad.example", 11, &hop, &line, &any), RELAY_ROUTE_NEXTHOP);
    CHECK_EQ(any, 1);
    CHECK_EQ(relay_route(cfg, "m.lmtp.example", 14, &hop, &line, &any), RELAY_ROUTE_NEXTHOP);
    CHECK(hop && strcmp(hop, "[\"lmtp://[::1]:24\"]") == 0);
    CHECK_EQ(line, 7);
    relay_config_free(cfg);

    /* keys that are no subdomain key: an error at the line, out of the
     * table, never wider; a dot and something that is no domain name is
     * warned about as an exact key of that kind is */
    cfg = load3("[relay]\ndest_domains=true\n", NULL,
        "[domains]\n"
        ". = {\"action\":\"accept\"}\n"                 /* 2 */
        "..example.com = {\"action\":\"accept\"}\n"     /* 3 */
        "... = {\"action\":\"accept\"}\n"               /* 4 */
        ".. = {\"action\":\"deny\"}\n"                  /* 5 */
        ".example.com. = {\"action\":\"accept\"}\n"     /* 6 */
        ".a..b = {\"action\":\"accept\"}\n"             /* 7 */
        ".x[] = {\"action\":\"accept\"}\n"              /* 8 */
        "ok.example = {\"action\":\"accept\"}\n");      /* 9 */
    CHECK_EQ(diag_count(cfg, "dest-bad-suffix-key", RELAY_ERROR), 4);
    for (uint32_t l = 2; l <= 5; l++)
        CHECK(strstr(diag_at(cfg, "dest-bad-suffix-key", l), "is no subdomain key") != NULL);
    CHECK(strstr(diag_at(cfg, "dest-bad-domain", 6), "ends in '.'") != NULL);
    CHECK(strstr(diag_at(cfg, "dest-bad-domain", 7), "not a dot followed by a domain name") != NULL);
    CHECK(*diag_at(cfg, "ini-array-key", 8));
    CHECK_EQ(diag_count(cfg, "dest-suffix-key", RELAY_INFO), 1); /* .x (refused, see below) */
    /* (.example.com. and .a..b match only names with a trailing dot or an
     * empty label, as the exact keys example.com. and a..b do: Haraka
     * answers such a recipient 501 before any plugin sees it) */
    static const char *const nothing[] = {"example.com", "a.example.com", "x..example.com", "a.b",
                                          "ok", "x.ok", "anything", "a.b.example.com", "example"};
    for (size_t i = 0; i < sizeof nothing / sizeof *nothing; i++)
        RCPT_IS(cfg, nothing[i], RELAY_ACTION_UNLISTED, 0);
    RCPT_IS(cfg, "ok.example", RELAY_ACTION_ACCEPT, 9);
    RCPT_IS(cfg, "a.x", RELAY_ACTION_INVALID, 8); /* `.x[]`: a list in Haraka, refused */
    relay_config_free(cfg);

    /* parents are looked up only at the lengths (in labels) some subdomain
     * key has: keys of 1, 2 and 4 labels, and of 70 (past the 63 counted
     * one by one) */
    {
        char big[200], name[220], q[240];
        size_t n = 0;
        for (int i = 0; i < 70; i++)
            n += (size_t)sprintf(big + n, "%s%c", i ? "." : "", 'a' + i % 26);
        sprintf(name, "x.%s", big);
        char text[600];
        sprintf(text, "[domains]\n.tld = {\"action\":\"deny\"}\n.two.tld = {\"action\":\"accept\"}\n"
                      ".a.b.two.tld = {\"action\":\"continue\"}\n.%s = {\"action\":\"accept\"}\n", big);
        cfg = load3(NULL, NULL, text);
        RCPT_IS(cfg, "q.a.b.two.tld", RELAY_ACTION_CONTINUE, 4);
        RCPT_IS(cfg, "q.b.two.tld", RELAY_ACTION_ACCEPT, 3);
        RCPT_IS(cfg, "b.two.tld", RELAY_ACTION_ACCEPT, 3);
        RCPT_IS(cfg, "q.r.s.t.other.tld", RELAY_ACTION_DENY, 2);
        RCPT_IS(cfg, "two.tld", RELAY_ACTION_DENY, 2);
        RCPT_IS(cfg, name, RELAY_ACTION_ACCEPT, 5);
        sprintf(q, "y.%s", name);
        RCPT_IS(cfg, q, RELAY_ACTION_ACCEPT, 5);
        RCPT_IS(cfg, big, RELAY_ACTION_UNLISTED, 0);
        RCPT_IS(cfg, big + 2, RELAY_ACTION_UNLISTED, 0); /* 69 labels: no key */
        CHECK_EQ(diag_line(cfg, "dest-bad-domain"), -1);
        relay_config_free(cfg);
    }

    /* the same subdomain key twice, in another case: the narrower holds */
    cfg = load3(NULL, NULL,
        "[domains]\n.dup.example = {\"action\":\"accept\"}\n.DUP.example = {\"action\":\"deny\"}\n");
    CHECK_EQ(diag_line(cfg, "dest-conflicting-key"), 3);
    RCPT_IS(cfg, "a.dup.example", RELAY_ACTION_DENY, 3);
    relay_config_free(cfg);

    /* many subdomain keys: the first 100 told one by one, the rest in one
     * note, so that their notes never fill the list (nor make a
     * too-many-diagnostics warning); small and big (index built at once)
     * files, with and without a repeated key (read again entry by entry) */
    static const unsigned sizes[] = {250, 40000};
    for (size_t k = 0; k < 2; k++) {
        for (int dup = 0; dup < 2; dup++) {
            unsigned n = sizes[k];
            size_t cap = 64 + (size_t)n * 64;
            char *text = malloc(cap);
            size_t len = (size_t)sprintf(text, "[domains]\n");
            for (unsigned i = 0; i < n; i++)
                len += (size_t)sprintf(text + len, ".d%u.example%u.com = {\"action\":\"%s\"}\n", i,
                                       i % 7, i % 3 ? "accept" : "deny");
            if (dup)
                len += (size_t)sprintf(text + len, ".D5.EXAMPLE5.COM = {\"action\":\"deny\"}\n");
            text[len] = '\0';
            cfg = load3(NULL, NULL, text);
            CHECK_EQ(diag_count(cfg, "dest-suffix-key", RELAY_INFO), 101);
            CHECK_EQ(diag_line(cfg, "too-many-diagnostics"), -1);
            char want[160];
            sprintf(want, "%u more keys with a leading dot, from here to line %u", n - 100 + dup, n + 1 + dup);
            if (!strstr(diag_at(cfg, "dest-suffix-key", 102), want)) {
                CHECK(!"summary note");
                fprintf(stderr, "  %s\n", diag_at(cfg, "dest-suffix-key", 102));
            }
            CHECK_EQ(dup ? diag_line(cfg, "dest-conflicting-key") : -1, dup ? (long)n + 2 : -1);
            for (unsigned i = 0; i < n; i += n / 50 + 1) {
                char q[96];
                sprintf(q, "x.y.z.d%u.example%u.com", i, i % 7);
                RCPT_IS(cfg, q, i % 3 && !(dup && i == 5) ? RELAY_ACTION_ACCEPT : RELAY_ACTION_DENY,
                        dup && i == 5 ? n + 2 : i + 2);
                sprintf(q, "d%u.example%u.com", i, i % 7);
                RCPT_IS(cfg, q, RELAY_ACTION_UNLISTED, 0);
                sprintf(q, "x.d%u.example%u.org", i, i % 7);
                RCPT_IS(cfg, q, RELAY_ACTION_UNLISTED, 0);
            }
            RCPT_IS(cfg, "a.d5.example5.com", dup ? RELAY_ACTION_DENY : RELAY_ACTION_ACCEPT, dup ? n + 2 : 7);
            KEY_IS(cfg, "A.D5.example5.com", ".d5.example5.com");
            relay_config_free(cfg);
            free(text);
        }
    }
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
    /* issue 11 section 3: a route that cannot be read leaves the action as written */
    CHECK_EQ(action(cfg, "port.example"), RELAY_ACTION_ACCEPT);
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
    /* issue 11 section 4: a listed domain without a nexthop goes by MX, as
     * in 1.0.2; `any` is for domains without an entry */
    CHECK_EQ(route(cfg, "accept.example", &hop, &any), RELAY_ROUTE_MX);
    CHECK_EQ(any, 0);
    CHECK_EQ(route(cfg, "deny.example", &hop, &any), RELAY_ROUTE_MX);
    CHECK_EQ(route(cfg, "elsewhere.example", &hop, &any), RELAY_ROUTE_NEXTHOP);
    CHECK_EQ(any, 1);
    CHECK(hop && strcmp(hop, "\"smtp://user:pass@smarthost.example:587\"") == 0);
    /* a broken entry never falls back to `any` or MX */
    CHECK_EQ(route(cfg, "port.example", &hop, &any), RELAY_ROUTE_INVALID);
    CHECK(hop && strstr(hop, "port out of range"));
    CHECK_EQ(route(cfg, "json.example", &hop, &any), RELAY_ROUTE_INVALID);
    CHECK(hop && strstr(hop, "cannot be read"));
    relay_config_free(cfg);

    /* issue 11 section 3: one bad element of an array route.  The action
     * decides the recipient as written; the route is deferred whole, and
     * the route and the diagnostic name the element.  With force_routing
     * off the diagnostic is a warning, with it on an error. */
    {
        const char *arr = "[domains]\n"
                          "arr.example = {\"action\":\"accept\",\"nexthop\":[\"127.0.0.1:25\",\"bad host\"]}\n" /* 2 */
                          "ok.example = {\"action\":\"continue\",\"nexthop\":\"127.0.0.1:25\"}\n";
        for (int force = 0; force < 2; force++) {
            cfg = load3(force ? "[relay]\ndest_domains=true\nforce_routing=true\n" : "[relay]\ndest_domains=true\n",
                        NULL, arr);
            CHECK_EQ(action(cfg, "arr.example"), RELAY_ACTION_ACCEPT);
            CHECK_EQ(action(cfg, "ok.example"), RELAY_ACTION_CONTINUE);
            CHECK_EQ(route(cfg, "arr.example", &hop, &any), RELAY_ROUTE_INVALID);
            CHECK(hop && strstr(hop, "element 2 of 2") && strstr(hop, "bad character in host name"));
            CHECK_EQ(route(cfg, "ok.example", &hop, &any), RELAY_ROUTE_NEXTHOP);
            const struct relay_diagnostic *d;
            size_t n = relay_diagnostics(cfg, &d), seen = 0;
            for (size_t i = 0; i < n; i++)
                if (strcmp(d[i].code, "dest-bad-nexthop") == 0) {
                    CHECK_EQ(d[i].line, 2);
                    CHECK_EQ(d[i].severity, force ? RELAY_ERROR : RELAY_WARNING);
                    CHECK(strstr(d[i].message, "element 2 of 2") != NULL);
                    seen++;
                }
            CHECK_EQ(seen, 1);
            relay_config_free(cfg);
        }
        /* the severity follows relay.ini as it is reloaded */
        cfg = load3(NULL, NULL, arr);
        CHECK_EQ(diag_severity(cfg, "dest-bad-nexthop"), RELAY_WARNING);
        relay_config_load(cfg, RELAY_FILE_INI, "[relay]\nforce_routing=on\n", strlen("[relay]\nforce_routing=on\n"));
        CHECK_EQ(diag_severity(cfg, "dest-bad-nexthop"), RELAY_ERROR);
        relay_config_free(cfg);
    }

    /* issue 11 section 4: `any` only for domains without an entry; an entry
     * with a route that cannot be read still defers, never goes to `any` */
    cfg = load3("[relay]\nforce_routing=true\n", NULL,
        "[domains]\n"
        "listed.example = {\"action\":\"accept\"}\n"
        "noaction.example = {}\n"
        "bad.example = {\"action\":\"accept\",\"nexthop\":\"x:0\"}\n"
        "any = {\"nexthop\":\"smarthost.example:25\"}\n");
    CHECK_EQ(route(cfg, "listed.example", &hop, &any), RELAY_ROUTE_MX);
    CHECK_EQ(route(cfg, "LISTED.example", &hop, &any), RELAY_ROUTE_MX);
    CHECK_EQ(route(cfg, "noaction.example", &hop, &any), RELAY_ROUTE_MX);
    CHECK_EQ(route(cfg, "bad.example", &hop, &any), RELAY_ROUTE_INVALID);
    CHECK_EQ(route(cfg, "unlisted.example", &hop, &any), RELAY_ROUTE_NEXTHOP);
    CHECK_EQ(any, 1);
    relay_config_free(cfg);

    /* Keys naming one domain with different meanings: the narrowest holds
     * (1.0.2 never matched the upper-case key, haraka-config keeps the later
     * of two equal keys), with an error on the later line. */
    cfg = load3("[relay]\ndest_domains=true\nforce_routing=true\n", NULL,
        "[domains]\n"
        "example.org = {\"action\":\"deny\"}\n"                                  /* 2 */
        "EXAMPLE.ORG = {\"action\":\"accept\"}\n"                                /* 3 */
        "b.example = {\"action\":\"accept\"}\n"                                  /* 4 */
        "B.Example = {\"action\":\"continue\"}\n"                                /* 5 */
        "c.example = {\"action\":\"accept\"}\n"                                  /* 6 */
        "C.EXAMPLE = {\"action\":\"accept\"\n"                                   /* 7: broken */
        "d.example = {\"action\":\"accept\",\"nexthop\":\"192.0.2.1\"}\n"          /* 8 */
        "D.example = {\"action\":\"accept\",\"nexthop\":\"192.0.2.2\"}\n"          /* 9 */
        "e.example = {\"action\":\"continue\"}\n"                                /* 10 */
        "e.example = {\"action\":\"continue\"}\n"                                /* 11 */
        "f.example = {\"action\":\"deny\"}\n"                                    /* 12 */
        "f.example = {\"action\":\"accept\"}\n"                                  /* 13 */
        "g.example = {\"action\":\"deny\"}\n"                                    /* 14 */
        "G.example = {\"action\":\"accept\",\n");                                /* 15: broken */
    uint32_t at = 0;
    CHECK_EQ(relay_rcpt_action(cfg, "example.org", 11, &at), RELAY_ACTION_DENY);
    CHECK_EQ(at, 2);
    CHECK_EQ(action(cfg, "b.example"), RELAY_ACTION_CONTINUE);
    CHECK_EQ(action(cfg, "c.example"), RELAY_ACTION_INVALID);
    CHECK_EQ(action(cfg, "d.example"), RELAY_ACTION_ACCEPT);
    CHECK_EQ(route(cfg, "d.example", &hop, &any), RELAY_ROUTE_INVALID); /* two routes: defer */
    CHECK_EQ(action(cfg, "e.example"), RELAY_ACTION_CONTINUE);
    CHECK_EQ(action(cfg, "f.example"), RELAY_ACTION_DENY);
    /* deny holds; the route line 15 meant is not known, so the mail of
     * a client that relays is deferred, not sent by MX */
    CHECK_EQ(action(cfg, "g.example"), RELAY_ACTION_DENY);
    CHECK_EQ(route(cfg, "g.example", &hop, &any), RELAY_ROUTE_INVALID);
    CHECK_EQ(route(cfg, "c.example", &hop, &any), RELAY_ROUTE_INVALID);
    CHECK_EQ(diag_line(cfg, "dest-conflicting-key"), 3);
    CHECK_EQ(diag_line(cfg, "ini-duplicate-key"), 11); /* same meaning: a warning */
    {
        const struct relay_diagnostic *d;
        size_t n = relay_diagnostics(cfg, &d), conflicts = 0;
        for (size_t i = 0; i < n; i++)
            if (strcmp(d[i].code, "dest-conflicting-key") == 0) {
                CHECK_EQ(d[i].severity, RELAY_ERROR);
                conflicts++;
            }
        CHECK_EQ(conflicts, 6); /* lines 3, 5, 7, 9, 13, 15 */
    }
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

    /* URL routes: the host outbound (WHATWG URL) would use is the one a
     * reader sees, or the route is refused and the message names it */
    const char *good_urls[] = {"smtp://mx.example/", "smtp://mx.example:25/", "smtp://u:p%40x@mx.example",
                               "lmtp://u-1.x_y~!$&'()*+,:p@mx.example:24", "smtp://u@[::1]:25"};
    for (size_t i = 0; i < sizeof good_urls / sizeof good_urls[0]; i++) {
        const char *why = nexthop_check(good_urls[i]);
        CHECK(why == NULL);
        if (why)
            fprintf(stderr, "  refused: '%s': %s\n", good_urls[i], why);
    }
    struct {
        const char *hop, *host;
    } bad_urls[] = {
        {"smtp://good.example/@evil.example", "outbound would use good.example;"},
        {"smtp://good.example#@evil.example", "outbound would use good.example;"},
        {"smtp://good.example?@evil.example", "outbound would use good.example;"},
        {"lmtp://good.example:24/@evil.example:25", "outbound would use good.example;"},
        {"smtp://u@good.example/x@evil.example", "outbound would use good.example;"},
        {"smtp://[::1]:25/@evil.example", "outbound would use [::1];"},
        {"smtp://good.example\\@evil.example", "outbound would use evil.example as the host"},
        {"smtp://us er@good.example", "outbound would use good.example as the host"},
        {"smtp://u:p\x01w@good.example", "outbound would use good.example as the host"},
        {"smtp://\xc3\xbcser@good.example:25", "outbound would use good.example as the host"},
        {"smtp://a@b@good.example", "outbound would use good.example as the host"},
        {"smtp://u;x@good.example", "outbound would use good.example as the host"},
        {"smtp://u:p:w@good.example", "outbound would use good.example as the host"},
    };
    for (size_t i = 0; i < sizeof bad_urls / sizeof bad_urls[0]; i++) {
        const char *why = nexthop_check(bad_urls[i].hop);
        CHECK(why && strstr(why, bad_urls[i].host));
        if (!why || !strstr(why, bad_urls[i].host))
            fprintf(stderr, "  '%s': %s\n", bad_urls[i].hop, why ? why : "accepted");
    }

    /* issue 10: anything a URL does not take as written (control
     * characters, blanks, raw non-ASCII) in the user name, password, host
     * or port of a route is refused, in every form of route */
    {
        const char *hostile[] = {
            "smtp://a\n::error title=injected::PWNED\n@relay.example.net:25",
            "smtp://a\x1b[31m:x@relay.example.net:25", "smtp://a:b\x1b]0;t\x07@relay.example.net",
            "smtp://a:b c@relay.example.net", "smtp://a\r:b@relay.example.net", "smtp://a:b\t@relay.example.net",
            "smtp://a:\xc2\x9b" "31m@relay.example.net", "smtp://a\xe2\x80\xae:b@relay.example.net",
            "smtp://a:b@relay\x1b.example.net", "smtp://a:b@relay.example.net\n", "smtp://a:b@rel ay.example.net",
            "smtp://a:b@r\xc3\xa9lay.example.net", "smtp://a:b@relay.example.net:2\x1b" "5", "smtp://a:b@relay.example.net:25\xe2\x80\xa8",
            "lmtp://a:b@[::1\n]:24", "lmtp://a\x7f:b@[::1]:24", "relay.example.net:25\n::error::x",
            "relay.example.net\xc2\x85", "[::1]:25\x1b", "##[add-mask]relay.example.net",
        };
        for (size_t i = 0; i < sizeof hostile / sizeof hostile[0]; i++) {
            const char *why = nexthop_check(hostile[i]);
            CHECK(why != NULL);
            if (!why)
                fprintf(stderr, "  accepted: hostile route %zu\n", i);
        }
        /* the host a message names is shown without what the file held
         * around it: no control, bidi or non-ASCII byte, no blank ('#'
         * and '?' end the host) */
        const char *why = nexthop_check("smtp://relay\xc2\x9b\xe2\x80\xae[x] \x1b.example.net/x");
        CHECK(why && strstr(why, "outbound would use relay?????[x]??.example.net;"));
        why = nexthop_check("smtp://u\x01:p@re lay[x]\xc2\x85.example.net");
        CHECK(why && strstr(why, "outbound would use re?lay[x]??.example.net as the host"));
    }

    /* a key that ends in '.': Haraka refuses such a recipient (501) */
    cfg = load3(NULL, NULL, "[domains]\ngood.example. = {\"action\":\"accept\"}\nok.example = {\"action\":\"accept\"}\n");
    CHECK_EQ(diag_line(cfg, "dest-bad-domain"), 2);
    CHECK_EQ(action(cfg, "good.example"), RELAY_ACTION_UNLISTED);
    relay_config_free(cfg);

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

    check_deep_json();
    check_suffix_keys();

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
