#include "rtmpd/text.h"

const char *rtmpd_stream_name_problem(const char *name, size_t len, uint32_t max)
{
    if (len == 0)
        return "empty stream name";
    if (len > max)
        return "stream name too long";
    size_t seg_start = 0;
    for (size_t i = 0; i <= len; i++) {
        char ch = i < len ? name[i] : '/';
        if (ch == '/') {
            size_t seg = i - seg_start;
            if (seg == 0)
                return "empty path segment in stream name";
            if ((seg == 1 && name[seg_start] == '.') ||
                (seg == 2 && name[seg_start] == '.' && name[seg_start + 1] == '.'))
                return "'.' or '..' in stream name";
            seg_start = i + 1;
            continue;
        }
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '_' || ch == '-' || ch == '.' || ch == '~'))
            return "invalid character in stream name";
    }
    return NULL;
}
