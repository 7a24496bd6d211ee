#ifndef CIP_CMOSQUITTO_SHIM_H
#define CIP_CMOSQUITTO_SHIM_H
#include <mosquitto.h>
#include <mqtt_protocol.h>
#endif
