/* test_ini.c - INI read as haraka-config reads it: relay.ini switches. */
#include "helpers.h"

static unsigned settings_of(const char *ini)
{
    struct relay_config *cfg = load3(ini, NULL, NULL);
    unsigned s = relay_settings(cfg);
    relay_config_free(cfg);
    return s;
}

int main(void)
{
    CHECK_EQ(settings_of(""), RELAY_SET_ACL);
    CHECK_EQ(settings_of("[relay]\nacl=false\n"), 0);
    CHECK_EQ(settings_of("[relay]\nall=YES\ndest_domains = On\nforce_routing=1\n"),
             RELAY_SET_ACL | RELAY_SET_ALL | RELAY_SET_DEST_DOMAINS | RELAY_SET_FORCE_ROUTING);
    CHECK_EQ(settings_of("[relay]\nall=enabled\n"), RELAY_SET_ACL | RELAY_SET_ALL);
    CHECK_EQ(settings_of("[relay]\nall=ok\n"), RELAY_SET_ACL | RELAY_SET_ALL);
    /* not a truth word: false */
    CHECK_EQ(settings_of("[relay]\nall=true ; comment\n"), RELAY_SET_ACL);
    CHECK_EQ(settings_of("[relay]\nall=y\n"), RELAY_SET_ACL);
    /* keys outside [relay] do nothing */
    CHECK_EQ(settings_of("all=true\n[other]\nall=true\n"), RELAY_SET_ACL);
    /* `[ relay ]` with blanks is [relay] */
    CHECK_EQ(settings_of("  [ relay ]  \nall=true\n"), RELAY_SET_ACL | RELAY_SET_ALL);
    /* only `=` separates: `all: true` is not a key = value line */
    CHECK_EQ(settings_of("[relay]\nall: true\n"), RELAY_SET_ACL);
    /* backslash continuation, with trailing blanks, across a comment */
    CHECK_EQ(settings_of("[relay]\nall=tr\\  \n# note\nue\n"), RELAY_SET_ACL | RELAY_SET_ALL);
    /* CRLF and lone CR line ends */
    CHECK_EQ(settings_of("[relay]\r\nall=true\r\n"), RELAY_SET_ACL | RELAY_SET_ALL);
    CHECK_EQ(settings_of("[relay]\rall=true\r"), RELAY_SET_ACL | RELAY_SET_ALL);
    /* a BOM does not hide the first section */
    CHECK_EQ(settings_of("\xEF\xBB\xBF[relay]\nall=true\n"), RELAY_SET_ACL | RELAY_SET_ALL);
    /* later wins */
    CHECK_EQ(settings_of("[relay]\nall=true\nall=false\n"), RELAY_SET_ACL);
    /* a NUL in a line: the line is refused, never half-read */
    static const char nul[] = "[relay]\nall=true\nall=fal\0se\n";
    struct relay_config *c0 = relay_config_new();
    CHECK_EQ(relay_config_load(c0, RELAY_FILE_INI, nul, sizeof nul - 1), 1);
    CHECK_EQ(relay_settings(c0), RELAY_SET_ACL | RELAY_SET_ALL);
    CHECK_EQ(diag_line(c0, "ini-control-char"), 3);
    relay_config_free(c0);

    struct relay_config *cfg = load3("[relay]\nall=true\nfoo=1\nacl=maybe\n[x]\nbad line here\nall=true\nall=true\\", NULL, NULL);
    CHECK_EQ(diag_line(cfg, "open-relay"), 2);
    CHECK_EQ(diag_line(cfg, "ini-unknown-key"), 3);
    CHECK_EQ(diag_line(cfg, "ini-not-boolean"), 4);
    CHECK_EQ(diag_line(cfg, "ini-unknown-section"), 5);
    CHECK_EQ(diag_line(cfg, "ini-invalid-line"), 6);
    CHECK_EQ(diag_line(cfg, "ini-dangling-continuation"), 8);
    relay_config_free(cfg);

    cfg = load3("[relay]\nall=true\nall=false\n", NULL, NULL);
    CHECK_EQ(diag_line(cfg, "ini-duplicate-key"), 3);
    relay_config_free(cfg);

    /* a long line (1 MB) is read whole */
    static char longline[1 << 20];
    memset(longline, 'a', sizeof longline - 1);
    memcpy(longline, "[relay]\nacl=", 12);
    cfg = load3(longline, NULL, NULL);
    CHECK_EQ(relay_settings(cfg), 0);
    CHECK_EQ(diag_line(cfg, "ini-not-boolean"), 2);
    relay_config_free(cfg);
    return check_result();
}
