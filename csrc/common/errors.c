/* errors.c - the size_t error convention: test, decode and name error codes. */
#include "internal.h"

unsigned enec_is_error(size_t code) { return code > (size_t)-(ptrdiff_t)ENEC_ERR_MAX; }

enec_error enec_get_error(size_t code)
{
    return enec_is_error(code) ? (enec_error)(0 - code) : ENEC_OK;
}

const char *enec_error_name(size_t code)
{
    switch (enec_get_error(code)) {
    case ENEC_OK: return "no error";
    case ENEC_ERR_GENERIC: return "error";
    case ENEC_ERR_CORRUPT: return "corrupt or truncated enec stream";
    case ENEC_ERR_DST_TOO_SMALL: return "destination buffer is too small";
    case ENEC_ERR_BAD_ARGUMENT: return "invalid argument";
    case ENEC_ERR_PARAMS: return "parameters cannot code this tensor";
    case ENEC_ERR_NOMEM: return "out of memory";
    case ENEC_ERR_THREADS: return "could not start worker threads";
    case ENEC_ERR_BACKEND: return "backend not available on this CPU or build";
    case ENEC_ERR_TOO_LARGE: return "stream decodes to more bytes than the allowed maximum";
    case ENEC_ERR_UNSUPPORTED: return "stream uses a format version, mode or dtype this build cannot read";
    default: return "unknown error";
    }
}
