#include "test_main.h"

#include "rtmpd/amf.h"

static void placeholder(void **state)
{
    (void)state;
    fail_msg("amf tests not written yet");
}

int main(int argc, char **argv);
static const struct CMUnitTest tests[] = {
    cmocka_unit_test(placeholder),
};
RTMPD_TEST_MAIN(tests)
