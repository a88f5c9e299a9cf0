/* libgreet - the shared library of the example services (version 2). */
#ifndef LIBGREET_H
#define LIBGREET_H

const char *libgreet_version(void);
const char *libgreet_greeting(void);

#endif
