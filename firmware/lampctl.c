/*
 * Lamp-controller core: docs/protocol.md 1.0 and the safety rules of its section 10.
 *
 * Single-threaded: lc_rx() and lc_poll() are called from the main loop, never from an
 * interrupt. Memory is static and small (the ATmega328P has 2 KB of RAM): one receive buffer,
 * the body and reply of the last command (duplicate suppression), nothing else of size.
 * Constant strings live in flash (LC_P) on the AVR.
 */
#include "lampctl.h"

#include <string.h>

#include "hal.h"

#define MAX_ARGS 12u
#define NONE 0xFFFFFFFFul

/* ------------------------------------------------------------------ state */
static char rx[LC_BODY_MAX + 8]; /* body, '*', 4 hex digits, '\r' */
static uint8_t rx_len;
static uint8_t in_frame;

static uint8_t cache_valid;
static uint16_t cache_seq;
static uint8_t cache_len;
static char cache_body[LC_BODY_MAX];
static char reply[LC_REPLY_MAX];
static uint8_t reply_len;

static uint8_t arg_n;
static uint8_t arg_k[MAX_ARGS], arg_kl[MAX_ARGS], arg_v[MAX_ARGS], arg_vl[MAX_ARGS];
static uint8_t verb_at, verb_len;

static uint32_t boot_id;
static uint32_t booted_at;
static uint8_t hello_seen;
static uint8_t level[2];
static uint32_t lease_until;
static uint32_t last_valid;
static uint8_t latched;
static uint8_t live;
static uint16_t evt;
static uint8_t lid_db, item_db;
static uint8_t lid_ms, item_ms;
static uint8_t lid_raw_prev;
static uint32_t last_sample;
static uint32_t last_sense;
static uint8_t bad_run[2];
static lc_stats_t stats;

/* ------------------------------------------------------------------ CRC */
static uint16_t crc_step(uint16_t crc, uint8_t byte) {
    uint8_t i;
    crc ^= (uint16_t)byte << 8;
    for (i = 0; i < 8; i++) {
        crc = (crc & 0x8000u) ? (uint16_t)((crc << 1) ^ 0x1021u) : (uint16_t)(crc << 1);
    }
    return crc;
}

uint16_t lc_crc16(const uint8_t *data, uint16_t len) {
    uint16_t crc = 0xFFFFu;
    while (len--) crc = crc_step(crc, *data++);
    return crc;
}

/* ------------------------------------------------------------------ frame output */
/* A frame is built either into a buffer (replies: kept for duplicate replay) or streamed
 * straight to the UART (events, NAK CRC), computing the CRC on the way. */
static struct {
    char *buf;
    uint8_t len;
    uint8_t cap;
    uint16_t crc;
} o;

static void raw(char c) {
    if (o.buf == 0) {
        hal_putc((uint8_t)c);
    } else if (o.len < o.cap) {
        o.buf[o.len++] = c;
    }
}

static void put(char c) {
    o.crc = crc_step(o.crc, (uint8_t)c);
    raw(c);
}

static void put_p(const char *p) {
    char c;
    while ((c = LC_RD(p++)) != 0) put(c);
}

static void put_u(uint32_t v) {
    char t[10];
    uint8_t n = 0;
    do {
        t[n++] = (char)('0' + v % 10u);
        v /= 10u;
    } while (v);
    while (n) put(t[--n]);
}

static char hex_digit(uint8_t v) { return (char)(v < 10 ? '0' + v : 'A' + v - 10); }

static void put_hex32(uint32_t v) {
    int8_t s;
    for (s = 28; s >= 0; s -= 4) put(hex_digit((uint8_t)((v >> s) & 0xFu)));
}

static void key(const char *k) {
    put(' ');
    put_p(k);
    put('=');
}

static void kv_p(const char *k, const char *v) {
    key(k);
    put_p(v);
}

static void kv_u(const char *k, uint32_t v) {
    key(k);
    put_u(v);
}

