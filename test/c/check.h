/*
 * check.h - the assertion macros of the C tests (run by ctest).
 * CHECK counts a failure and goes on, so one run shows every broken case;
 * main returns check_result() and ctest reports the file as failed.
 */
#ifndef CHECK_H
#define CHECK_H

#include <stdio.h>
#include <string.h>

static int check_failures, check_count;

#define CHECK(cond)                                                            \
    do {                                                                       \
        check_count++;                                                         \
        if (!(cond)) {                                                         \
            check_failures++;                                                  \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__,   \
                    #cond);                                                    \
        }                                                                      \
    } while (0)

#define CHECK_EQ(a, b)                                                         \
    do {                                                                       \
        long long check_a = (long long)(a), check_b = (long long)(b);          \
        check_count++;                                                         \
        if (check_a != check_b) {                                              \
            check_failures++;                                                  \
            fprintf(stderr, "%s:%d: CHECK_EQ failed: %s == %lld, expected %lld\n", \
                    __FILE__, __LINE__, #a, check_a, check_b);                 \
        }                                                                      \
    } while (0)

static int check_result(void)
{
    printf("%d checks, %d failed\n", check_count, check_failures);
    return check_failures ? 1 : 0;
}

#endif
