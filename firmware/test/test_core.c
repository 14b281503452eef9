/*
 * Unit tests of the portable core on the build machine, over the fake board.
 * Built with LC_FW_VERSION "1.4.2" so replies can be compared byte for byte with the
 * known-good frames of docs/protocol.md section 11.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fake_hal.h"
#include "hal.h"
#include "lampctl.h"

static int failures, checks;
static char out[8192];

#define CHECK(cond)                                                         \
    do {                                                                    \
        checks++;                                                           \
        if (!(cond)) {                                                      \
            failures++;                                                     \
            fprintf(stderr, "%s:%d: %s: failed: %s\n", __FILE__, __LINE__, \
                    current, #cond);                                        \
        }                                                                   \
    } while (0)
#define CHECK_STR(got, want)                                                           \
    do {                                                                               \
        checks++;                                                                      \
        if (strcmp((got), (want)) != 0) {                                              \
            failures++;                                                                \
            fprintf(stderr, "%s:%d: %s:\n  got  %s\n  want %s\n", __FILE__, __LINE__, \
                    current, (got), (want));                                           \
        }                                                                              \
    } while (0)

static const char *current = "";

/* everything the board sent since the last call */
static const char *take(void) {
    memcpy(out, fake_tx, fake_tx_len);
    out[fake_tx_len] = 0;
    fake_tx_len = 0;
    return out;
}

static void feed(const char *s) {
    while (*s) lc_rx((uint8_t)*s++);
    lc_poll();
}

/* a command line from the host, framed with its CRC */
static void cmd(const char *body) {
    char line[300];
    snprintf(line, sizeof line, "$%s*%04X\r\n", body, lc_crc16((const uint8_t *)body, (uint16_t)strlen(body)));
    feed(line);
}

static void advance(uint32_t ms) {
    while (ms--) {
        fake_ms++;
        lc_poll();
    }
}

static void boot(void) {
    fake_reset();
    lc_init(0x5EED0001ul, LC_RESET_POWER);
    take();
}

static void hello(void) {
    cmd("C1 HELLO proto=1.0 host=test");
    take();
}

/* ------------------------------------------------------------------ tests */
static const char *known_good[] = {
    "$C1 HELLO proto=1.0 host=station-1*0BD7",
    "$R1 OK proto=1.0 fw=1.4.2 board=LC-000042 boot=5EED0001 caps=white,uv,lid,item,current "
    "lease_max=5000 iw_nom=350 iu_nom=500*909B",
    "$C2 LAMP white=0 uv=100 lease=800*FD0F",
    "$R2 OK white=0 uv=100 lease=800*62C3",
    "$R2 NAK code=INTERLOCK*43BB",
    "$C3 STATUS*A90A",
    "$R3 OK lid=closed item=1 white=0 uv=100 iw=0 iu=498 fault=00 up=15320 evt=4 lease=640 "
    "boot=5EED0001*1B06",
    "$C4 RENEW lease=800*69B2",
    "$C5 OFF*0CE3",
    "$C6 PING*BE9E",
    "$E5 LID state=open*A4B0",
    "$E6 WATCHDOG reason=lease*8E3D",
    "$E1 BOOT boot=5EED0002 fw=1.4.2*853F",
};

static void test_crc(void) {
    size_t i;
    current = "crc";
    CHECK(lc_crc16((const uint8_t *)"123456789", 9) == 0x29B1);
    for (i = 0; i < sizeof known_good / sizeof *known_good; i++) {
        const char *f = known_good[i];
        const char *star = strrchr(f, '*');
        unsigned want = (unsigned)strtoul(star + 1, 0, 16);
        CHECK(lc_crc16((const uint8_t *)f + 1, (uint16_t)(star - f - 1)) == want);
    }
}

static void test_boot(void) {
    current = "boot";
    fake_reset();
    lc_init(0x5EED0002ul, LC_RESET_POWER);
    /* the spec's BOOT frame, plus the proto field of section 9 */
    {
        const char *body = "E1 BOOT boot=5EED0002 fw=1.4.2 proto=1.0";
        char want[200];
        snprintf(want, sizeof want, "LampCtl 1.4.2 (c) booting... lamps off\r\n$%s*%04X\r\n", body,
                 lc_crc16((const uint8_t *)body, (uint16_t)strlen(body)));
        CHECK_STR(take(), want);
    }
    CHECK(fake_out[0] == 0 && fake_out[1] == 0);
    current = "boot after watchdog reset";
    fake_reset();
    lc_init(1, LC_RESET_WATCHDOG);
    CHECK(strstr(take(), " WATCHDOG reason=reset*") != 0);
}

