/*
 * test_fast.c - the fast paths of a big load (issue 12) read every file
 * exactly as the general way does.
 *
 * The reader hands the common `key = value` line to the caller without
 * inih (ini_text.c), the common relay_dest_domains.ini entry is read
 * without cJSON and kept in the text, and a big file's index is built at
 * once (domains.c).  Each text below, of small and big files, of common
 * lines mixed with every kind of line that must go the general way, is
 * loaded with relay_fast_paths on and off: the errors counted, every
 * diagnostic (in order, with its message), the settings and what the
 * domains answer for every key written (and for other names) must be the
 * same.
 */
#include "core.h"
#include "check.h"

#include <stdio.h>
#include <stdlib.h>

static unsigned long long rng_state = 0x9e3779b97f4a7c15ULL;
static unsigned rnd(unsigned n)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (unsigned)(rng_state >> 11) % n;
}

struct text {
    char *s;
    size_t len, cap;
};

static void put(struct text *t, const char *s)
{
    size_t n = strlen(s);
    if (t->len + n + 1 > t->cap) {
        t->cap = (t->len + n + 1) * 2;
        t->s = realloc(t->s, t->cap);
    }
    memcpy(t->s + t->len, s, n + 1);
    t->len += n;
}

/* names: a few hundred, so that keys repeat in big files only when asked */
static void name(char *out, size_t size, unsigned i)
{
    snprintf(out, size, "d%u.example%u.com", i, i % 7);
}

static const char *const line_ends[] = {"\n", "\r\n", "\r"};

