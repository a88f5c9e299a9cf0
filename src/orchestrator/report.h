#ifndef SVC_REPORT_H
#define SVC_REPORT_H
#endif
