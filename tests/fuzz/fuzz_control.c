/*
 * fuzz_control.c - libFuzzer harness for the router's control protocol
 * parser.
 *
 * Each input is one request line as the router reads it from its control
 * socket (router/client.h has the protocol), given to router_request_parse,
 * the parser every request goes through before it is acted on. Beyond "no
 * crash, no leak, no sanitizer report" it checks what router/internal.h
 * promises: a failure is SVC_EGENERIC with a message and leaves nothing
 * allocated; a success names one of the four ops, and a "set" has a listen
 * address, a service name, backends that are distinct addresses (none of
 * them the route's own listen address) and a drain timeout that is not
 * negative.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "router/internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void broken(const char *what)
{
	fprintf(stderr, "fuzz_control: broken promise: %s\n", what);
	abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct svc_error err = { 0 };
	struct ctl_request q;
	int rc;

	rc = router_request_parse(&q, (const char *)data, size, &err);
	if (rc) {
		if (rc != SVC_EGENERIC || err.code != rc || !err.message[0])
			broken("failure: SVC_EGENERIC with a message");
		if (q.set.service || q.set.backends || q.set.nbackends)
			broken("failure: nothing left allocated");
		return 0;
	}
	switch (q.op) {
	case CTL_PING:
	case CTL_STATUS:
	case CTL_SHUTDOWN:
		break;
	case CTL_SET:
		if (!q.set.listen.text[0] || !q.set.service || q.set.drain_timeout_ms < 0)
			broken("set: a listen address, a service, a drain timeout >= 0");
		if (q.set.nbackends && !q.set.backends)
			broken("set: the backends it counts");
		for (size_t i = 0; i < q.set.nbackends; i++) {
			if (!strcmp(q.set.backends[i].text, q.set.listen.text))
				broken("set: no backend is the route's own listen address");
			for (size_t k = 0; k < i; k++)
				if (!strcmp(q.set.backends[i].text, q.set.backends[k].text))
					broken("set: distinct backends");
		}
		break;
	default:
		broken("success: one of the four ops");
	}
	router_request_release(&q);
	return 0;
}
