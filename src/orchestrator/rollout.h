#ifndef SVC_ROLLOUT_H
#define SVC_ROLLOUT_H
#endif
