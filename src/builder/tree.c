/* tree.c - placeholder, being written */
#include "tree.h"