static void begin(char *buf, char kind, uint16_t seq, const char *verb) {
    o.buf = buf;
    o.len = 0;
    o.cap = buf ? LC_REPLY_MAX : 0;
    raw('$');
    o.crc = 0xFFFFu;
    put(kind);
    put_u(seq);
    put(' ');
    put_p(verb);
}

static void end(void) {
    int8_t s;
    raw('*');
    for (s = 12; s >= 0; s -= 4) raw(hex_digit((uint8_t)((o.crc >> s) & 0xFu)));
    raw('\r');
    raw('\n');
}

static void send_reply(void) {
    uint8_t i;
    for (i = 0; i < reply_len; i++) hal_putc((uint8_t)reply[i]);
}

static void event_begin(const char *name) {
    evt = evt < 65535u ? (uint16_t)(evt + 1u) : 1u;
    begin(0, 'E', evt, name);
}

/* ------------------------------------------------------------------ lamps */
static uint8_t lamps_on(void) { return (uint8_t)(level[0] || level[1]); }

static void set_lamps(uint8_t white, uint8_t uv) {
    level[LAMP_WHITE] = white;
    level[LAMP_UV] = uv;
    hal_lamps(white, uv);
    live = 0;
    bad_run[0] = bad_run[1] = 0;
    last_sense = hal_millis();
}

/* All lamps off; with a reason (a PSTR) the controller did it on its own: latch and tell. */
static void lamps_off(const char *reason, uint8_t bit) {
    uint8_t was_on = lamps_on();
    set_lamps(0, 0);
    lease_until = 0;
    if (was_on && reason) {
        latched |= bit;
        event_begin(LC_P("WATCHDOG"));
        kv_p(LC_P("reason"), reason);
        end();
    }
}

/* Compare one lamp's current with what its level should draw. 0 = fine. */
static uint8_t lamp_condition(uint8_t lamp, uint16_t ma) {
    uint32_t nominal = lamp == LAMP_WHITE ? LC_IW_NOM_MA : LC_IU_NOM_MA;
    uint32_t expected = nominal * level[lamp]; /* x100 */
    uint32_t got = (uint32_t)ma * 100u;
    uint8_t nostrike = lamp == LAMP_WHITE ? LC_F_W_NOSTRIKE : LC_F_U_NOSTRIKE;
    uint8_t low = lamp == LAMP_WHITE ? LC_F_W_LOW : LC_F_U_LOW;
    if (got * 20u < expected) return nostrike; /* below 5 % */
    if (got * 10u < expected * 7u) return low; /* below 70 % */
    return 0;
}

/* Measure both lamps; a condition that holds `confirm` samples in a row becomes a live fault
 * (with a LAMPFAULT event when it appears); one good sample clears it. */
static void sense_lamps(uint8_t confirm) {
    uint8_t lamp;
    uint8_t now_live = 0;
    for (lamp = 0; lamp < 2; lamp++) {
        uint16_t ma;
        uint8_t cond;
        if (!level[lamp]) {
            bad_run[lamp] = 0;
            continue;
        }
        ma = hal_lamp_ma(lamp);
        cond = lamp_condition(lamp, ma);
        if (!cond) {
            bad_run[lamp] = 0;
            continue;
        }
        if (bad_run[lamp] < 255) bad_run[lamp]++;
        if (bad_run[lamp] < confirm) {
            now_live |= (uint8_t)(live & cond);
            continue;
        }
        now_live |= cond;
        if (!(live & cond)) {
            event_begin(LC_P("LAMPFAULT"));
            kv_p(LC_P("lamp"), lamp == LAMP_WHITE ? LC_P("white") : LC_P("uv"));
            kv_p(LC_P("code"), (cond & (LC_F_W_NOSTRIKE | LC_F_U_NOSTRIKE)) ? LC_P("nostrike")
                                                                             : LC_P("low"));
            kv_u(LC_P("ma"), ma);
            end();
        }
    }
    live = now_live;
}

