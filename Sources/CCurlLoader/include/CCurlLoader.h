#ifndef TOKENKEEPER_CCURL_LOADER_H
#define TOKENKEEPER_CCURL_LOADER_H

// Declarations live in CCurl's shim.h, with the libcurl headers they need.
#include "../../CCurl/shim.h"

#endif
