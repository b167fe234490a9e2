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
 * the decision "may relay" is never true when the reference model of the
 * ACL (fuzz_common.h) says the client is not listed and neither all=true
 * nor an accept/continue entry for the recipient's domain explains it;
 * a reload of the same text answers the same; an emptied ACL lets no
 * client relay by address.
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

#define MAX_BLOCKS 32
#define MAX_QUESTIONS 24
#define MAX_EDGE_BLOCKS 6

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

    static struct ref_block blocks[MAX_BLOCKS];
    size_t count = ref_parse(parts[1].p, parts[1].n, blocks, MAX_BLOCKS);
    int exact = count < MAX_BLOCKS; /* the reference read the whole list */

    /* questions: clients and domains */
    static char clients[MAX_QUESTIONS + MAX_EDGE_BLOCKS * 5][64];
    static size_t client_len[MAX_QUESTIONS + MAX_EDGE_BLOCKS * 5];
    const char *domains[MAX_QUESTIONS + 1];
    size_t domain_len[MAX_QUESTIONS + 1];
    int nc = 0, nd = 0;
    domains[nd] = "any";
    domain_len[nd++] = 3;
    const uint8_t *q = parts[3].p, *qend = parts[3].p ? parts[3].p + parts[3].n : NULL;
    while (q && q < qend && nd <= MAX_QUESTIONS) {
        const uint8_t *e = memchr(q, '\n', (size_t)(qend - q));
        if (!e)
            e = qend;
        size_t n = (size_t)(e - q);
        if (n < 64) {
            memcpy(clients[nc], q, n);
            client_len[nc++] = n;
        }
        const uint8_t *at = q;
        for (const uint8_t *c = q; c < e; c++)
            if (*c == '@')
                at = c + 1;
        domains[nd] = (const char *)at;
        domain_len[nd++] = (size_t)(e - at);
        q = e + 1;
    }
    for (size_t k = 0; k < count && k < MAX_EDGE_BLOCKS; k++) {
        int n = ref_edges(&blocks[k], &clients[nc]);
        for (int e = 0; e < n; e++, nc++)
            client_len[nc] = strlen(clients[nc]);
    }

    for (int round = 0; round < 2; round++) {
        unsigned bits = relay_settings_bits(cfg);
        CHECK_OR_DIE(bits == relay_settings(cfg), "settings differ");
        int by_domain[MAX_QUESTIONS + 1];
        for (int k = 0; k < nd; k++) {
            enum relay_action a = ask_rcpt(cfg, domains[k], domain_len[k]);
            by_domain[k] = (bits & RELAY_SET_DEST_DOMAINS) &&
                           (a == RELAY_ACTION_ACCEPT || a == RELAY_ACTION_CONTINUE);
        }
        for (int c = 0; c < nc; c++) {
            int line = ask_acl(cfg, clients[c], client_len[c]);
            long ref = ref_match(blocks, count, clients[c], client_len[c]);
            if (exact)
                CHECK_OR_DIE(line == (ref > 0 ? (int)ref : (int)ref),
                             "client '%.*s': module %d, reference %ld", (int)client_len[c],
                             clients[c], line, ref);
            for (int k = 0; k < nd; k++) {
                int relays = (bits & RELAY_SET_ALL) || ((bits & RELAY_SET_ACL) && line > 0) ||
                             by_domain[k];
                int allowed = (bits & RELAY_SET_ALL) || ((bits & RELAY_SET_ACL) && ref > 0) ||
                              by_domain[k];
                CHECK_OR_DIE(!exact || !relays || allowed,
                             "client '%.*s' relays to '%.*s' but the reference refuses it",
                             (int)client_len[c], clients[c], (int)domain_len[k], domains[k]);
            }
        }
        /* the same texts again: the same answers on the next round */
        for (int f = 0; f < 3; f++)
            load(cfg, f, parts[f]);
    }
    check_diagnostics(cfg, lines);

    /* an emptied ACL lets nobody relay by address */
    load(cfg, RELAY_FILE_ACL, (struct part){NULL, 0});
    for (int c = 0; c < nc; c++)
        CHECK_OR_DIE(ask_acl(cfg, clients[c], client_len[c]) <= 0, "empty ACL matched");
    relay_free(cfg);
    return 0;
}
