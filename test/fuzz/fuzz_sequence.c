/*
 * fuzz_sequence.c - the whole load-then-decide sequence, through the same
 * entry points the JS loader calls (src/exports.c): the three files loaded
 * in turn, the diagnostics written as JSON, then clients and recipients
 * decided, then reloads.
 *
 * Input: relay.ini, relay_acl_allow, relay_dest_domains.ini and questions,
 * separated by lines holding only %% (missing parts are empty files).  A
 * question line is asked as a client address and, after its last @, as a
 * recipient domain.  Clients at the edges of the first blocks of the ACL
 * are asked too.
 *
 * Properties: no crash; the report is a JSON array with one well-formed
 * object per diagnostic; answers through the boundary equal the C API's;
 * every client's ACL answer equals the reference model's (fuzz_common.h,
 * every block of the list, every size), for questions and for clients at
 * the edges of every block; no switch is on that Haraka's reading of
 * relay.ini leaves off (exactly Haraka's for a plain text); no domain is
 * granted (accept or continue) that no key of Haraka's reading of
 * relay_dest_domains.ini grants (exactly the reference's for a plain
 * text); so the decision "may relay" is never true unless the reference
 * explains it (all=true, a listed client with acl on, a granted domain
 * with dest_domains on); a reload of the same text answers the same; an
 * emptied ACL lets no client relay by address.
 */
#include "fuzz_common.h"

#include "cJSON.h"

/* src/exports.c */
char *relay_input(uint32_t size);
const char *relay_output(void);
struct relay_config *relay_new(void);
void relay_free(struct relay_config *cfg);
int relay_load(struct relay_config *cfg, int file, uint32_t len);
unsigned relay_settings_bits(struct relay_config *cfg);
int relay_acl(struct relay_config *cfg, uint32_t len);
uint32_t relay_rcpt(struct relay_config *cfg, uint32_t len);
uint32_t relay_route_for(struct relay_config *cfg, uint32_t len);
uint32_t relay_report(struct relay_config *cfg);

#define MAX_QUESTIONS 24

struct part {
    const uint8_t *p;
    size_t n;
};

static int load(struct relay_config *cfg, int file, struct part t)
{
    char *in = relay_input((uint32_t)t.n);
    CHECK_OR_DIE(in != NULL, "no input buffer");
    if (t.n)
        memcpy(in, t.p, t.n);
    int rc = relay_load(cfg, file, (uint32_t)t.n);
    CHECK_OR_DIE(rc >= 0, "load of file %d failed: %d", file, rc);
    return rc;
}

static int ask_acl(struct relay_config *cfg, const char *s, size_t n)
{
    char *in = relay_input((uint32_t)n);
    if (n)
        memcpy(in, s, n);
    int got = relay_acl(cfg, (uint32_t)n);
    uint32_t line = 0;
    int direct = relay_acl_match(cfg, s, n, &line);
    CHECK_OR_DIE(got == (direct == 1 ? (int)line : direct), "boundary %d, API %d", got, direct);
    return got;
}

static enum relay_action ask_rcpt(struct relay_config *cfg, const char *s, size_t n)
{
    char *in = relay_input((uint32_t)n);
    if (n)
        memcpy(in, s, n);
    uint32_t v = relay_rcpt(cfg, (uint32_t)n), line;
    enum relay_action a = relay_rcpt_action(cfg, s, n, &line);
    CHECK_OR_DIE(v == (line << 3 | (uint32_t)a), "rcpt: boundary %u, API %d line %u", v, (int)a,
                 (unsigned)line);
    in = relay_input((uint32_t)n);
    if (n)
        memcpy(in, s, n);
    uint32_t r = relay_route_for(cfg, (uint32_t)n);
    if ((r & 3) == RELAY_ROUTE_NEXTHOP) {
        cJSON *j = cJSON_Parse(relay_output());
        CHECK_OR_DIE(j && (cJSON_IsString(j) || cJSON_IsArray(j)), "route output %s", relay_output());
        cJSON_Delete(j);
    }
    return a;
}

static void check_report(struct relay_config *cfg)
{
    const struct relay_diagnostic *d;
    size_t n = relay_diagnostics(cfg, &d);
    uint32_t len = relay_report(cfg);
    CHECK_OR_DIE(len > 0, "relay_report failed");
    const char *out = relay_output();
    CHECK_OR_DIE(strlen(out) == len, "report length %u, text %zu", len, strlen(out));
    cJSON *j = cJSON_Parse(out);
    CHECK_OR_DIE(cJSON_IsArray(j), "report is not a JSON array");
    CHECK_OR_DIE((size_t)cJSON_GetArraySize(j) == n, "report has %d items, API %zu",
                 cJSON_GetArraySize(j), n);
    static const char *const keys[] = {"line", "column", "file", "severity", "code", "message"};
    for (cJSON *it = j->child; it; it = it->next)
        for (size_t k = 0; k < 6; k++) {
            cJSON *v = cJSON_GetObjectItemCaseSensitive(it, keys[k]);
            CHECK_OR_DIE(k < 2 ? cJSON_IsNumber(v) : cJSON_IsString(v), "report item lacks %s",
                         keys[k]);
        }
    cJSON_Delete(j);
}

