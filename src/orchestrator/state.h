#ifndef SVC_STATE_H
#define SVC_STATE_H
#endif
