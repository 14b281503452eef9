/*
 * The board: ATmega328P at 16 MHz (Arduino Nano). Implements hal.h and runs the main loop.
 *
 * Timer 0: 1 ms tick. Timer 1: 20 kHz fast PWM on OC1A (white) and OC1B (UV). UART0: 115200
 * baud, interrupt driven, ring buffers. ADC: one conversion per reading, AVcc reference.
 * INT0 (lid): an opening lid cuts both PWM outputs inside the interrupt, before the main loop
 * even hears of it. The hardware watchdog (250 ms) resets a hung firmware; a reset always
 * starts with the lamp outputs low.
 */
#include <avr/eeprom.h>
#include <avr/interrupt.h>
#include <avr/io.h>
#include <avr/sleep.h>
#include <avr/wdt.h>
#include <util/atomic.h>
#include <util/delay.h>

#include "hal.h"
#include "lampctl.h"
#include "pins.h"

#define PORT_OF(c) (*((c) == 'B' ? &PORTB : (c) == 'C' ? &PORTC : &PORTD))
#define DDR_OF(c) (*((c) == 'B' ? &DDRB : (c) == 'C' ? &DDRC : &DDRD))
#define PIN_OF(c) (*((c) == 'B' ? &PINB : (c) == 'C' ? &PINC : &PIND))
#define BIT(n) ((uint8_t)(1u << (n)))

#define PWM_TOP 799u /* 16 MHz / 800 = 20 kHz */
#define RX_SIZE 64u
#define TX_SIZE 128u

static volatile uint32_t ms;
static volatile uint8_t rx_buf[RX_SIZE];
static volatile uint8_t rx_head, rx_tail;
static volatile uint8_t tx_buf[TX_SIZE];
static volatile uint8_t tx_head, tx_tail;
static volatile uint8_t lid_tripped;

/* MCUSR survives in here; kept out of .bss so the C runtime does not clear it first */
static uint8_t reset_flags __attribute__((section(".noinit")));

/* Runs before main and before .bss is cleared: a watchdog reset leaves the watchdog armed at
 * its shortest period, so read the cause and disarm it at once. */
void early_init(void) __attribute__((naked, used, section(".init3")));
void early_init(void) {
    reset_flags = MCUSR;
    MCUSR = 0;
    wdt_disable();
}

ISR(TIMER0_COMPA_vect) { ms++; }

ISR(USART_RX_vect) {
    uint8_t c = UDR0;
    uint8_t next = (uint8_t)((rx_head + 1u) % RX_SIZE);
    if (next != rx_tail) { /* full: drop, the CRC and the host's retry cover it */
        rx_buf[rx_head] = c;
        rx_head = next;
    }
}

ISR(USART_UDRE_vect) {
    if (tx_head == tx_tail) {
        UCSR0B &= (uint8_t)~BIT(UDRIE0);
        return;
    }
    UDR0 = tx_buf[tx_tail];
    tx_tail = (uint8_t)((tx_tail + 1u) % TX_SIZE);
}

static uint8_t lid_pin_open(void) { return (uint8_t)((PIN_OF(LID_PORT) & BIT(LID_BIT)) != 0); }

/* UV first: it is the one that must never outlive an open lid */
static void pwm_cut(void) {
    PORT_OF(UV_PWM_PORT) &= (uint8_t)~BIT(UV_PWM_BIT);
    TCCR1A &= (uint8_t)~(BIT(COM1A1) | BIT(COM1B1));
    PORT_OF(WHITE_PWM_PORT) &= (uint8_t)~BIT(WHITE_PWM_BIT);
}

/* Only a change from closed to open cuts: white may run with the lid already open. */
ISR(INT0_vect) {
    static uint8_t was_open;
    uint8_t open = lid_pin_open();
    if (open && !was_open) {
        pwm_cut();
        lid_tripped = 1;
    }
    was_open = open;
}

uint32_t hal_millis(void) {
    uint32_t v;
    ATOMIC_BLOCK(ATOMIC_RESTORESTATE) { v = ms; }
    return v;
}

void hal_delay_ms(uint8_t n) {
    while (n--) _delay_ms(1);
}

static void channel(uint8_t com_bit, volatile uint16_t *ocr, volatile uint8_t *port, uint8_t bit,
                    uint8_t level) {
    if (level == 0 || level >= 100) {
        TCCR1A &= (uint8_t)~BIT(com_bit);
        if (level) {
            *port |= BIT(bit);
        } else {
            *port &= (uint8_t)~BIT(bit);
        }
        return;
    }
    *ocr = (uint16_t)(level * 8u - 1u); /* duty = (OCR + 1) / (TOP + 1) = level % */
    TCCR1A |= BIT(com_bit);
}

void hal_lamps(uint8_t white, uint8_t uv) {
    ATOMIC_BLOCK(ATOMIC_RESTORESTATE) {
        if (lid_pin_open()) uv = 0; /* last line of defence; the core refuses it anyway */
        channel(COM1B1, &OCR1B, &PORT_OF(UV_PWM_PORT), UV_PWM_BIT, uv);
        channel(COM1A1, &OCR1A, &PORT_OF(WHITE_PWM_PORT), WHITE_PWM_BIT, white);
        if (white || uv) {
            PORT_OF(STATUS_LED_PORT) |= BIT(STATUS_LED_BIT);
        } else {
            PORT_OF(STATUS_LED_PORT) &= (uint8_t)~BIT(STATUS_LED_BIT);
        }
    }
}