/* ---- the reference of relay_dest_domains.ini -------------------------
 * Wide: a domain may be granted only when a parameter line of Haraka's
 * walk (fuzz_common.h) in [domains] names it (its key in any ASCII case,
 * or a subdomain key `.name` that ends it)
 * with a value whose JSON, read by cJSON (more lenient than JSON.parse),
 * is an object with an "action" member "accept" or "continue".
 * Exact, for a plain text: printable ASCII without '\', lines that are
 * blank, comments, `[domains]`, or after it `key = {"action":"X"}` (blanks
 * allowed around the tokens) with a key of letters, digits, '.' and '-' and
 * X accept, continue or deny (a key that starts with a letter or a digit:
 * a leading '.' makes a subdomain key, issue 14, which only the wide check
 * reads).  Keys naming one domain resolve to the
 * narrowest (README difference 11): deny, continue, accept; the line of the
 * first among the same meaning, else of the narrower. */
struct ref_key {
    const char *key;
    size_t len;
    enum relay_action action;
    uint32_t line;
};

struct ref_domains {
    const uint8_t *text;
    size_t len;
    int plain;
    struct ref_key *keys; /* plain: one per domain, merged */
    size_t count, cap;
};

static int lower_eq(const char *a, size_t an, const char *b, size_t bn)
{
    if (an != bn)
        return 0;
    for (size_t i = 0; i < an; i++) {
        char x = a[i] >= 'A' && a[i] <= 'Z' ? (char)(a[i] + 32) : a[i];
        char y = b[i] >= 'A' && b[i] <= 'Z' ? (char)(b[i] + 32) : b[i];
        if (x != y)
            return 0;
    }
    return 1;
}

static int narrow_rank(enum relay_action a)
{
    return a == RELAY_ACTION_DENY ? 0 : a == RELAY_ACTION_CONTINUE ? 1 : 2;
}

static size_t skip_sp(const char *s, size_t i, size_t n)
{
    while (i < n && (s[i] == ' ' || s[i] == '\t'))
        i++;
    return i;
}

/* `{"action":"X"}` with blanks around the tokens: X's action, or -1. */
static int plain_value(const char *s, size_t n)
{
    static const char *const parts[] = {"{", "\"action\"", ":", "\""};
    size_t i = 0;
    for (size_t p = 0; p < 4; p++) {
        i = skip_sp(s, i, n);
        size_t l = strlen(parts[p]);
        if (n - i < l || memcmp(s + i, parts[p], l) != 0)
            return -1;
        i += l;
    }
    static const char *const words[] = {"accept", "continue", "deny"};
    for (int w = 0; w < 3; w++) {
        size_t l = strlen(words[w]);
        if (n - i >= l + 1 && memcmp(s + i, words[w], l) == 0 && s[i + l] == '"') {
            size_t j = skip_sp(s, i + l + 1, n);
            if (j + 1 == n && s[j] == '}')
                return RELAY_ACTION_ACCEPT + w;
        }
    }
    return -1;
}

static void ref_domains_read(struct ref_domains *r, const uint8_t *text, size_t len)
{
    if (!text) /* a missing part */
        text = (const uint8_t *)"", len = 0;
    memset(r, 0, sizeof *r);
    r->text = text;
    r->len = len;
    r->plain = 1;
    int in_domains = 0;
    size_t at = 0;
    uint32_t line = 0;
    const char *s;
    size_t n;
    while (r->plain && ref_next_piece(text, len, &at, &s, &n)) {
        line++;
        for (size_t k = 0; k < n; k++)
            if ((s[k] < 0x20 && s[k] != '\t') || (unsigned char)s[k] > 0x7e || s[k] == '\\')
                r->plain = 0;
        size_t a = skip_sp(s, 0, n);
        while (n > a && (s[n - 1] == ' ' || s[n - 1] == '\t'))
            n--;
        if (!r->plain || a == n || s[a] == '#' || s[a] == ';')
            continue;
        if (n - a == 9 && memcmp(s + a, "[domains]", 9) == 0) {
            in_domains = 1;
            continue;
        }
        size_t k = a;
        while (k < n && ((s[k] >= 'a' && s[k] <= 'z') || (s[k] >= 'A' && s[k] <= 'Z') ||
                         (s[k] >= '0' && s[k] <= '9') || (k > a && (s[k] == '.' || s[k] == '-'))))
            k++;
        size_t e = skip_sp(s, k, n);
        int action = (in_domains && k > a && e < n && s[e] == '=')
                         ? plain_value(s + skip_sp(s, e + 1, n), n - skip_sp(s, e + 1, n))
                         : -1;
        if (action < 0) {
            r->plain = 0;
            continue;
        }
        struct ref_key *found = NULL;
        for (size_t q = 0; q < r->count; q++)
            if (lower_eq(r->keys[q].key, r->keys[q].len, s + a, k - a))
                found = &r->keys[q];
        if (!found) {
            r->keys = ref_grow(r->keys, &r->cap, r->count + 1, sizeof *r->keys);
            r->keys[r->count++] = (struct ref_key){s + a, k - a, (enum relay_action)action, line};
        } else if (found->action != (enum relay_action)action &&
                   narrow_rank((enum relay_action)action) < narrow_rank(found->action)) {
            found->action = (enum relay_action)action;
            found->line = line;
        }
    }
}

