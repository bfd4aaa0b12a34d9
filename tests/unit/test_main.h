/*
 * Shared main() for cmocka unit tests: with an argument, runs only the case
 * of that name (ctest registers one test per case); without, runs them all.
 */
#ifndef RTMPD_TEST_MAIN_H
#define RTMPD_TEST_MAIN_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#define RTMPD_TEST_MAIN(tests)                                      \
    int main(int argc, char **argv)                                 \
    {                                                               \
        if (argc > 1) {                                             \
            size_t i_, n_ = sizeof(tests) / sizeof((tests)[0]);     \
            for (i_ = 0; i_ < n_; i_++)                             \
                if (strcmp((tests)[i_].name, argv[1]) == 0)         \
                    break;                                          \
            if (i_ == n_) {                                         \
                fprintf(stderr, "no test case named %s\n", argv[1]); \
                return 2;                                           \
            }                                                       \
            cmocka_set_test_filter(argv[1]);                        \
        }                                                           \
        return cmocka_run_group_tests(tests, NULL, NULL);           \
    }

#endif
