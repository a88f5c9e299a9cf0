/* router_client.c - placeholder until written */
typedef int svc_placeholder_router_client;