struct grant_search {
    const char *domain;
    size_t len;
    int granted;
};

static void grant_param(void *user, const struct ref_param *p)
{
    struct grant_search *g = user;
    if (g->granted || !p->value || p->section_len != 7 || memcmp(p->section, "domains", 7) != 0)
        return;
    /* the domain's own key, or a subdomain key (issue 14: `.example.com`
     * is the entry of the names that end in it) */
    int names = lower_eq(p->key, p->key_len, g->domain, g->len) ||
                (p->key_len && p->key[0] == '.' && g->len > p->key_len &&
                 lower_eq(p->key, p->key_len, g->domain + g->len - p->key_len, p->key_len));
    if (!names)
        return;
    cJSON *j = cJSON_ParseWithLength(p->value, p->value_len);
    if (cJSON_IsObject(j))
        for (cJSON *m = j->child; m; m = m->next)
            if (m->string && strcmp(m->string, "action") == 0 && cJSON_IsString(m) &&
                (strcmp(m->valuestring, "accept") == 0 || strcmp(m->valuestring, "continue") == 0))
                g->granted = 1;
    cJSON_Delete(j);
}

/* May the text grant the domain?  Exactly, for a plain text. */
static int ref_grants(const struct ref_domains *r, const char *d, size_t n, enum relay_action *exact,
                      uint32_t *line)
{
    if (r->plain) {
        *exact = RELAY_ACTION_UNLISTED;
        *line = 0;
        for (size_t q = 0; q < r->count; q++)
            if (lower_eq(r->keys[q].key, r->keys[q].len, d, n)) {
                *exact = r->keys[q].action;
                *line = r->keys[q].line;
            }
        return *exact == RELAY_ACTION_ACCEPT || *exact == RELAY_ACTION_CONTINUE;
    }
    struct grant_search g = {d, n, 0};
    ref_ini_walk(r->text, r->len, grant_param, &g);
    return g.granted;
}

struct client {
    char s[64];
    size_t n;
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct part parts[4] = {{data, 0}, {NULL, 0}, {NULL, 0}, {NULL, 0}};
    int np = 0;
    size_t start = 0;
    for (size_t i = 0; i + 4 <= size && np < 3; i++) {
        if (memcmp(data + i, "\n%%\n", 4) == 0) {
            parts[np].p = data + start;
            parts[np].n = i + 1 - start;
            np++;
            start = i + 4;
            i += 3;
        }
    }
    parts[np].p = data + start;
    parts[np].n = size - start;

    struct relay_config *cfg = relay_new();
    if (!cfg)
        return 0;
    for (int f = 0; f < 3; f++)
        load(cfg, f, parts[f]);
    uint32_t lines[RELAY_FILE_COUNT];
    for (int f = 0; f < 3; f++)
        lines[f] = fuzz_line_count(parts[f].p, parts[f].n);
    check_diagnostics(cfg, lines);
    check_report(cfg);

    struct ref_acl acl;
    ref_acl_read(&acl, parts[1].p, parts[1].n);
    struct ref_ini ini;
    ref_ini_read(&ini, parts[0].p, parts[0].n);
    struct ref_domains dom;
    ref_domains_read(&dom, parts[2].p, parts[2].n);

