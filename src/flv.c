#include "rtmpd/flv.h"