/* ------------------------------------------------------------------ inputs */
static void lid_event(uint8_t open) {
    event_begin(LC_P("LID"));
    kv_p(LC_P("state"), open ? LC_P("open") : LC_P("closed"));
    end();
}

static void sample_inputs(uint32_t now) {
    uint32_t dt = now - last_sample;
    uint8_t step = dt > 255u ? 255u : (uint8_t)dt;
    uint8_t raw_lid, raw_item;
    if (!step) return;
    last_sample = now;
    raw_lid = hal_lid_open();
    raw_item = hal_item_present();
    if (raw_lid != lid_db) {
        lid_ms = (uint8_t)(lid_ms + step > 255 ? 255 : lid_ms + step);
        if (lid_ms >= LC_LID_DEBOUNCE_MS) {
            lid_db = raw_lid;
            lid_ms = 0;
            lid_event(lid_db);
        }
    } else {
        lid_ms = 0;
    }
    if (raw_item != item_db) {
        item_ms = (uint8_t)(item_ms + step > 255 ? 255 : item_ms + step);
        if (item_ms >= LC_ITEM_DEBOUNCE_MS) {
            item_db = raw_item;
            item_ms = 0;
            event_begin(LC_P("ITEM"));
            kv_p(LC_P("present"), item_db ? LC_P("1") : LC_P("0"));
            end();
        }
    } else {
        item_ms = 0;
    }
}

/* Open for safety purposes: any sign of an open lid, debounced or not. */
static uint8_t lid_open_now(void) { return (uint8_t)(hal_lid_open() || lid_db); }

/* ------------------------------------------------------------------ public */
void lc_init(uint32_t id, uint8_t reset_cause) {
    uint32_t now = hal_millis();
    boot_id = id;
    booted_at = now;
    rx_len = 0;
    in_frame = 0;
    cache_valid = 0;
    hello_seen = 0;
    latched = 0;
    evt = 0;
    memset(&stats, 0, sizeof stats);
    set_lamps(0, 0);
    lease_until = 0;
    last_valid = now;
    last_sample = now;
    lid_db = hal_lid_open();
    lid_raw_prev = lid_db;
    (void)hal_lid_opened();
    item_db = hal_item_present();
    lid_ms = item_ms = 0;
    o.buf = 0;
    {
        const char *p = LC_P("LampCtl " LC_FW_VERSION " (c) booting... lamps off\r\n");
        char c;
        while ((c = LC_RD(p++)) != 0) hal_putc((uint8_t)c);
    }
    event_begin(LC_P("BOOT"));
    key(LC_P("boot"));
    put_hex32(boot_id);
    kv_p(LC_P("fw"), LC_P(LC_FW_VERSION));
    kv_p(LC_P("proto"), LC_P(LC_PROTO));
    end();
    if (reset_cause == LC_RESET_WATCHDOG) {
        event_begin(LC_P("WATCHDOG"));
        kv_p(LC_P("reason"), LC_P("reset"));
        end();
    }
}

void lc_poll(void) {
    uint32_t now = hal_millis();
    /* lid cut-off first: a raw open reading switches everything off, no debounce */
    uint8_t lid_raw = hal_lid_open();
    uint8_t lid_edge = (uint8_t)(hal_lid_opened() || (lid_raw && !lid_raw_prev));
    lid_raw_prev = lid_raw;
    if (lamps_on()) {
        if (lid_edge || (lid_raw && level[LAMP_UV])) {
            lamps_off(LC_P("lid"), LC_F_INTERLOCK);
        } else if ((int32_t)(now - lease_until) >= 0) {
            lamps_off(LC_P("lease"), LC_F_LEASE);
        } else if (now - last_valid >= LC_SILENCE_MS) {
            lamps_off(LC_P("silence"), LC_F_SILENCE);
        }
    }
    sample_inputs(now);
    if (lamps_on() && now - last_sense >= LC_SENSE_PERIOD_MS) {
        last_sense = now;
        sense_lamps(LC_SENSE_CONFIRM);
    }
}