    /* questions: clients and domains; then clients at the edges of every block */
    size_t nc = 0, cap = 0;
    struct client *clients = NULL;
    const char *domains[MAX_QUESTIONS + 1];
    size_t domain_len[MAX_QUESTIONS + 1];
    int nd = 0;
    domains[nd] = "any";
    domain_len[nd++] = 3;
    const uint8_t *q = parts[3].p, *qend = parts[3].p ? parts[3].p + parts[3].n : NULL;
    while (q && q < qend && nd <= MAX_QUESTIONS) {
        const uint8_t *e = memchr(q, '\n', (size_t)(qend - q));
        if (!e)
            e = qend;
        size_t n = (size_t)(e - q);
        if (n < 64) {
            clients = ref_grow(clients, &cap, nc + 1, sizeof *clients);
            memcpy(clients[nc].s, q, n);
            clients[nc++].n = n;
        }
        const uint8_t *at = q;
        for (const uint8_t *c = q; c < e; c++)
            if (*c == '@')
                at = c + 1;
        domains[nd] = (const char *)at;
        domain_len[nd++] = (size_t)(e - at);
        q = e + 1;
    }
    for (size_t k = 0; k < acl.count; k++) {
        char edges[5][64];
        int n = ref_edges(&acl.blocks[k], edges);
        clients = ref_grow(clients, &cap, nc + (size_t)n, sizeof *clients);
        for (int e = 0; e < n; e++, nc++) {
            memcpy(clients[nc].s, edges[e], 64);
            clients[nc].n = strlen(edges[e]);
        }
    }

    /* what the reference lets each domain do */
    int ref_grant[MAX_QUESTIONS + 1];
    for (int k = 0; k < nd; k++) {
        enum relay_action want = RELAY_ACTION_UNLISTED;
        uint32_t want_line = 0;
        ref_grant[k] = ref_grants(&dom, domains[k], domain_len[k], &want, &want_line);
        if (dom.plain) {
            uint32_t line = 0;
            enum relay_action a = relay_rcpt_action(cfg, domains[k], domain_len[k], &line);
            CHECK_OR_DIE(a == want && line == want_line,
                         "domain '%.*s': module action %d line %u, reference action %d line %u",
                         (int)domain_len[k], domains[k], (int)a, (unsigned)line, (int)want,
                         (unsigned)want_line);
        }
    }
    unsigned ref_on = ini.plain ? ini.bits : ini.may_on;

    for (int round = 0; round < 2; round++) {
        unsigned bits = relay_settings_bits(cfg);
        CHECK_OR_DIE(bits == relay_settings(cfg), "settings differ");
        CHECK_OR_DIE(ini.plain ? bits == ini.bits : (bits & ~ini.may_on) == 0,
                     "switches 0x%x, Haraka's reading %s 0x%x", bits,
                     ini.plain ? "gives" : "can turn on only", ini.plain ? ini.bits : ini.may_on);
        int by_domain[MAX_QUESTIONS + 1];
        for (int k = 0; k < nd; k++) {
            enum relay_action a = ask_rcpt(cfg, domains[k], domain_len[k]);
            by_domain[k] = a == RELAY_ACTION_ACCEPT || a == RELAY_ACTION_CONTINUE;
            CHECK_OR_DIE(!by_domain[k] || ref_grant[k],
                         "domain '%.*s' granted (action %d) but no key of the text grants it",
                         (int)domain_len[k], domains[k], (int)a);
        }
        for (size_t c = 0; c < nc; c++) {
            int line = ask_acl(cfg, clients[c].s, clients[c].n);
            long ref = ref_match(&acl, clients[c].s, clients[c].n);
            CHECK_OR_DIE(line == (int)ref, "client '%.*s': module %d, reference %ld",
                         (int)clients[c].n, clients[c].s, line, ref);
            for (int k = 0; k < nd; k++) {
                /* the module's decision, from its own answers */
                int relays = (bits & RELAY_SET_ALL) || ((bits & RELAY_SET_ACL) && line > 0) ||
                             ((bits & RELAY_SET_DEST_DOMAINS) && by_domain[k]);
                /* what the reference explains */
                int allowed = (ref_on & RELAY_SET_ALL) || ((ref_on & RELAY_SET_ACL) && ref > 0) ||
                              ((ref_on & RELAY_SET_DEST_DOMAINS) && ref_grant[k]);
                CHECK_OR_DIE(!relays || allowed,
                             "client '%.*s' relays to '%.*s' but the reference refuses it",
                             (int)clients[c].n, clients[c].s, (int)domain_len[k], domains[k]);
            }
        }
        /* the same texts again: the same answers on the next round */
        for (int f = 0; f < 3; f++)
            load(cfg, f, parts[f]);
    }
    check_diagnostics(cfg, lines);

    /* an emptied ACL lets nobody relay by address */
    load(cfg, RELAY_FILE_ACL, (struct part){NULL, 0});
    for (size_t c = 0; c < nc; c++)
        CHECK_OR_DIE(ask_acl(cfg, clients[c].s, clients[c].n) <= 0, "empty ACL matched");
    free(clients);
    free(dom.keys);
    ref_acl_free(&acl);
    relay_free(cfg);
    return 0;
}
