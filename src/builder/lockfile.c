/* lockfile.c - placeholder, being written */
#include "lockfile.h"
