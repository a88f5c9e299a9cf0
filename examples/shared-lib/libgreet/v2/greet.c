#include "greet.h"

const char *libgreet_version(void)
{
	return "2.0.0";
}

/* 2.0 greets more warmly: the change a service pinned to 1.0 does not see. */
const char *libgreet_greeting(void)
{
	return "hello, and welcome";
}