/* One line of relay_dest_domains.ini; most are common entries. */
static void domain_line(struct text *t, unsigned i, int dup_names, const char *eol)
{
    static const char *const actions[] = {"accept", "continue", "deny", "reject", "ACCEPT"};
    static const char *const hops[] = {"mx.example.net:25", "192.0.2.25:2525", "smtp://relay.example:587",
                                       "[2001:db8::1]:25", "host:99999", "bad host", "lmtp://u:p@h.example",
                                       "smtp://good.example/@evil.example", ""};
    static const char *const odd[] = {
        "any = {\"nexthop\": \"smarthost.example:25\"}",
        "Upper.Example.COM = {\"action\":\"accept\"}",
        "d1.example1.com = {\"action\":\"deny\"}",
        "ends.in.digit1 = {\"action\":\"accept\"}",
        "192.0.2.7 = {\"action\":\"accept\"}",
        "dot.example. = {\"action\":\"accept\"}",
        "nodot = {\"action\":\"accept\"}",
        "a..b.example = {\"action\":\"accept\"}",
        "arr.example[] = {\"action\":\"accept\"}",
        "colon:key.example = {\"action\":\"accept\"}",
        "esc.example = {\"action\":\"acc\\u0065pt\"}",
        "nul.example = {\"action\":\"accept\\u0000x\"}",
        "tab.example = {\"action\":\t\"accept\"}",
        "tabin.example = {\"action\":\"acc\tept\"}",
        "num.example = {\"action\":01}",
        "empty.example = {}",
        "novalue.example",
        "novalue2.example =",
        "unknown.example = {\"action\":\"accept\",\"x\":1}",
        "twice.example = {\"action\":\"accept\",\"action\":\"deny\"}",
        "hoparr.example = {\"nexthop\":[\"a.example:25\",\"b.example\"]}",
        "hopbad.example = {\"nexthop\":[\"a.example:25\",7]}",
        "notobj.example = [\"accept\"]",
        "deep.example = {\"action\":\"accept\",\"x\":[[[[1]]]]}",
        "trail.example = {\"action\":\"accept\"} x",
        "sp.example={\"action\" : \"continue\" ,  \"nexthop\" : \"mx.example:25\" }",
        "  lead.example = {\"action\":\"accept\"}   ",
        "\tleadtab.example\t=\t{\"action\":\"accept\"}\t",
        "nbsp.example\xc2\xa0= {\"action\":\"accept\"}",
        "utf.example = {\"action\":\"accept\",\"nexthop\":\"h\xc3\xa9.example\"}",
        "ctl.example = {\"action\":\"accept\"}\x01",
        "del.example = {\"action\":\"accept\x7f\"}",
        "bom\xef\xbb\xbf.example = {\"action\":\"accept\"}",
        "cont.example = {\"action\": \\",
        "\"accept\"}",
        "cont2.example = {\"action\": \\  ",
        "# comment = {\"action\":\"accept\"}",
        "; comment",
        "   ",
        "[other]",
        "[domains]",
        "[ domains ]",
        "[domains] junk",
        "[x]\x01",
        "[]",
        "__proto__ = {\"action\":\"accept\"}",
        "constructor[] = {\"action\":\"accept\"}",
        "c.example = {\"action\":\"accept\",\"nexthop\":\"mx.example:25\"}",
        "c.example = {\"nexthop\":\"mx.example:25\",\"action\":\"accept\"}",
        "c.example = {\"action\":\"continue\",\"nexthop\":\"other.example:25\"}",
        "C.EXAMPLE = {\"action\":\"accept\"}",
        "x.example = {\"action\":\"accept\"}\\",
        "long.example = {\"action\":\"accept\",\"nexthop\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.example:25\"}",
        "lab.aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.example = {\"action\":\"accept\"}",
        /* subdomain keys (issue 14): never the short path's entry */
        ".example0.com = {\"action\":\"accept\"}",
        ".example1.com = {\"action\":\"continue\",\"nexthop\":\"mx.example.net:25\"}",
        ".D2.Example2.COM = {\"action\":\"deny\"}",
        ".example3.com = {\"action\":\"deny\"}",
        ". = {\"action\":\"accept\"}",
        "..example4.com = {\"action\":\"accept\"}",
        ".example5.com. = {\"action\":\"accept\"}",
        ".com = {\"nexthop\":\"smarthost.example:25\"}",
    };
    char key[64], buf[512];
    unsigned r = rnd(100);
    if (r < 8) {
        put(t, odd[rnd(sizeof odd / sizeof *odd)]);
        put(t, eol);
        return;
    }
    name(key, sizeof key, dup_names ? rnd(400) : i);
    const char *a = actions[rnd(r < 12 ? 5 : 3)];
    if (r < 30) {
        const char *h = hops[rnd(r < 15 ? 9 : 4)];
        if (rnd(2))
            snprintf(buf, sizeof buf, "%s = { \"action\": \"%s\", \"nexthop\": \"%s\" }", key, a, h);
        else
            snprintf(buf, sizeof buf, "%s={\"nexthop\":\"%s\",\"action\":\"%s\"}", key, h, a);
    } else if (r < 33) {
        snprintf(buf, sizeof buf, "%s = { \"nexthop\": \"%s\" }", key, hops[rnd(4)]);
    } else {
        snprintf(buf, sizeof buf, "%s = { \"action\": \"%s\" }", key, a);
    }
    put(t, buf);
    put(t, eol);
}

static void ini_line(struct text *t, const char *eol)
{
    static const char *const lines[] = {
        "acl = false", "acl=true", "dest_domains = yes", "dest_domains=off", "all = on",
        "all=maybe", "force_routing = 1", "force_routing=\t0", "unknown = 1", "acl[] = true",
        "acl", "[relay]", "[other]", "[relay] x", "# acl = true", "acl = true\\", "acl\xc2\xa0= false",
        "acl = tr\x01ue", "__proto__ = 1", "x:y = 2", "  dest_domains  =  true  ",
    };
    put(t, lines[rnd(sizeof lines / sizeof *lines)]);
    put(t, eol);
}

static char *dup_text(const struct text *t)
{
    char *s = malloc(t->len + 1);
    memcpy(s, t->s, t->len + 1);
    return s;
}

