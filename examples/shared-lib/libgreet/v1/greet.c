#include "greet.h"

const char *libgreet_version(void)
{
	return "1.0.0";
}

const char *libgreet_greeting(void)
{
	return "hello";
}
