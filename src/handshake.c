#include "rtmpd/handshake.h"