const lc_stats_t *lc_stats(void) { return &stats; }
uint8_t lc_level(uint8_t lamp) { return level[lamp & 1u]; }
uint8_t lc_faults(void) { return (uint8_t)(latched | live); }

/* ------------------------------------------------------------------ parsing helpers */
static uint8_t eq_p(const char *s, uint8_t n, const char *p) {
    uint8_t i;
    for (i = 0; i < n; i++) {
        if (s[i] != LC_RD(p + i)) return 0;
    }
    return LC_RD(p + n) == 0;
}

/* "C<seq>" at the start of buf[0..n), up to the first space: the sequence number or -1. */
static int32_t head_seq(const char *buf, uint8_t n) {
    uint8_t i = 1;
    uint32_t v = 0;
    if (n < 2 || buf[0] != 'C') return -1;
    while (i < n && buf[i] != ' ') {
        if (buf[i] < '0' || buf[i] > '9' || i > 5) return -1;
        v = v * 10u + (uint32_t)(buf[i] - '0');
        i++;
    }
    if (i == 1 || v > 65535u) return -1;
    return (int32_t)v;
}

static int8_t hex_val(char c) {
    if (c >= '0' && c <= '9') return (int8_t)(c - '0');
    if (c >= 'A' && c <= 'F') return (int8_t)(c - 'A' + 10);
    if (c >= 'a' && c <= 'f') return (int8_t)(c - 'a' + 10);
    return -1;
}

