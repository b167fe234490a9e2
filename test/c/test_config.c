/* test_config.c - reloads swap whole files; diagnostics across files. */
#include "helpers.h"

static int load_text(struct relay_config *cfg, enum relay_file f, const char *t)
{
    return relay_config_load(cfg, f, t, strlen(t));
}

int main(void)
{
    struct relay_config *cfg = load3(NULL, "192.0.2.1\n", NULL);
    CHECK_EQ(acl(cfg, "192.0.2.1"), 1);
    /* a reload replaces the list: the old entry is gone */
    CHECK_EQ(load_text(cfg, RELAY_FILE_ACL, "192.0.2.2\nbad\n"), 1);
    CHECK_EQ(acl(cfg, "192.0.2.1"), 0);
    CHECK_EQ(acl(cfg, "192.0.2.2"), 1);
    /* an empty file (or a missing one) is the defaults */
    CHECK_EQ(load_text(cfg, RELAY_FILE_ACL, ""), 0);
    CHECK_EQ(acl(cfg, "192.0.2.2"), 0);

    load_text(cfg, RELAY_FILE_DOMAINS, "[domains]\nx.example={\"nexthop\":\"mx:25\"}\n");
    CHECK_EQ(diag_line(cfg, "nexthop-unused"), 2);
    load_text(cfg, RELAY_FILE_INI, "[relay]\nforce_routing=true\ndest_domains=true\n");
    CHECK_EQ(diag_line(cfg, "nexthop-unused"), -1);
    CHECK_EQ(diag_line(cfg, "dest-domains-off"), -1);

    /* diagnostics come sorted by file then line */
    load_text(cfg, RELAY_FILE_ACL, "bad1\n\nbad3\n");
    const struct relay_diagnostic *d;
    size_t n = relay_diagnostics(cfg, &d);
    CHECK_EQ(n, 2);
    CHECK_EQ(d[0].line, 1);
    CHECK_EQ(d[1].line, 3);
    CHECK_EQ(d[0].file, RELAY_FILE_ACL);
    CHECK(strcmp(relay_file_name(d[0].file), "relay_acl_allow") == 0);
    relay_config_free(cfg);

    /* thousands of bad lines: at most DIAG_MAX kept, the rest counted */
    static char junk[5000 * 4 + 1];
    for (int i = 0; i < 5000; i++)
        memcpy(junk + i * 4, "xyz\n", 4);
    cfg = load3(NULL, junk, NULL);
    n = relay_diagnostics(cfg, &d);
    CHECK_EQ(n, 1001);
    CHECK_EQ(diag_line(cfg, "too-many-diagnostics"), 0);
    relay_config_free(cfg);
    return check_result();
}
