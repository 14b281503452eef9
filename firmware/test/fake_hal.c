/* hal.h over plain variables: the unit tests move time and flip pins by hand. */
#include "fake_hal.h"

#include <string.h>

#include "hal.h"

uint32_t fake_ms;
uint8_t fake_lid, fake_lid_stuck, fake_item, fake_watchdog;
uint16_t fake_full_ma[2];
uint8_t fake_out[2];
char fake_tx[8192];
size_t fake_tx_len;
static uint8_t test_line, opened;

void fake_reset(void) {
    fake_ms = 0;
    fake_lid = fake_lid_stuck = fake_item = 0;
    fake_watchdog = 1;
    fake_full_ma[0] = 350;
    fake_full_ma[1] = 500;
    fake_out[0] = fake_out[1] = 0;
    fake_tx_len = 0;
    test_line = opened = 0;
}

void fake_set_lid(uint8_t open) {
    if (open && !fake_lid) opened = 1;
    fake_lid = open;
}

uint32_t hal_millis(void) { return fake_ms; }
void hal_delay_ms(uint8_t ms) { fake_ms += ms; }

void hal_lamps(uint8_t white, uint8_t uv) {
    fake_out[0] = white;
    fake_out[1] = uv;
}

uint8_t hal_lid_open(void) { return (uint8_t)(fake_lid || (test_line && !fake_lid_stuck)); }

uint8_t hal_lid_opened(void) {
    uint8_t v = opened;
    opened = 0;
    return v;
}

uint8_t hal_item_present(void) { return fake_item; }

uint16_t hal_lamp_ma(uint8_t lamp) {
    /* the UV supply runs through the lid switch */
    if (lamp == LAMP_UV && hal_lid_open()) return 0;
    return (uint16_t)((uint32_t)fake_full_ma[lamp] * fake_out[lamp] / 100u);
}

void hal_lid_test(uint8_t on) { test_line = on; }
uint8_t hal_watchdog_running(void) { return fake_watchdog; }

void hal_putc(uint8_t c) {
    if (fake_tx_len < sizeof fake_tx) fake_tx[fake_tx_len++] = (char)c;
}