/* The whole known-good session of the spec, byte for byte. */
static void test_spec_session(void) {
    current = "spec session";
    boot();
    fake_full_ma[1] = 498;
    /* three events after BOOT so that STATUS reports evt=4 */
    fake_set_lid(1);
    advance(20);
    fake_set_lid(0);
    advance(20);
    fake_item = 1;
    advance(30);
    take();
    feed("$C1 HELLO proto=1.0 host=station-1*0BD7\r\n");
    CHECK_STR(take(), "$R1 OK proto=1.0 fw=1.4.2 board=LC-000042 boot=5EED0001 "
                      "caps=white,uv,lid,item,current lease_max=5000 iw_nom=350 iu_nom=500*909B\r\n");
    advance(15160 - fake_ms);
    feed("$C2 LAMP white=0 uv=100 lease=800*FD0F\r\n");
    CHECK_STR(take(), "$R2 OK white=0 uv=100 lease=800*62C3\r\n");
    CHECK(fake_out[1] == 100 && fake_out[0] == 0);
    advance(15320 - fake_ms);
    feed("$C3 STATUS*A90A\r\n");
    CHECK_STR(take(), "$R3 OK lid=closed item=1 white=0 uv=100 iw=0 iu=498 fault=00 up=15320 evt=4 "
                      "lease=640 boot=5EED0001*1B06\r\n");
    feed("$C4 RENEW lease=800*69B2\r\n");
    CHECK(strncmp(take(), "$R4 OK lease=800*", 17) == 0);
    feed("$C5 OFF*0CE3\r\n");
    CHECK(strncmp(take(), "$R5 OK white=0 uv=0*", 20) == 0);
    CHECK(fake_out[1] == 0);
    feed("$C6 PING*BE9E\r\n");
    CHECK(strncmp(take(), "$R6 OK up=", 10) == 0);
    /* lid opens with lamps off: only the LID event, after the debounce */
    fake_set_lid(1);
    advance(LC_LID_DEBOUNCE_MS + 1);
    CHECK_STR(take(), "$E5 LID state=open*A4B0\r\n");
    /* UV refused while open, exactly as in the spec */
    feed("$C2 LAMP white=0 uv=100 lease=800*FD0F\r\n");
    /* a different body than the cached C2, so it is executed as new */
    cmd("C7 LAMP white=0 uv=100 lease=800");
    CHECK(strstr(take(), "$R7 NAK code=INTERLOCK*") != 0);
    cmd("C8 LAMP white=40 uv=0 lease=300");
    take();
    CHECK(fake_out[0] == 40);
    advance(301);
    CHECK_STR(take(), "$E6 WATCHDOG reason=lease*8E3D\r\n");
    CHECK(fake_out[0] == 0);
}

static void test_interlock_nak_exact(void) {
    current = "interlock nak";
    boot();
    hello();
    fake_set_lid(1);
    advance(20);
    take();
    feed("$C2 LAMP white=0 uv=100 lease=800*FD0F\r\n");
    CHECK_STR(take(), "$R2 NAK code=INTERLOCK*43BB\r\n");
    CHECK(fake_out[1] == 0);
}

static void test_nohello(void) {
    current = "nohello";
    boot();
    cmd("C3 LAMP white=10 uv=0 lease=500");
    CHECK(strstr(take(), "R3 NAK code=NOHELLO") != 0);
    cmd("C4 RENEW lease=500");
    CHECK(strstr(take(), "R4 NAK code=NOHELLO") != 0);
    CHECK(fake_out[0] == 0);
    cmd("C5 STATUS");
    CHECK(strstr(take(), "R5 OK lid=closed") != 0);
}

