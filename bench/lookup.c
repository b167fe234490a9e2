/*
 * lookup.c - instruction counts of the hot paths, for callgrind.
 *
 * For: bench/run.js (npm run bench).  Loads a generated relay_acl_allow or
 * relay_dest_domains.ini of N entries, prepares K questions, then asks them
 * in run_lookups(), the only function callgrind is told to count:
 *
 *   valgrind --tool=callgrind --collect-atstart=no --toggle-collect=run_lookups \
 *       build/bench/bench_lookup acl N K
 *
 * Instructions per lookup = total / K, free of timing noise.
 */
#include "relay.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static unsigned long long state = 88172645463325252ULL;
static unsigned next(void)
{
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return (unsigned)state;
}

struct question {
    char text[64];
    size_t len;
};

static unsigned long sink;

__attribute__((noinline)) void run_lookups(struct relay_config *cfg, int acl,
                                           const struct question *q, size_t k)
{
    for (size_t i = 0; i < k; i++) {
        uint32_t line = 0;
        if (acl)
            sink += (unsigned long)relay_acl_match(cfg, q[i].text, q[i].len, &line) + line;
        else
            sink += relay_rcpt_action(cfg, q[i].text, q[i].len, &line) + line;
    }
}

int main(int argc, char **argv)
{
    if (argc != 4 || (strcmp(argv[1], "acl") && strcmp(argv[1], "rcpt"))) {
        fprintf(stderr, "usage: bench_lookup acl|rcpt ENTRIES LOOKUPS\n");
        return 2;
    }
    int acl = strcmp(argv[1], "acl") == 0;
    size_t n = strtoul(argv[2], NULL, 10), k = strtoul(argv[3], NULL, 10);
    char *text = malloc(n * 48 + 32), *p = text;
    unsigned *addrs = malloc(n * sizeof *addrs);
    if (!acl)
        p += sprintf(p, "[domains]\n");
    for (size_t i = 0; i < n; i++) {
        unsigned a = next();
        addrs[i] = a;
        if (acl)
            p += sprintf(p, "%u.%u.%u.%u\n", a >> 24, (a >> 16) & 255, (a >> 8) & 255, a & 255);
        else
            p += sprintf(p, "d%zu.example.com = {\"action\":\"accept\"}\n", i);
    }
    struct relay_config *cfg = relay_config_new();
    relay_config_load(cfg, acl ? RELAY_FILE_ACL : RELAY_FILE_DOMAINS, text, (size_t)(p - text));
    struct question *q = malloc(k * sizeof *q);
    for (size_t i = 0; i < k; i++) {
        /* half hits, half misses */
        size_t j = next() % n;
        unsigned a = i & 1 ? addrs[j] : next();
        if (acl)
            q[i].len = (size_t)sprintf(q[i].text, "%u.%u.%u.%u", a >> 24, (a >> 16) & 255, (a >> 8) & 255, a & 255);
        else
            q[i].len = (size_t)sprintf(q[i].text, i & 1 ? "d%zu.example.com" : "x%zu.example.org", j);
    }
    run_lookups(cfg, acl, q, k);
    printf("%lu\n", sink);
    relay_config_free(cfg);
    free(q);
    free(addrs);
    free(text);
    return 0;
}
