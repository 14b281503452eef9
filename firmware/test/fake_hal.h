/* A fake board for the host unit tests: time, pins and lamp currents set by the test. */
#ifndef FAKE_HAL_H
#define FAKE_HAL_H

#include <stddef.h>
#include <stdint.h>

extern uint32_t fake_ms;
extern uint8_t fake_lid;          /* 1 = lid switch open */
extern uint8_t fake_lid_stuck;    /* 1 = the switch ignores the test line */
extern uint8_t fake_item;         /* 1 = item present */
extern uint16_t fake_full_ma[2];  /* lamp current at 100 % drive */
extern uint8_t fake_out[2];       /* what the lamp outputs are driven to */
extern uint8_t fake_watchdog;     /* 1 = hardware watchdog armed */
extern char fake_tx[8192];
extern size_t fake_tx_len;

void fake_reset(void);
/* the lid input as the pin reads it: the switch, or the test line opening its loop */
void fake_set_lid(uint8_t open);

#endif