static void test_duplicates(void) {
    char first[300];
    current = "duplicates";
    boot();
    hello();
    cmd("C2 LAMP white=20 uv=0 lease=1000");
    strcpy(first, take());
    {
        uint16_t executed = lc_stats()->commands;
        cmd("C2 LAMP white=20 uv=0 lease=1000");
        CHECK_STR(take(), first);
        CHECK(lc_stats()->commands == executed);
        CHECK(lc_stats()->duplicates == 1);
        /* same number, different body: executed as new */
        cmd("C2 LAMP white=30 uv=0 lease=1000");
        CHECK(strstr(take(), "R2 OK white=30") != 0);
        CHECK(fake_out[0] == 30);
        /* STATUS replayed, not re-read: the cached reply is byte-identical */
        cmd("C3 STATUS");
        strcpy(first, take());
        advance(50);
        cmd("C3 STATUS");
        CHECK_STR(take(), first);
    }
    current = "hello clears the cache";
    cmd("C3 HELLO proto=1.0 host=x");
    take();
    cmd("C4 PING");
    strcpy(first, take());
    cmd("C1 HELLO proto=1.0 host=x");
    take();
    advance(5);
    cmd("C4 PING");
    CHECK(strcmp(take(), first) != 0); /* a fresh uptime: executed, not replayed */
}

static void test_crc_error(void) {
    current = "crc error";
    boot();
    hello();
    feed("$C7 LAMP white=50 uv=0 lease=900*0000\r\n");
    CHECK(strncmp(take(), "$R7 NAK code=CRC*", 17) == 0);
    CHECK(fake_out[0] == 0);
    CHECK(lc_stats()->bad_frames == 1);
    /* a damaged number: no answer at all */
    feed("$X7 LAMP white=50 uv=0 lease=900*0000\r\n");
    CHECK_STR(take(), "");
    /* lower-case hex digits are accepted */
    {
        char line[100];
        const char *body = "C9 PING";
        snprintf(line, sizeof line, "$%s*%04x\n", body, lc_crc16((const uint8_t *)body, 7));
        feed(line);
        CHECK(strncmp(take(), "$R9 OK up=", 10) == 0);
    }
}

/* the NAK CRC reply names the seq; check its whole frame */
static void test_crc_nak_frame(void) {
    const char *o;
    current = "nak crc frame";
    boot();
    feed("$C7 PING*1234\r\n");
    o = take();
    {
        const char *body = "R7 NAK code=CRC";
        char want[64];
        snprintf(want, sizeof want, "$%s*%04X\r\n", body, lc_crc16((const uint8_t *)body, 15));
        CHECK_STR(o, want);
    }
}

static void test_resync(void) {
    char noise[64];
    int i;
    current = "resync";
    boot();
    hello();
    for (i = 0; i < 63; i++) noise[i] = (char)(0x80 + i * 7);
    noise[63] = 0;
    feed(noise);
    feed("$C2 PI\x01NG*0000\r\n"); /* control byte inside a frame: dropped, no answer */
    feed("garbage $C9 half a fr");
    cmd("C3 PING");
    CHECK(strncmp(take(), "$R3 OK up=", 10) == 0);
    CHECK(lc_stats()->bad_frames >= 2);
    current = "too long";
    {
        char body[260];
        memset(body, 'a', sizeof body);
        memcpy(body, "C4 PING x=", 10);
        body[205] = 0;
        cmd(body);
        CHECK_STR(take(), "");
    }
    current = "seq limits";
    cmd("C65535 PING");
    CHECK(strncmp(take(), "$R65535 OK", 10) == 0);
    cmd("C65536 PING");
    CHECK_STR(take(), "");
}

static void test_silence_watchdog(void) {
    current = "silence";
    boot();
    hello();
    cmd("C2 LAMP white=50 uv=50 lease=5000");
    take();
    advance(600 - LC_SETTLE_MS); /* LAMP waited for the current to settle */
    feed("\x00garbage$$$\r\n"); /* not a valid frame: does not feed the watchdog */
    advance(399);
    CHECK(fake_out[0] == 50 && fake_out[1] == 50);
    advance(2);
    CHECK(fake_out[0] == 0 && fake_out[1] == 0);
    CHECK(strstr(take(), "WATCHDOG reason=silence") != 0);
    CHECK(lc_faults() == LC_F_SILENCE);
    /* latched until the next accepted LAMP */
    cmd("C3 LAMP white=10 uv=0 lease=400");
    take();
    CHECK(lc_faults() == 0);
}

