/*
 * fuzz_domains.c - relay_dest_domains.ini text, then every word of it as a
 * recipient domain.
 *
 * Properties: no crash; diagnostics well formed; answers are values of
 * their enums with lines inside the file; a domain gets the same answer in
 * any case; a route is JSON text of a string or an array of strings, and a
 * route taken from `any` exists only when `any` is listed.
 */
#include "fuzz_common.h"

#include "cJSON.h"

#define MAX_WORDS 48

static int word_char(uint8_t c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c && strchr("_@:.+-/[]", c)) || c >= 0x80;
}

static void check_route_json(const char *text)
{
    cJSON *j = cJSON_Parse(text);
    CHECK_OR_DIE(j, "route is not JSON: %s", text);
    if (cJSON_IsString(j)) {
        CHECK_OR_DIE(j->valuestring[0], "empty route");
    } else {
        CHECK_OR_DIE(cJSON_IsArray(j) && j->child, "route is neither a string nor an array: %s", text);
        for (cJSON *h = j->child; h; h = h->next)
            CHECK_OR_DIE(cJSON_IsString(h) && h->valuestring[0], "bad route item in %s", text);
    }
    cJSON_Delete(j);
}

static void ask(struct relay_config *cfg, const char *w, size_t n, uint32_t lines)
{
    uint32_t line = 0, line2 = 0;
    enum relay_action a = relay_rcpt_action(cfg, w, n, &line);
    CHECK_OR_DIE((unsigned)a <= RELAY_ACTION_INVALID, "action %d", (int)a);
    CHECK_OR_DIE(a == RELAY_ACTION_UNLISTED ? line == 0 : line >= 1 && line <= lines,
                 "'%.*s': action %d at line %u of %u", (int)n, w, (int)a, (unsigned)line,
                 (unsigned)lines);
    char other[256];
    if (n <= sizeof other) {
        for (size_t i = 0; i < n; i++) {
            char c = w[i];
            other[i] = (c >= 'a' && c <= 'z') ? (char)(c - 32) : (c >= 'A' && c <= 'Z') ? (char)(c + 32) : c;
        }
        CHECK_OR_DIE(relay_rcpt_action(cfg, other, n, &line2) == a && line2 == line,
                     "'%.*s' answers differently in another case", (int)n, w);
    }
    const char *hop = NULL;
    int via_any = 0;
    enum relay_route r = relay_route(cfg, w, n, &hop, &line, &via_any);
    CHECK_OR_DIE((unsigned)r <= RELAY_ROUTE_INVALID, "route %d", (int)r);
    /* a nexthop's JSON text, or why an invalid route cannot be used */
    CHECK_OR_DIE((r == RELAY_ROUTE_MX) == (hop == NULL), "route %d with nexthop %p", (int)r,
                 (const void *)hop);
    CHECK_OR_DIE(r == RELAY_ROUTE_MX ? line == 0 && !via_any : line >= 1 && line <= lines,
                 "route %d at line %u", (int)r, (unsigned)line);
    if (r == RELAY_ROUTE_NEXTHOP)
        check_route_json(hop);
    if (r == RELAY_ROUTE_INVALID) {
        CHECK_OR_DIE(hop[0] != '\0', "invalid route without a reason");
        for (const char *c = hop; *c; c++)
            CHECK_OR_DIE((unsigned char)*c >= 0x20 && *c != 0x7f, "control character in the reason of a route");
    }
    if (via_any) {
        uint32_t any_line;
        CHECK_OR_DIE(relay_rcpt_action(cfg, "any", 3, &any_line) != RELAY_ACTION_UNLISTED &&
                         any_line == line,
                     "route via `any` but `any` is not listed at line %u", (unsigned)line);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct relay_config *cfg = relay_config_new();
    if (!cfg)
        return 0;
    int rc = relay_config_load(cfg, RELAY_FILE_DOMAINS, (const char *)data, size);
    CHECK_OR_DIE(rc >= 0, "load failed: %d", rc);
    uint32_t lines[RELAY_FILE_COUNT] = {1, 1, fuzz_line_count(data, size)};
    check_diagnostics(cfg, lines);
    int words = 0;
    for (size_t i = 0; i < size && words < MAX_WORDS;) {
        if (!word_char(data[i])) {
            i++;
            continue;
        }
        size_t start = i;
        while (i < size && word_char(data[i]))
            i++;
        ask(cfg, (const char *)data + start, i - start, lines[2]);
        words++;
    }
    ask(cfg, "any", 3, lines[2]);
    ask(cfg, "", 0, lines[2]);
    relay_config_free(cfg);
    return 0;
}
