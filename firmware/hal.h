/*
 * The hardware layer under the portable controller core (lampctl.c). The AVR board implements
 * it in hal_avr.c; the host unit tests implement it with a fake board (test/fake_hal.c).
 * Everything safety-related that depends on time or pins goes through here, so the same core
 * logic is what the tests exercise and what ships on the board.
 */
#ifndef LAMPCTL_HAL_H
#define LAMPCTL_HAL_H

#include <stdint.h>

enum { LAMP_WHITE = 0, LAMP_UV = 1 };

/* Milliseconds since reset; wraps after 49 days (the core only uses differences). */
uint32_t hal_millis(void);
/* Busy wait (the hardware watchdog is still served by the caller's budget: keep it short). */
void hal_delay_ms(uint8_t ms);
/* Drive both lamp outputs, levels in percent 0..100. */
void hal_lamps(uint8_t white, uint8_t uv);
/* Raw pin readings, not debounced: 1 = lid open, 1 = item present. */
uint8_t hal_lid_open(void);
uint8_t hal_item_present(void);
/* 1 if the lid input went open since the last call (latched by the pin-change interrupt, so
 * a short bounce while the main loop was busy is not missed). */
uint8_t hal_lid_opened(void);
/* Measured lamp current in mA (one ADC conversion). */
uint16_t hal_lamp_ma(uint8_t lamp);
/* Interlock test line: 1 opens the lid-switch loop. */
void hal_lid_test(uint8_t on);
/* 1 if the hardware watchdog timer is armed. */
uint8_t hal_watchdog_running(void);
/* Queue one byte for the host (blocks while the transmit buffer is full). */
void hal_putc(uint8_t c);

#endif