static void test_lease(void) {
    current = "lease";
    boot();
    hello();
    cmd("C2 LAMP white=50 uv=0 lease=300");
    take();
    advance(200);
    cmd("C3 RENEW lease=300");
    CHECK(strstr(take(), "R3 OK lease=300") != 0);
    advance(299);
    CHECK(fake_out[0] == 50);
    advance(2);
    CHECK(fake_out[0] == 0);
    CHECK(strstr(take(), "WATCHDOG reason=lease") != 0);
    CHECK(lc_faults() == LC_F_LEASE);
    cmd("C4 RENEW lease=300");
    CHECK(strstr(take(), "R4 OK lease=0") != 0);
    current = "lease range";
    cmd("C5 LAMP white=50 uv=0 lease=99");
    CHECK(strstr(take(), "NAK code=RANGE") != 0);
    cmd("C6 LAMP white=50 uv=0 lease=5001");
    CHECK(strstr(take(), "NAK code=RANGE") != 0);
    cmd("C7 LAMP white=50 uv=0");
    CHECK(strstr(take(), "NAK code=RANGE") != 0);
    CHECK(fake_out[0] == 0);
    cmd("C8 RENEW lease=6000");
    CHECK(strstr(take(), "NAK code=RANGE") != 0);
}

static void test_lid(void) {
    const char *o;
    current = "lid cut-off";
    boot();
    hello();
    cmd("C2 LAMP white=30 uv=100 lease=2000");
    take();
    fake_set_lid(1);
    lc_poll(); /* one pass: no debounce on the way to safety */
    CHECK(fake_out[0] == 0 && fake_out[1] == 0);
    CHECK(lc_faults() & LC_F_INTERLOCK);
    o = take();
    CHECK(strstr(o, "WATCHDOG reason=lid") != 0 && strstr(o, "LID") == 0);
    advance(LC_LID_DEBOUNCE_MS);
    CHECK(strstr(take(), "LID state=open") != 0);
    current = "white allowed with the lid open, uv not";
    cmd("C3 LAMP white=30 uv=0 lease=2000");
    CHECK(strstr(take(), "R3 OK") != 0);
    advance(5);
    CHECK(fake_out[0] == 30);
    cmd("C4 LAMP white=30 uv=1 lease=2000");
    CHECK(strstr(take(), "R4 NAK code=INTERLOCK") != 0);
    CHECK(fake_out[0] == 30 && fake_out[1] == 0); /* a NAK changes nothing */
    current = "bounce";
    fake_set_lid(0);
    advance(LC_LID_DEBOUNCE_MS + 1);
    take();
    cmd("C5 LAMP white=0 uv=80 lease=2000");
    take();
    fake_set_lid(1);
    lc_poll();
    fake_set_lid(0);
    advance(LC_LID_DEBOUNCE_MS + 5);
    o = take();
    CHECK(fake_out[1] == 0);                  /* a bounce still cuts the lamps */
    CHECK(strstr(o, "LID state=") == 0);      /* but is not reported as a lid change */
    current = "uv refused during the debounce of a closing lid";
    fake_set_lid(1);
    advance(LC_LID_DEBOUNCE_MS + 1);
    fake_set_lid(0);
    lc_poll();
    cmd("C6 LAMP white=0 uv=80 lease=2000");
    CHECK(strstr(take(), "NAK code=INTERLOCK") != 0);
}

static void test_item(void) {
    current = "item";
    boot();
    fake_item = 1;
    advance(LC_ITEM_DEBOUNCE_MS - 2);
    CHECK_STR(take(), "");
    advance(3);
    CHECK(strstr(take(), "ITEM present=1") != 0);
    cmd("C1 STATUS");
    CHECK(strstr(take(), " item=1 ") != 0);
}

