#ifndef SVC_CMD_H
#define SVC_CMD_H
#endif
