#include "test_main.h"

#include "rtmpd/handshake.h"

static void placeholder(void **state)
{
    (void)state;
    fail_msg("handshake tests not written yet");
}

int main(int argc, char **argv);
static const struct CMUnitTest tests[] = {
    cmocka_unit_test(placeholder),
};
RTMPD_TEST_MAIN(tests)
