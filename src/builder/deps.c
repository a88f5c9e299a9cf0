/* deps.c - placeholder, being written */
#include "deps.h"
