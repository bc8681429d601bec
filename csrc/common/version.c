/* version.c - the library's version at run time, for callers built against another header. */
#include "internal.h"

unsigned enec_version_number(void) { return ENEC_VERSION_NUMBER; }

const char *enec_version_string(void) { return ENEC_VERSION_STRING; }
