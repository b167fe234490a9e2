/*
 * fuzz_acl.c - relay_acl_allow text, then clients at the edges of every
 * block the reference model reads in it.
 *
 * Properties: no crash or sanitizer report; diagnostics well formed; a
 * reload of the same text gives the same answers; every client's answer
 * equals the reference model's (fuzz_common.h: a trie of every block, so
 * this holds for lists of any length), so no line of any text makes a
 * client relay that the reference refuses.
 */
#include "fuzz_common.h"

static const char *const fixed_clients[] = {
    "0.0.0.0", "255.255.255.255", "127.0.0.1", "192.0.2.1", "10.1.2.3", "::",
    "::1", "::ffff:192.0.2.1", "2001:db8::1", "fe80::1", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct relay_config *cfg = relay_config_new();
    if (!cfg)
        return 0;
    int rc = relay_config_load(cfg, RELAY_FILE_ACL, (const char *)data, size);
    CHECK_OR_DIE(rc >= 0, "load failed: %d", rc);
    uint32_t lines[RELAY_FILE_COUNT] = {1, fuzz_line_count(data, size), 1};
    check_diagnostics(cfg, lines);

    struct ref_acl acl;
    ref_acl_read(&acl, data, size);
    for (int pass = 0; pass < 2; pass++) {
        for (size_t k = 0; k < acl.count; k++) {
            char edges[5][64];
            int n = ref_edges(&acl.blocks[k], edges);
            for (int e = 0; e < n; e++)
                check_client(cfg, &acl, edges[e], strlen(edges[e]));
        }
        for (size_t k = 0; k < sizeof fixed_clients / sizeof *fixed_clients; k++)
            check_client(cfg, &acl, fixed_clients[k], strlen(fixed_clients[k]));
        /* a reload of the same text must answer the same */
        rc = relay_config_load(cfg, RELAY_FILE_ACL, (const char *)data, size);
        CHECK_OR_DIE(rc >= 0, "reload failed: %d", rc);
    }
    ref_acl_free(&acl);
    relay_config_free(cfg);
    return 0;
}
