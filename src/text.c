#include "rtmpd/text.h"

#include <stdio.h>
#include <string.h>

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

const char *rtmpd_log_str(char *out, size_t outlen, const char *p, size_t len)
{
    size_t i = 0, j = 0;
    if (outlen < 8) {
        if (outlen)
            out[0] = '\0';
        return out;
    }
    /* Room is kept for one escape (4 bytes) and "..." with its NUL. */
    for (; i < len && j + 8 <= outlen; i++) {
        unsigned char ch = (unsigned char)p[i];
        if (ch >= 0x20 && ch < 0x7f && ch != '\\' && ch != '"')
            out[j++] = (char)ch;
        else
            j += (size_t)snprintf(out + j, outlen - j, "\\x%02x", ch);
    }
    if (i < len)
        memcpy(out + j, "...", 4);
    else
        out[j] = '\0';
    return out;
}
