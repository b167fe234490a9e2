/* test_acl.c - relay_acl_allow: matching, nesting, and lines that must not widen it. */
#include "helpers.h"

#include <stdlib.h>

int main(void)
{
    struct relay_config *cfg = load3(NULL,
        "# comment\n"
        "; also a comment\n"
        "\n"
        "  192.0.2.0/24  \n"       /* 4 */
        "192.0.2.128/25\n"         /* 5: nested, more specific */
        "10.0.0.1\n"               /* 6: bare = /32 */
        "2001:db8::1\n"            /* 7: bare IPv6 = /128 (1.0.2 made it /32) */
        "2001:db8:1::/48\n"        /* 8 */
        "300.1.1.1\n"              /* 9: bad */
        "1.2.3.0/33\n"             /* 10: bad prefix */
        "1.2.3.0/24 junk\n"        /* 11: text after prefix */
        "5.6.7.0/24 # office\n"    /* 12: inline comment, as 1.0.2 */
        "::ffff:198.51.100.0/120\n" /* 13: mapped = IPv4 198.51.100.0/24 */
        "fe80::1%eth0\n"           /* 14: zone id */
        "192.0.2.0/24\n",          /* 15: duplicate of 4 */
        NULL);
    CHECK_EQ(acl(cfg, "192.0.2.1"), 4);
    CHECK_EQ(acl(cfg, "192.0.2.200"), 5);
    CHECK_EQ(acl(cfg, "192.0.3.1"), 0);
    CHECK_EQ(acl(cfg, "10.0.0.1"), 6);
    CHECK_EQ(acl(cfg, "10.0.0.2"), 0);
    CHECK_EQ(acl(cfg, "2001:db8::1"), 7);
    CHECK_EQ(acl(cfg, "2001:db8::2"), 0);      /* not 2001:db8::/32 */
    CHECK_EQ(acl(cfg, "2001:db8:1:ffff::9"), 8);
    CHECK_EQ(acl(cfg, "::ffff:192.0.2.9"), 4); /* mapped client, IPv4 entry */
    CHECK_EQ(acl(cfg, "198.51.100.77"), 13);
    CHECK_EQ(acl(cfg, "5.6.7.8"), 12);
    CHECK_EQ(acl(cfg, "1.2.3.4"), 0);          /* the bad lines opened nothing */
    CHECK_EQ(acl(cfg, "300.1.1.1"), -1);
    CHECK_EQ(acl(cfg, "not an ip"), -1);
    CHECK_EQ(diag_line(cfg, "acl-bad-address"), 9);
    CHECK_EQ(diag_line(cfg, "acl-bad-prefix"), 10);
    CHECK_EQ(diag_line(cfg, "acl-duplicate"), 15);
    relay_config_free(cfg);

    /* wide ranges are kept but warned about; /0 is the whole internet */
    cfg = load3(NULL, "0.0.0.0/0\n10.0.0.0/4\n::/0\n", NULL);
    CHECK_EQ(acl(cfg, "200.1.1.1"), 1);
    CHECK_EQ(acl(cfg, "8.8.8.8"), 2); /* 10.0.0.0/4 is 0.0.0.0/4: most specific */
    CHECK_EQ(diag_line(cfg, "acl-whole-internet"), 1);
    CHECK_EQ(diag_line(cfg, "acl-wide-range"), 2);
    CHECK_EQ(acl(cfg, "2001:db8::1"), 3);
    relay_config_free(cfg);

    /* IPv6 blocks never match IPv4 clients */
    cfg = load3(NULL, "::/0\n", NULL);
    CHECK_EQ(acl(cfg, "192.0.2.1"), 0);
    relay_config_free(cfg);

    /* CRLF, lone CR, a BOM */
    cfg = load3(NULL, "\xEF\xBB\xBF" "192.0.2.1\r\n192.0.2.2\r192.0.2.3", NULL);
    CHECK_EQ(acl(cfg, "192.0.2.1"), 1);
    CHECK_EQ(acl(cfg, "192.0.2.2"), 2);
    CHECK_EQ(acl(cfg, "192.0.2.3"), 3);
    relay_config_free(cfg);

    /* JavaScript's whitespace is trimmed, as haraka-config trims a list
     * entry: NBSP, U+3000, a BOM on any line; a control character is not */
    cfg = load3(NULL, "\xC2\xA0" "192.0.2.1\xE3\x80\x80\n\xEF\xBB\xBF" "192.0.2.2 # x\xC2\xA0\n"
                      "\xE2\x80\xA8;192.0.2.3\n192.0.2.4\x01\n192.0.2.5\xC2\x85\n", NULL);
    CHECK_EQ(acl(cfg, "192.0.2.1"), 1);
    CHECK_EQ(acl(cfg, "192.0.2.2"), 2);
    CHECK_EQ(acl(cfg, "192.0.2.3"), 0);
    CHECK_EQ(acl(cfg, "192.0.2.4"), 0);
    CHECK_EQ(acl(cfg, "192.0.2.5"), 0);
    CHECK_EQ(diag_line(cfg, "acl-bad-address"), 4);
    relay_config_free(cfg);

    /* many entries: every one is found, neighbours are not */
    size_t n = 100000, cap = n * 20;
    char *big = malloc(cap), *p = big;
    for (size_t i = 0; i < n; i++)
        p += sprintf(p, "10.%u.%u.%u\n", (unsigned)(i >> 16) & 255, (unsigned)(i >> 8) & 255,
                     (unsigned)(i & 255) & 0xfe);
    cfg = load3(NULL, big, NULL);
    CHECK_EQ(acl(cfg, "10.0.0.0"), 1);
    CHECK_EQ(acl(cfg, "10.0.0.1"), 0);
    CHECK(acl(cfg, "10.1.134.158") > 0);
    CHECK_EQ(acl(cfg, "10.1.134.159"), 0);
    CHECK_EQ(acl(cfg, "10.1.134.160"), 0);
    relay_config_free(cfg);
    free(big);

    /* found by fuzz_acl: the message of a bad entry at the very end of a
     * text that has no NUL after it read one byte past the text */
    char *exact = malloc(2);
    memcpy(exact, "\nO", 2);
    cfg = relay_config_new();
    CHECK_EQ(relay_config_load(cfg, RELAY_FILE_ACL, exact, 2), 1);
    CHECK_EQ(diag_line(cfg, "acl-bad-address"), 2);
    relay_config_free(cfg);
    free(exact);

    /* found by the bad-config corpus: control characters quoted from the
     * file reached the message (and so Haraka's log) as they were */
    cfg = load3(NULL, "192.0.2.1\x07\n\x1b[0m10.0.0.1\n", NULL);
    const struct relay_diagnostic *d;
    size_t nd = relay_diagnostics(cfg, &d);
    CHECK_EQ(nd, 2);
    for (size_t i = 0; i < nd; i++)
        for (const char *c = d[i].message; *c; c++)
            CHECK((unsigned char)*c >= 0x20 && *c != 0x7f);
    relay_config_free(cfg);
    return check_result();
}