uint8_t hal_lid_open(void) { return lid_pin_open(); }

uint8_t hal_lid_opened(void) {
    uint8_t v;
    ATOMIC_BLOCK(ATOMIC_RESTORESTATE) {
        v = lid_tripped;
        lid_tripped = 0;
    }
    return v;
}

uint8_t hal_item_present(void) { return (uint8_t)((PIN_OF(ITEM_PORT) & BIT(ITEM_BIT)) == 0); }

uint16_t hal_lamp_ma(uint8_t lamp) {
    uint32_t adc;
    ADMUX = (uint8_t)(BIT(REFS0) | (lamp == LAMP_WHITE ? ISENSE_WHITE_BIT : ISENSE_UV_BIT));
    ADCSRA = (uint8_t)(BIT(ADEN) | BIT(ADSC) | BIT(ADPS2) | BIT(ADPS1) | BIT(ADPS0));
    while (ADCSRA & BIT(ADSC)) {
    }
    adc = ADC;
    return (uint16_t)(adc * ADC_REF_MV / 1024u / ISENSE_MV_PER_MA);
}

void hal_lid_test(uint8_t on) {
    if (on) {
        PORT_OF(LIDTEST_PORT) |= BIT(LIDTEST_BIT);
    } else {
        PORT_OF(LIDTEST_PORT) &= (uint8_t)~BIT(LIDTEST_BIT);
    }
}

uint8_t hal_watchdog_running(void) { return (uint8_t)((WDTCSR & BIT(WDE)) != 0); }

void hal_putc(uint8_t c) {
    uint8_t next = (uint8_t)((tx_head + 1u) % TX_SIZE);
    while (next == tx_tail) {
        /* buffer full: the UDRE interrupt is draining it */
    }
    tx_buf[tx_head] = c;
    tx_head = next;
    UCSR0B |= BIT(UDRIE0);
}

static void init(void) {
    /* outputs low before anything else */
    DDR_OF(WHITE_PWM_PORT) |= BIT(WHITE_PWM_BIT);
    DDR_OF(UV_PWM_PORT) |= BIT(UV_PWM_BIT);
    DDR_OF(LIDTEST_PORT) |= BIT(LIDTEST_BIT);
    DDR_OF(STATUS_LED_PORT) |= BIT(STATUS_LED_BIT);
    pwm_cut();
    /* inputs with pull-ups */
    DDR_OF(LID_PORT) &= (uint8_t)~BIT(LID_BIT);
    PORT_OF(LID_PORT) |= BIT(LID_BIT);
    DDR_OF(ITEM_PORT) &= (uint8_t)~BIT(ITEM_BIT);
    PORT_OF(ITEM_PORT) |= BIT(ITEM_BIT);
    /* timer 0: 16 MHz / 64 / 250 = 1 kHz */
    TCCR0A = BIT(WGM01);
    TCCR0B = (uint8_t)(BIT(CS01) | BIT(CS00));
    OCR0A = 249;
    TIMSK0 = BIT(OCIE0A);
    /* timer 1: fast PWM, TOP = ICR1, no prescaler */
    ICR1 = PWM_TOP;
    TCCR1A = BIT(WGM11);
    TCCR1B = (uint8_t)(BIT(WGM13) | BIT(WGM12) | BIT(CS10));
    /* UART0: 115200 8N1, double speed */
    UCSR0A = BIT(U2X0);
    UBRR0 = 16;
    UCSR0C = (uint8_t)(BIT(UCSZ01) | BIT(UCSZ00));
    UCSR0B = (uint8_t)(BIT(RXEN0) | BIT(TXEN0) | BIT(RXCIE0));
    /* INT0 on any change of the lid input */
    EICRA = BIT(ISC00);
    EIMSK = BIT(INT0);
    set_sleep_mode(SLEEP_MODE_IDLE);
}

/* Boot id: a counter in EEPROM (differs on every reset and power-up) mixed with a per-board
 * salt, through a 32-bit finaliser so consecutive ids look unrelated. */
static uint32_t make_boot_id(void) {
    uint32_t count = eeprom_read_dword((uint32_t *)0) + 1u;
    uint32_t h = count ^ eeprom_read_dword((uint32_t *)4);
    eeprom_write_dword((uint32_t *)0, count);
    h ^= h >> 16;
    h *= 0x85EBCA6Bul;
    h ^= h >> 13;
    h *= 0xC2B2AE35ul;
    h ^= h >> 16;
    return h;
}

int main(void) {
    uint32_t id;
    init();
    id = make_boot_id();
    sei();
    lc_init(id, (reset_flags & BIT(WDRF)) ? LC_RESET_WATCHDOG : LC_RESET_POWER);
    wdt_enable(WDTO_250MS);
    for (;;) {
        wdt_reset();
        while (rx_tail != rx_head) {
            uint8_t c = rx_buf[rx_tail];
            rx_tail = (uint8_t)((rx_tail + 1u) % RX_SIZE);
            lc_rx(c);
        }
        lc_poll();
        cli();
        if (rx_tail == rx_head && !lid_tripped) {
            sleep_enable();
            sei();
            sleep_cpu(); /* the 1 ms tick, a byte or the lid wakes us */
            sleep_disable();
        } else {
            sei();
        }
    }
}
