#include "rtmpd/amf.h"