/* The diagnostics of cfg as one string, in order. */
static char *report(struct relay_config *cfg)
{
    const struct relay_diagnostic *d;
    size_t n = relay_diagnostics(cfg, &d);
    struct text t = {0};
    put(&t, "");
    char head[96];
    for (size_t i = 0; i < n; i++) {
        snprintf(head, sizeof head, "%d:%u:%u:%d:", (int)d[i].file, (unsigned)d[i].line,
                 (unsigned)d[i].column, (int)d[i].severity);
        put(&t, head);
        put(&t, d[i].code);
        put(&t, " ");
        put(&t, d[i].message);
        put(&t, "\n");
    }
    return t.s;
}

/* What the domains answer for a name, as one string. */
static void answer(struct relay_config *cfg, const char *domain, char *out, size_t size)
{
    uint32_t line = 0, rline = 0;
    const char *hop = NULL;
    int any = 0;
    int a = relay_rcpt_action(cfg, domain, strlen(domain), &line);
    int r = relay_route(cfg, domain, strlen(domain), &hop, &rline, &any);
    snprintf(out, size, "%d %u %d %u %d %s", a, (unsigned)line, r, (unsigned)rline, any,
             hop ? hop : "-");
}

static int compared;

/* Loads text as file with the fast paths on, then off (as taken text and
 * as borrowed text), and compares everything. */
static void compare(enum relay_file file, const struct text *t, const char *what)
{
    struct relay_config *cfg[3];
    int rc[3];
    char *rep[3];
    for (int k = 0; k < 3; k++) {
        relay_fast_paths = k != 1;
        cfg[k] = relay_config_new();
        if (k == 2)
            rc[k] = relay_config_load(cfg[k], file, t->s, t->len);
        else
            rc[k] = relay_config_load_taking(cfg[k], file, dup_text(t), t->len);
        rep[k] = report(cfg[k]);
    }
    relay_fast_paths = 1;
    for (int k = 0; k < 3; k += 2) {
        CHECK_EQ(rc[k], rc[1]);
        CHECK_EQ(relay_settings(cfg[k]), relay_settings(cfg[1]));
        if (strcmp(rep[k], rep[1]) != 0) {
            CHECK(!"diagnostics differ");
            fprintf(stderr, "%s, fast (%s):\n%.3000s\ngeneral:\n%.3000s\n", what,
                    k ? "borrowed" : "taken", rep[k], rep[1]);
        }
    }
    if (file == RELAY_FILE_DOMAINS) {
        /* every key of the text, as written and in upper case, and others */
        char *copy = dup_text(t);
        int failed = 0;
        for (char *line = strtok(copy, "\r\n"); line && !failed; line = strtok(NULL, "\r\n")) {
            char key[300];
            size_t i = 0;
            while (*line == ' ' || *line == '\t')
                line++;
            for (; line[i] && line[i] != ' ' && line[i] != '=' && line[i] != '\t' && i < sizeof key - 1; i++)
                key[i] = line[i];
            key[i] = '\0';
            for (int upper = 0; upper < 2; upper++) {
                if (upper)
                    for (char *c = key; *c; c++)
                        if (*c >= 'a' && *c <= 'z')
                            *c = (char)(*c - 32);
                /* a subdomain key (issue 14): names below it too */
                char sub[2][320];
                const char *names[3] = {key, NULL, NULL};
                if (key[0] == '.') {
                    snprintf(sub[0], sizeof sub[0], "x%s", key);
                    snprintf(sub[1], sizeof sub[1], "a.b%s", key);
                    names[1] = sub[0];
                    names[2] = sub[1];
                }
                for (int q = 0; q < 3 && names[q]; q++) {
                    char want[600], got[600];
                    answer(cfg[1], names[q], want, sizeof want);
                    for (int k = 0; k < 3; k += 2) {
                        answer(cfg[k], names[q], got, sizeof got);
                        if (strcmp(got, want) != 0) {
                            CHECK(!"answers differ");
                            fprintf(stderr, "%s: '%s': fast %s, general %s\n", what, names[q], got, want);
                            failed = 1;
                        }
                    }
                }
            }
        }
        static const char *const others[] = {"any", "none.example", "d0.example0.com", "",
                                             "x.d0.example0.com", "a.b.example1.com", "q.d2.example2.com",
                                             "x.y.d3.example3.com", "a.example4.com", "z.org", "z.com"};
        for (size_t i = 0; i < sizeof others / sizeof *others; i++) {
            char want[600], got[600];
            answer(cfg[1], others[i], want, sizeof want);
            answer(cfg[0], others[i], got, sizeof got);
            CHECK(strcmp(got, want) == 0);
        }
        free(copy);
    }
    for (int k = 0; k < 3; k++) {
        free(rep[k]);
        relay_config_free(cfg[k]);
    }
    compared++;
}

