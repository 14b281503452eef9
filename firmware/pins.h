/*
 * Pin map of the lamp controller: an Arduino Nano (ATmega328P, 16 MHz).
 *
 * One line per signal: <NAME>_PORT (AVR port letter), <NAME>_BIT, <NAME>_ARDUINO (the Nano's
 * silk-screen label). docs/hardware.md has the same table; tests/firmware/test_pinout.py
 * checks the two agree. Plain C with no AVR headers, so the simulator harness includes it too.
 */
#ifndef LAMPCTL_PINS_H
#define LAMPCTL_PINS_H

/* White LED driver PWM: OC1A, timer 1. High = driver on. */
#define WHITE_PWM_PORT 'B'
#define WHITE_PWM_BIT 1
#define WHITE_PWM_ARDUINO "D9"

/* UV (365 nm) LED driver PWM: OC1B, timer 1. High = driver on. Its supply runs through the
 * lid switch, so an open lid cuts UV in hardware whatever this pin does. */
#define UV_PWM_PORT 'B'
#define UV_PWM_BIT 2
#define UV_PWM_ARDUINO "D10"

/* Lid microswitch: INT0, internal pull-up. Closed lid pulls it low; an open lid or a broken
 * wire reads high (open), the safe side. */
#define LID_PORT 'D'
#define LID_BIT 2
#define LID_ARDUINO "D2"

/* Item sensor (open-collector reflective sensor): INT1, internal pull-up, low = item present. */
#define ITEM_PORT 'D'
#define ITEM_BIT 3
#define ITEM_ARDUINO "D3"

/* Interlock test line: high drives a MOSFET that opens the lid-switch loop, so the lid input
 * must read open and the UV supply must drop (TEST name=interlock). */
#define LIDTEST_PORT 'D'
#define LIDTEST_BIT 4
#define LIDTEST_ARDUINO "D4"

/* Status LED (on-board LED of the Nano): lit while any lamp is on. */
#define STATUS_LED_PORT 'B'
#define STATUS_LED_BIT 5
#define STATUS_LED_ARDUINO "D13"

/* Lamp current sense: shunt + amplifier, RC-filtered, into ADC0 (white) and ADC1 (UV). */
#define ISENSE_WHITE_PORT 'C'
#define ISENSE_WHITE_BIT 0
#define ISENSE_WHITE_ARDUINO "A0"
#define ISENSE_UV_PORT 'C'
#define ISENSE_UV_BIT 1
#define ISENSE_UV_ARDUINO "A1"

/* UART0 to the host through the Nano's USB-serial bridge. */
#define UART_RX_PORT 'D'
#define UART_RX_BIT 0
#define UART_RX_ARDUINO "D0"
#define UART_TX_PORT 'D'
#define UART_TX_BIT 1
#define UART_TX_ARDUINO "D1"

/* Current-sense scale: millivolts at the ADC pin per milliamp of lamp current
 * (0.5 ohm shunt, gain-10 amplifier). ADC reference is AVcc = 5000 mV. */
#define ISENSE_MV_PER_MA 5
#define ADC_REF_MV 5000

#endif