static void test_lamp_faults(void) {
    const char *o;
    current = "nostrike";
    boot();
    hello();
    fake_full_ma[1] = 0;
    cmd("C2 LAMP white=0 uv=100 lease=2000");
    o = take();
    CHECK(strstr(o, "LAMPFAULT lamp=uv code=nostrike ma=0") != 0);
    CHECK(strstr(o, "LAMPFAULT") < strstr(o, "$R2 OK")); /* the event comes first */
    CHECK(lc_faults() == LC_F_U_NOSTRIKE);
    current = "low";
    fake_full_ma[1] = 500;
    fake_full_ma[0] = 100; /* 29 % of the nominal 350 */
    cmd("C3 LAMP white=50 uv=100 lease=2000");
    o = take();
    CHECK(strstr(o, "LAMPFAULT lamp=white code=low ma=50") != 0);
    CHECK(lc_faults() == LC_F_W_LOW);
    current = "fault appearing later needs confirming samples";
    fake_full_ma[0] = 350;
    cmd("C4 LAMP white=50 uv=100 lease=2000");
    take();
    CHECK(lc_faults() == 0);
    fake_full_ma[1] = 0;
    advance(LC_SENSE_PERIOD_MS * (LC_SENSE_CONFIRM - 1));
    CHECK(lc_faults() == 0);
    advance(LC_SENSE_PERIOD_MS);
    CHECK(lc_faults() == LC_F_U_NOSTRIKE);
    CHECK(strstr(take(), "LAMPFAULT lamp=uv code=nostrike") != 0);
    fake_full_ma[1] = 500;
    advance(LC_SENSE_PERIOD_MS);
    CHECK(lc_faults() == 0);
}

static void test_self_tests(void) {
    current = "self tests";
    boot();
    hello();
    cmd("C2 LAMP white=50 uv=0 lease=2000");
    take();
    cmd("C3 TEST name=nonsense");
    CHECK(strstr(take(), "R3 NAK code=RANGE") != 0);
    CHECK(fake_out[0] == 50); /* refused: no effect */
    cmd("C4 TEST name=interlock");
    CHECK(strstr(take(), "R4 OK name=interlock result=pass detail=uv_driver_cut_by_lid") != 0);
    CHECK(fake_out[0] == 0);
    fake_lid_stuck = 1;
    cmd("C5 TEST name=interlock");
    CHECK(strstr(take(), "result=fail detail=lid_switch_does_not_respond") != 0);
    cmd("C6 TEST name=watchdog");
    CHECK(strstr(take(), "result=pass detail=timer_running") != 0);
    fake_watchdog = 0;
    cmd("C7 TEST name=watchdog");
    CHECK(strstr(take(), "result=fail") != 0);
}

static void test_refusals(void) {
    current = "refusals";
    boot();
    hello();
    cmd("C2 LAMP white=101 uv=0 lease=500");
    CHECK(strstr(take(), "R2 NAK code=RANGE") != 0);
    cmd("C3 LAMP white=10 lease=500");
    CHECK(strstr(take(), "R3 NAK code=SYNTAX") != 0);
    cmd("C4 LAMP white=10 white=20 uv=0 lease=500");
    CHECK(strstr(take(), "R4 NAK code=SYNTAX") != 0);
    cmd("C5 LAMP white=x uv=0 lease=500");
    CHECK(strstr(take(), "R5 NAK code=SYNTAX") != 0);
    cmd("C6 FLY to=moon");
    CHECK(strstr(take(), "R6 NAK code=UNKNOWN msg=no_command_FLY*") != 0);
    cmd("C7");
    CHECK(strstr(take(), "R7 NAK code=UNKNOWN msg=no_command_none*") != 0);
    cmd("C8 HELLO proto=2.0 host=x");
    CHECK(strstr(take(), "R8 NAK code=VERSION") != 0);
    cmd("C9 PING extra=ignored");
    CHECK(strstr(take(), "R9 OK up=") != 0);
    CHECK(fake_out[0] == 0 && fake_out[1] == 0);
    current = "lamp 0 0 is off";
    cmd("C10 LAMP white=20 uv=0 lease=500");
    cmd("C11 LAMP white=0 uv=0");
    CHECK(strstr(take(), "R11 OK white=0 uv=0 lease=0") != 0);
    CHECK(fake_out[0] == 0);
}

int main(void) {
    test_crc();
    test_boot();
    test_spec_session();
    test_interlock_nak_exact();
    test_nohello();
    test_duplicates();
    test_crc_error();
    test_crc_nak_frame();
    test_resync();
    test_silence_watchdog();
    test_lease();
    test_lid();
    test_item();
    test_lamp_faults();
    test_self_tests();
    test_refusals();
    printf("%d checks, %d failed\n", checks, failures);
    return failures ? 1 : 0;
}