static void domains_case(unsigned lines, int dup_names, int eol_mix, int header, const char *what)
{
    struct text t = {0};
    put(&t, "");
    if (header)
        put(&t, "[domains]\n");
    const char *eol = line_ends[rnd(3)];
    for (unsigned i = 0; i < lines; i++)
        domain_line(&t, i, dup_names, eol_mix ? line_ends[rnd(3)] : eol);
    if (rnd(2)) /* no line end at the end */
        while (t.len && (t.s[t.len - 1] == '\n' || t.s[t.len - 1] == '\r'))
            t.s[--t.len] = '\0';
    compare(RELAY_FILE_DOMAINS, &t, what);
    free(t.s);
}

/* Only common entries, distinct names: the big file of the benchmark;
 * with `suffixes`, every fourth key a subdomain key (issue 14), which the
 * short path leaves to the general way. */
static void plain_case(unsigned lines, const char *dup_at_end, int suffixes)
{
    struct text t = {0};
    put(&t, "[domains]\n");
    char buf[128], key[64];
    for (unsigned i = 0; i < lines; i++) {
        key[0] = '.';
        name(key + (suffixes && i % 4 == 1), sizeof key - 1, i);
        if (i % 5 == 0)
            snprintf(buf, sizeof buf, "%s = { \"action\": \"accept\", \"nexthop\": \"mx%u.example.net:25\" }\n",
                     key, i % 13);
        else
            snprintf(buf, sizeof buf, "%s = { \"action\": \"%s\" }\n", key, i % 3 ? "deny" : "continue");
        put(&t, buf);
    }
    if (dup_at_end)
        put(&t, dup_at_end);
    compare(RELAY_FILE_DOMAINS, &t, dup_at_end ? "big plain file with a repeated key"
                                    : suffixes ? "big plain file with subdomain keys" : "big plain file");
    free(t.s);
}

int main(void)
{
    for (int i = 0; i < 150; i++)
        domains_case(1 + rnd(60), rnd(2), rnd(3) == 0, rnd(4) != 0, "small relay_dest_domains.ini");
    /* big: the index built at once (DEFERRED_MIN_LINES), and its fall back */
    domains_case(40000, 0, 0, 1, "big relay_dest_domains.ini, few repeated keys");
    domains_case(40000, 1, 0, 1, "big relay_dest_domains.ini, keys repeated");
    domains_case(40000, 0, 1, 1, "big relay_dest_domains.ini, mixed line ends");
    plain_case(50000, NULL, 0);
    plain_case(50000, "d7.example0.com = { \"action\": \"deny\" }\n", 0);
    plain_case(50000, "D7.EXAMPLE0.COM = { \"action\": \"accept\" }\n", 0);
    plain_case(50000, NULL, 1);
    plain_case(50000, ".D9.EXAMPLE2.COM = { \"action\": \"accept\" }\n", 1);
    for (int i = 0; i < 80; i++) {
        struct text t = {0};
        put(&t, "");
        unsigned n = 1 + rnd(30);
        const char *eol = line_ends[rnd(3)];
        for (unsigned k = 0; k < n; k++)
            ini_line(&t, eol);
        compare(RELAY_FILE_INI, &t, "relay.ini");
        free(t.s);
    }
    {
        struct text t = {0};
        put(&t, "[relay]\n");
        for (unsigned k = 0; k < 30000; k++)
            ini_line(&t, "\n");
        compare(RELAY_FILE_INI, &t, "big relay.ini");
        free(t.s);
    }
    CHECK(compared > 200);
    return check_result();
}
