/* placeholder */
typedef int svc_placeholder_validate;
