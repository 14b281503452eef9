/*
 * Portable core of the lamp-controller firmware: docs/protocol.md 1.0 (framing, CRC, sequence
 * numbers, commands, events) and the safety state machine (lease, silence watchdog, lid
 * cut-off, UV interlock, lamp-current faults). No AVR code here: it runs on the board over
 * hal_avr.c and on the build machine over the unit tests' fake board.
 */
#ifndef LAMPCTL_H
#define LAMPCTL_H

#include <stdint.h>

#ifndef LC_FW_VERSION
#define LC_FW_VERSION "1.5.0"
#endif
/* protocol version spoken; a deliberately mismatched build sets LC_PROTO to test hosts */
#ifndef LC_PROTO
#define LC_PROTO "1.0"
#endif
#ifndef LC_PROTO_MAJOR_OK
#define LC_PROTO_MAJOR_OK "1"
#endif
#ifndef LC_BOARD
#define LC_BOARD "LC-000042"
#endif

#define LC_LEASE_MIN_MS 100u
#define LC_LEASE_MAX_MS 5000u
#define LC_SILENCE_MS 1000u
#define LC_IW_NOM_MA 350u
#define LC_IU_NOM_MA 500u
/* a lid reading must hold this long before it is reported (opening cuts lamps at once) */
#define LC_LID_DEBOUNCE_MS 10u
#define LC_ITEM_DEBOUNCE_MS 20u
/* current sense: settle after a level change, sample period, samples before a fault shows */
#define LC_SETTLE_MS 3u
#define LC_SENSE_PERIOD_MS 10u
#define LC_SENSE_CONFIRM 3u

#define LC_BODY_MAX 200u
#define LC_REPLY_MAX 168u

/* fault bits (protocol section 8) */
#define LC_F_W_NOSTRIKE 0x01u
#define LC_F_U_NOSTRIKE 0x02u
#define LC_F_W_LOW 0x04u
#define LC_F_U_LOW 0x08u
#define LC_F_SILENCE 0x10u
#define LC_F_LEASE 0x20u
#define LC_F_INTERLOCK 0x40u

/* reset causes given to lc_init */
enum { LC_RESET_POWER = 0, LC_RESET_WATCHDOG = 1 };

/* counters for tests and diagnostics */
typedef struct {
    uint16_t bad_frames;
    uint16_t commands;
    uint16_t duplicates;
} lc_stats_t;

void lc_init(uint32_t boot_id, uint8_t reset_cause);
/* one received byte */
void lc_rx(uint8_t byte);
/* timers, inputs, lamp currents: call on every main-loop pass (at least once per ms) */
void lc_poll(void);

uint16_t lc_crc16(const uint8_t *data, uint16_t len);
/* read-only views for tests */
const lc_stats_t *lc_stats(void);
uint8_t lc_level(uint8_t lamp);
uint8_t lc_faults(void);

#ifdef __AVR__
#include <avr/pgmspace.h>
#define LC_P(s) PSTR(s)
#define LC_RD(p) ((char)pgm_read_byte(p))
#else
#define LC_P(s) (s)
#define LC_RD(p) (*(const char *)(p))
#endif

#endif
