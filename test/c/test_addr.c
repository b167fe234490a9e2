/* test_addr.c - address parsing: what is an address, and what is refused. */
#include "core.h"
#include "check.h"

static int fam(const char *s)
{
    struct addr128 a;
    return addr_parse(s, strlen(s), &a, NULL);
}

int main(void)
{
    struct addr128 a;
    CHECK_EQ(addr_parse("192.0.2.1", 9, &a, NULL), ADDR_V4);
    CHECK_EQ(a.lo, 0xC0000201u);
    CHECK_EQ(fam("0.0.0.0"), ADDR_V4);
    CHECK_EQ(fam("255.255.255.255"), ADDR_V4);
    const char *bad4[] = {"256.1.1.1", "300.1.1.1", "1.2.3", "10.1", "1.2.3.4.5", "010.1.1.1",
                          "0x0a.1.1.1", "1.2.3.4 ", " 1.2.3.4", "1..2.3", "", "1.2.3.-1", "1.2.3.4/8"};
    for (size_t i = 0; i < sizeof bad4 / sizeof bad4[0]; i++)
        CHECK_EQ(fam(bad4[i]), ADDR_NONE);

    CHECK_EQ(addr_parse("2001:db8::1", 11, &a, NULL), ADDR_V6);
    CHECK_EQ(a.hi, 0x20010db800000000ULL);
    CHECK_EQ(a.lo, 1);
    CHECK_EQ(fam("::"), ADDR_V6);
    CHECK_EQ(fam("::1"), ADDR_V6);
    CHECK_EQ(fam("1::"), ADDR_V6);
    CHECK_EQ(fam("1:2:3:4:5:6:7:8"), ADDR_V6);
    CHECK_EQ(fam("64:ff9b::192.0.2.1"), ADDR_V6);
    /* IPv4-mapped, in both notations, is IPv4 */
    CHECK_EQ(addr_parse("::ffff:192.0.2.1", 16, &a, NULL), ADDR_V4);
    CHECK_EQ(a.lo, 0xC0000201u);
    CHECK_EQ(fam("::FFFF:c000:0201"), ADDR_V4);
    const char *bad6[] = {":::", "1:::2", "1::2::3", "1:2:3:4:5:6:7:8:9", "1:2:3:4:5:6:7",
                          "fe80::1%eth0", "12345::", "g::1", ":1::", "1:", "::1.2.3.4.5",
                          "1:2:3:4:5:6:7:1.2.3.4", "1:2:3:4:5:6:7:8::"};
    for (size_t i = 0; i < sizeof bad6 / sizeof bad6[0]; i++)
        CHECK_EQ(fam(bad6[i]), ADDR_NONE);

    struct addr128 m = {0x20010db8ffffffffULL, ~0ULL};
    addr_mask(&m, 32, 128);
    CHECK_EQ(m.hi, 0x20010db800000000ULL);
    CHECK_EQ(m.lo, 0);
    struct addr128 v4 = {0, 0xC00002FFu};
    addr_mask(&v4, 24, 32);
    CHECK_EQ(v4.lo, 0xC0000200u);
    addr_mask(&v4, 0, 32);
    CHECK_EQ(v4.lo, 0);
    return check_result();
}
