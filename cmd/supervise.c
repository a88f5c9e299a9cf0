/* placeholder */
typedef int svc_placeholder_supervise;