static uint8_t key_char(char c) {
    return (uint8_t)((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_');
}

/* Split cache_body into head, verb and key=value arguments. 0 = syntax error. */
static uint8_t tokenize(void) {
    uint8_t i = 0, n = cache_len;
    while (i < n && cache_body[i] != ' ') i++;
    verb_at = verb_len = 0;
    arg_n = 0;
    if (i >= n) return 1;
    i++;
    verb_at = i;
    while (i < n && cache_body[i] != ' ') i++;
    verb_len = (uint8_t)(i - verb_at);
    while (i < n) {
        uint8_t k, v, j;
        i++; /* the space */
        k = i;
        while (i < n && key_char(cache_body[i])) i++;
        if (i == k || i >= n || cache_body[i] != '=') return 0;
        i++;
        v = i;
        while (i < n && cache_body[i] != ' ' && cache_body[i] != '=') i++;
        if (i == v || (i < n && cache_body[i] == '=')) return 0;
        if (arg_n >= MAX_ARGS) return 0;
        for (j = 0; j < arg_n; j++) {
            if (arg_kl[j] == v - 1 - k && memcmp(cache_body + arg_k[j], cache_body + k, arg_kl[j]) == 0) {
                return 0; /* keys are unique within a frame */
            }
        }
        arg_k[arg_n] = k;
        arg_kl[arg_n] = (uint8_t)(v - 1 - k);
        arg_v[arg_n] = v;
        arg_vl[arg_n] = (uint8_t)(i - v);
        arg_n++;
    }
    return 1;
}

/* index of argument `k` (a PSTR) or -1 */
static int8_t arg(const char *k) {
    uint8_t j;
    for (j = 0; j < arg_n; j++) {
        if (eq_p(cache_body + arg_k[j], arg_kl[j], k)) return (int8_t)j;
    }
    return -1;
}

/* unsigned decimal argument, or NONE if absent or not a number */
static uint32_t arg_u(const char *k) {
    int8_t j = arg(k);
    uint32_t v = 0;
    uint8_t i;
    if (j < 0 || arg_vl[(uint8_t)j] > 9) return NONE;
    for (i = 0; i < arg_vl[(uint8_t)j]; i++) {
        char c = cache_body[arg_v[(uint8_t)j] + i];
        if (c < '0' || c > '9') return NONE;
        v = v * 10u + (uint32_t)(c - '0');
    }
    return v;
}

/* ------------------------------------------------------------------ replies */
static void ok_begin(uint16_t seq) { begin(reply, 'R', seq, LC_P("OK")); }

static void nak(uint16_t seq, const char *code, const char *msg) {
    begin(reply, 'R', seq, LC_P("NAK"));
    kv_p(LC_P("code"), code);
    if (msg) kv_p(LC_P("msg"), msg);
}

static void cmd_hello(uint16_t seq) {
    int8_t j = arg(LC_P("proto"));
    if (j >= 0) {
        uint8_t n = 0;
        const char *v = cache_body + arg_v[(uint8_t)j];
        while (n < arg_vl[(uint8_t)j] && v[n] != '.') n++;
        if (!eq_p(v, n, LC_P(LC_PROTO_MAJOR_OK))) {
            nak(seq, LC_P("VERSION"), LC_P("controller_speaks_other_major"));
            kv_p(LC_P("proto"), LC_P(LC_PROTO));
            return;
        }
    }
    hello_seen = 1;
    ok_begin(seq);
    kv_p(LC_P("proto"), LC_P(LC_PROTO));
    kv_p(LC_P("fw"), LC_P(LC_FW_VERSION));
    kv_p(LC_P("board"), LC_P(LC_BOARD));
    key(LC_P("boot"));
    put_hex32(boot_id);
    kv_p(LC_P("caps"), LC_P("white,uv,lid,item,current"));
    kv_u(LC_P("lease_max"), LC_LEASE_MAX_MS);
    kv_u(LC_P("iw_nom"), LC_IW_NOM_MA);
    kv_u(LC_P("iu_nom"), LC_IU_NOM_MA);
}

static uint32_t lease_left(uint32_t now) {
    if (!lamps_on() || (int32_t)(lease_until - now) <= 0) return 0;
    return lease_until - now;
}

static void cmd_status(uint16_t seq) {
    uint32_t now = hal_millis();
    uint8_t f = (uint8_t)(latched | live);
    ok_begin(seq);
    kv_p(LC_P("lid"), lid_db ? LC_P("open") : LC_P("closed"));
    kv_p(LC_P("item"), item_db ? LC_P("1") : LC_P("0"));
    kv_u(LC_P("white"), level[LAMP_WHITE]);
    kv_u(LC_P("uv"), level[LAMP_UV]);
    kv_u(LC_P("iw"), hal_lamp_ma(LAMP_WHITE));
    kv_u(LC_P("iu"), hal_lamp_ma(LAMP_UV));
    key(LC_P("fault"));
    put(hex_digit((uint8_t)(f >> 4)));
    put(hex_digit((uint8_t)(f & 0xFu)));
    kv_u(LC_P("up"), now - booted_at);
    kv_u(LC_P("evt"), evt);
    kv_u(LC_P("lease"), lease_left(now));
    key(LC_P("boot"));
    put_hex32(boot_id);
}

static void cmd_lamp(uint16_t seq) {
    uint32_t white, uv, lease;
    if (!hello_seen) {
        nak(seq, LC_P("NOHELLO"), 0);
        return;
    }
    white = arg_u(LC_P("white"));
    uv = arg_u(LC_P("uv"));
    if (white == NONE || uv == NONE) {
        nak(seq, LC_P("SYNTAX"), LC_P("white_and_uv_needed"));
        return;
    }
    if (white > 100u || uv > 100u) {
        nak(seq, LC_P("RANGE"), LC_P("level_0_to_100"));
        return;
    }
    if (!white && !uv) {
        lamps_off(0, 0);
        latched &= (uint8_t)~(LC_F_SILENCE | LC_F_LEASE | LC_F_INTERLOCK);
        ok_begin(seq);
        kv_u(LC_P("white"), 0);
        kv_u(LC_P("uv"), 0);
        kv_u(LC_P("lease"), 0);
        return;
    }
    lease = arg_u(LC_P("lease"));
    if (lease == NONE || lease < LC_LEASE_MIN_MS || lease > LC_LEASE_MAX_MS) {
        {
        nak(seq, LC_P("RANGE"), LC_P("lease_out_of_range"));
        return;
    }
    }
    if (uv && lid_open_now()) {
        nak(seq, LC_P("INTERLOCK"), 0);
        return;
    }
    set_lamps((uint8_t)white, (uint8_t)uv);
    lease_until = hal_millis() + lease;
    latched &= (uint8_t)~(LC_F_SILENCE | LC_F_LEASE | LC_F_INTERLOCK);
    /* let the filtered current settle, then judge it at once (events before the reply) */
    hal_delay_ms(LC_SETTLE_MS);
    sense_lamps(1);
    ok_begin(seq);
    kv_u(LC_P("white"), white);
    kv_u(LC_P("uv"), uv);
    kv_u(LC_P("lease"), lease);
}

static void cmd_renew(uint16_t seq) {
    uint32_t lease;
    if (!hello_seen) {
        nak(seq, LC_P("NOHELLO"), 0);
        return;
    }
    lease = arg_u(LC_P("lease"));
    if (lease == NONE || lease < LC_LEASE_MIN_MS || lease > LC_LEASE_MAX_MS) {
        {
        nak(seq, LC_P("RANGE"), LC_P("lease_out_of_range"));
        return;
    }
    }
    if (lamps_on()) lease_until = hal_millis() + lease;
    ok_begin(seq);
    kv_u(LC_P("lease"), lamps_on() ? lease : 0);
}

static void cmd_test(uint16_t seq) {
    int8_t j = arg(LC_P("name"));
    const char *v = j >= 0 ? cache_body + arg_v[(uint8_t)j] : 0;
    uint8_t n = j >= 0 ? arg_vl[(uint8_t)j] : 0;
    if (v && eq_p(v, n, LC_P("interlock"))) {
        uint8_t follows;
        lamps_off(0, 0);
        hal_lid_test(1);
        hal_delay_ms(2);
        follows = hal_lid_open();
        hal_lid_test(0);
        hal_delay_ms(2);
        ok_begin(seq);
        kv_p(LC_P("name"), LC_P("interlock"));
        kv_p(LC_P("result"), follows ? LC_P("pass") : LC_P("fail"));
        kv_p(LC_P("detail"), follows ? LC_P("uv_driver_cut_by_lid") : LC_P("lid_switch_does_not_respond"));
        return;
    }
    if (v && eq_p(v, n, LC_P("watchdog"))) {
        uint8_t running = hal_watchdog_running();
        lamps_off(0, 0);
        ok_begin(seq);
        kv_p(LC_P("name"), LC_P("watchdog"));
        kv_p(LC_P("result"), running ? LC_P("pass") : LC_P("fail"));
        kv_p(LC_P("detail"), running ? LC_P("timer_running") : LC_P("timer_not_armed"));
        return;
    }
    nak(seq, LC_P("RANGE"), LC_P("unknown_test"));
}

static void execute(uint16_t seq) {
    const char *verb = cache_body + verb_at;
    uint8_t n = verb_len;
    uint8_t i;
    if (eq_p(verb, n, LC_P("HELLO"))) {
        cmd_hello(seq);
        return;
    }
    if (eq_p(verb, n, LC_P("PING"))) {
        ok_begin(seq);
        kv_u(LC_P("up"), hal_millis() - booted_at);
        return;
    }
    if (eq_p(verb, n, LC_P("STATUS"))) {
        cmd_status(seq);
        return;
    }
    if (eq_p(verb, n, LC_P("LAMP"))) {
        cmd_lamp(seq);
        return;
    }
    if (eq_p(verb, n, LC_P("RENEW"))) {
        cmd_renew(seq);
        return;
    }
    if (eq_p(verb, n, LC_P("OFF"))) {
        lamps_off(0, 0);
        ok_begin(seq);
        kv_u(LC_P("white"), 0);
        kv_u(LC_P("uv"), 0);
        return;
    }
    if (eq_p(verb, n, LC_P("TEST"))) {
        cmd_test(seq);
        return;
    }
    nak(seq, LC_P("UNKNOWN"), 0);
    /* name the verb when it is a plain word that fits */
    for (i = 0; i < n && n <= 16; i++) {
        if (verb[i] < 'A' || verb[i] > 'Z') break;
    }
    key(LC_P("msg"));
    put_p(LC_P("no_command_"));
    if (n && i == n && n <= 16) {
        for (i = 0; i < n; i++) put(verb[i]);
    } else {
        put_p(LC_P("none"));
    }
}

/* ------------------------------------------------------------------ frames in */
static void handle_line(void) {
    uint8_t len = rx_len, blen, i, ok;
    int16_t star = -1;
    int32_t seq;
    uint8_t is_hello;
    if (len && rx[len - 1] == '\r') len--;
    for (i = 0; i < len; i++) {
        if (rx[i] == '*') star = i;
    }
    blen = star >= 0 ? (uint8_t)star : len;
    seq = head_seq(rx, blen);
    ok = (uint8_t)(star >= 1 && len - star - 1 == 4 && blen <= LC_BODY_MAX);
    for (i = 0; ok && i < len; i++) {
        if (rx[i] == '\r' || (rx[i] == '*' && i != star)) ok = 0;
    }
    if (ok) {
        uint16_t want = 0;
        for (i = 0; i < 4; i++) {
            int8_t h = hex_val(rx[star + 1 + i]);
            if (h < 0) ok = 0;
            want = (uint16_t)((want << 4) | (uint8_t)(h & 0xF));
        }
        ok = (uint8_t)(ok && want == lc_crc16((const uint8_t *)rx, blen));
    }
    if (!ok) {
        stats.bad_frames++;
        if (seq >= 0) { /* the number survived: let the host retry at once (not cached) */
            begin(0, 'R', (uint16_t)seq, LC_P("NAK"));
            kv_p(LC_P("code"), LC_P("CRC"));
            end();
        }
        return;
    }
    last_valid = hal_millis();
    if (seq < 0) { /* a valid frame, but not a command (a reply or event echoed back) */
        stats.bad_frames++;
        return;
    }
    i = 0;
    while (i < blen && rx[i] != ' ') i++;
    is_hello = (uint8_t)(i + 6 <= blen && memcmp(rx + i, " HELLO", 6) == 0 &&
                         (i + 6 == blen || rx[i + 6] == ' '));
    if (!is_hello && cache_valid && cache_seq == (uint16_t)seq && cache_len == blen &&
        memcmp(cache_body, rx, blen) == 0) {
        stats.duplicates++;
        send_reply();
        return;
    }
    memcpy(cache_body, rx, blen);
    cache_len = blen;
    cache_valid = 0;
    if (!tokenize()) {
        nak((uint16_t)seq, LC_P("SYNTAX"), LC_P("bad_field"));
    } else {
        stats.commands++;
        execute((uint16_t)seq);
    }
    end();
    reply_len = o.len;
    cache_seq = (uint16_t)seq;
    cache_valid = 1;
    send_reply();
}

void lc_rx(uint8_t b) {
    if (b == '$') {
        if (in_frame && rx_len) stats.bad_frames++;
        rx_len = 0;
        in_frame = 1;
        return;
    }
    if (!in_frame) return;
    if (b == '\n') {
        in_frame = 0;
        handle_line();
        rx_len = 0;
        return;
    }
    if ((b >= 0x20 && b <= 0x7E) || b == '\r') {
        if (rx_len < sizeof rx) {
            rx[rx_len++] = (char)b;
            return;
        }
    }
    /* a byte that cannot be in a frame, or a frame too long: drop it, hunt for '$' */
    stats.bad_frames++;
    rx_len = 0;
    in_frame = 0;
}
