#include "rtmpd/chunk.h"
