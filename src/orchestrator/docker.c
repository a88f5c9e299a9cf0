/* docker.c - placeholder until written */
typedef int svc_placeholder_docker;
