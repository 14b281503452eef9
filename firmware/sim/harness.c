/*
 * lampctl-sim: runs the lamp-controller firmware (.elf) on simavr's ATmega328P and wires its
 * pins to a world outside: the lid switch and item sensor inputs, the lamp-current sense
 * voltages on the ADC, and the duty cycle of both lamp PWM outputs.
 *
 * Control channel: text lines on stdin, reports on stdout (one line each):
 *   in   LID 0|1          the lid switch is physically open (1) or closed (0)
 *        STUCK -1|0|1     the switch is stuck closed (0) / open (1); -1 = works
 *        ITEM 0|1         an item is on the tray
 *        MA <w> <u>       lamp current (mA) each lamp draws at 100 % drive (0 = does not strike)
 *        TX <hex>         bytes on the host's transmit line (into UART0)
 *        RESET            press the reset button
 *        RUN <us>         step mode only: simulate this many microseconds, then report AT
 *        PEEK <addr> <n>  read n bytes of data memory (tests read the firmware's counters)
 *        QUIT
 *   out  READY <pty|->    started; the pseudo-terminal bridged to UART0 (with --pty)
 *        PWM <us> <white> <uv>  an output's duty changed; hundredths of a percent, at sim time
 *        RX <hex>         bytes UART0 transmitted (without --pty)
 *        AT <us>          step finished;  RESET <us>  reset done;  PEEK <hex>
 * Time: --realtime keeps simulated time in step with the wall clock (for a live host on a
 * serial port); otherwise time only moves on RUN, so tests are exact and repeatable.
 * The hardware around the MCU is modelled here: the UV driver's supply runs through the lid
 * switch (no UV current with the switch open), the interlock test line opens the switch loop,
 * and each sense voltage is duty x full-scale current x ISENSE_MV_PER_MA.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "avr_adc.h"
#include "avr_eeprom.h"
#include "avr_extint.h"
#include "avr_ioport.h"
#include "avr_uart.h"
#include "pins.h"
#include "sim_avr.h"
#include "sim_elf.h"
#include "sim_io.h"
#include "sim_irq.h"

#define FREQ 16000000ul
#if LID_PORT != ITEM_PORT
#error "the harness drives the lid and item inputs as one port"
#endif
/* ATmega328P data-space addresses */
#define PORT_ADDR(c) ((c) == 'B' ? 0x25 : (c) == 'C' ? 0x28 : 0x2B)
#define DDR_ADDR(c) (PORT_ADDR(c) - 1)
#define TCCR1A 0x80
#define TCCR1B 0x81
#define ICR1L 0x86
#define OCR1AL 0x88
#define OCR1BL 0x8A

static avr_t *avr;
static int ctl_out = 1;
static int realtime, use_pty;
static int pty_master = -1;
static char pty_name[128] = "-";

/* the world outside the MCU */
static int lid_open, lid_stuck = -1, item_present;
static long full_ma[2] = {350, 500};

/* what the pins last showed */
static int duty[2] = {-1, -1};
static int lid_pin = -1, item_pin = -1;
static int adc_mv[2] = {-1, -1};

/* UART0 */
static avr_irq_t *uart_in;
static uint8_t inq[1 << 16];
static size_t in_head, in_tail;
static int uart_xoff;
static uint8_t outq[1 << 14];
static size_t out_len;

static void say(const char *fmt, ...) {
    char line[1 << 15];
    va_list ap;
    int n;
    va_start(ap, fmt);
    n = vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    if ((size_t)n >= sizeof line) n = sizeof line - 1;
    for (int off = 0; off < n;) {
        ssize_t w = write(ctl_out, line + off, (size_t)(n - off));
        if (w < 0) {
            if (errno == EINTR) continue;
            exit(0); /* nobody is listening any more */
        }
        off += (int)w;
    }
}

static uint64_t sim_us(void) { return avr->cycle / (FREQ / 1000000ul); }

static uint64_t wall_us(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000u + (uint64_t)t.tv_nsec / 1000u;
}

/* ------------------------------------------------------------------ UART */
static void feed_uart(void) {
    while (!uart_xoff && in_tail != in_head) {
        avr_raise_irq(uart_in, inq[in_tail]);
        in_tail = (in_tail + 1) % sizeof inq;
    }
}

static void enqueue(const uint8_t *data, size_t n) {
    for (size_t i = 0; i < n; i++) {
        size_t next = (in_head + 1) % sizeof inq;
        if (next == in_tail) break; /* overrun: the line drops bytes */
        inq[in_head] = data[i];
        in_head = next;
    }
    feed_uart();
}

static void on_uart_out(struct avr_irq_t *irq, uint32_t value, void *param) {
    (void)irq;
    (void)param;
    if (out_len < sizeof outq) outq[out_len++] = (uint8_t)value;
}

static void on_xon(struct avr_irq_t *irq, uint32_t value, void *param) {
    (void)irq;
    (void)value;
    (void)param;
    uart_xoff = 0;
    feed_uart();
}

static void on_xoff(struct avr_irq_t *irq, uint32_t value, void *param) {
    (void)irq;
    (void)value;
    (void)param;
    uart_xoff = 1;
}

static void flush_uart_out(void) {
    if (!out_len) return;
    if (use_pty) {
        ssize_t w = write(pty_master, outq, out_len); /* a full pty drops, like an unread line */
        (void)w;
    } else {
        static char hex[2 * sizeof outq + 1];
        static const char digits[] = "0123456789ABCDEF";
        for (size_t i = 0; i < out_len; i++) {
            hex[2 * i] = digits[outq[i] >> 4];
            hex[2 * i + 1] = digits[outq[i] & 15];
        }
        hex[2 * out_len] = 0;
        say("RX %s\n", hex);
    }
    out_len = 0;
}

static void uart_setup(void) {
    uint32_t flags = 0;
    avr_ioctl(avr, AVR_IOCTL_UART_GET_FLAGS('0'), &flags);
    flags &= ~(uint32_t)(AVR_UART_FLAG_STDIO | AVR_UART_FLAG_POLL_SLEEP);
    avr_ioctl(avr, AVR_IOCTL_UART_SET_FLAGS('0'), &flags);
}

/* ------------------------------------------------------------------ pins */
static int port_bit(char port, int bit) { return (avr->data[PORT_ADDR(port)] >> bit) & 1; }
static int ddr_bit(char port, int bit) { return (avr->data[DDR_ADDR(port)] >> bit) & 1; }

/* Duty at an OC1x pin, in hundredths of a percent, from the timer and port registers. */
static int pwm_duty(int com1x1, int ocr_addr, char port, int bit) {
    uint8_t a = avr->data[TCCR1A], b = avr->data[TCCR1B];
    if (!ddr_bit(port, bit)) return 0; /* an input: the driver's gate resistor holds it off */
    if ((a & (1 << com1x1)) && (b & 7)) {
        unsigned top, ocr = avr->data[ocr_addr] | (avr->data[ocr_addr + 1] << 8);
        int wgm = (a & 3) | ((b >> 1) & 0xC);
        if (wgm == 14 || wgm == 12) {
            top = avr->data[ICR1L] | (avr->data[ICR1L + 1] << 8);
        } else {
            top = (wgm & 3) == 1 ? 0xFF : (wgm & 3) == 2 ? 0x1FF : 0x3FF;
        }
        if (ocr >= top) return 10000;
        return (int)((ocr + 1) * 10000u / (top + 1));
    }
    return port_bit(port, bit) ? 10000 : 0;
}

static void set_pin(char port, int bit, int level) {
    avr_raise_irq(avr_io_getirq(avr, AVR_IOCTL_IOPORT_GETIRQ(port), bit), (uint32_t)level);
}

/* Bring every input in line with the world and the outputs; report output changes. */
static void update_pins(int force) {
    int test_line = ddr_bit(LIDTEST_PORT, LIDTEST_BIT) && port_bit(LIDTEST_PORT, LIDTEST_BIT);
    int lid = lid_stuck >= 0 ? lid_stuck : (lid_open || test_line); /* high = open */
    int item = !item_present;                                       /* low = present */
    int d[2], mv[2];
    if (force || lid != lid_pin || item != item_pin) {
        /* what the pins read while they are inputs, whatever the pull-ups say */
        avr_ioport_external_t ext = {.name = LID_PORT,
                                     .mask = (1u << LID_BIT) | (1u << ITEM_BIT),
                                     .value = (unsigned)(lid << LID_BIT | item << ITEM_BIT)};
        avr_ioctl(avr, AVR_IOCTL_IOPORT_SET_EXTERNAL(LID_PORT), &ext);
        lid_pin = lid;
        item_pin = item;
        if (force) { /* a reset cleared PIN but not simavr's filtered IRQ value: toggle */
            set_pin(LID_PORT, LID_BIT, !lid);
            set_pin(ITEM_PORT, ITEM_BIT, !item);
        }
        set_pin(LID_PORT, LID_BIT, lid);
        set_pin(ITEM_PORT, ITEM_BIT, item);
    }
    d[0] = pwm_duty(7, OCR1AL, WHITE_PWM_PORT, WHITE_PWM_BIT);
    d[1] = pwm_duty(5, OCR1BL, UV_PWM_PORT, UV_PWM_BIT);
    if (d[0] != duty[0] || d[1] != duty[1]) {
        duty[0] = d[0];
        duty[1] = d[1];
        flush_uart_out(); /* keep the order of what the host and the lamps saw */
        say("PWM %llu %d %d\n", (unsigned long long)sim_us(), d[0], d[1]);
    }
    mv[0] = (int)(d[0] * full_ma[0] * ISENSE_MV_PER_MA / 10000);
    mv[1] = lid ? 0 : (int)(d[1] * full_ma[1] * ISENSE_MV_PER_MA / 10000);
    for (int i = 0; i < 2; i++) {
        if (force || mv[i] != adc_mv[i]) {
            adc_mv[i] = mv[i];
            int ch = i == 0 ? ISENSE_WHITE_BIT : ISENSE_UV_BIT;
            avr_raise_irq(avr_io_getirq(avr, AVR_IOCTL_ADC_GETIRQ, ADC_IRQ_ADC0 + ch),
                          (uint32_t)mv[i]);
        }
    }
}

static int step(void) {
    int state = avr_run(avr);
    update_pins(0);
    return state;
}

static void no_sleep(avr_t *a, avr_cycle_count_t how_long) {
    (void)a;
    (void)how_long; /* time is ours to keep: never usleep inside the core */
}

/* ------------------------------------------------------------------ control */
static int hexval(int c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static void run_for(uint64_t us) {
    uint64_t end = sim_us() + us;
    while (sim_us() < end) {
        int s = step();
        if (s == cpu_Done || s == cpu_Crashed) {
            say("ERR firmware stopped (state %d)\n", s);
            exit(2);
        }
    }
    flush_uart_out();
}

static void do_reset(void) {
    avr_reset(avr);
    uart_setup();
    uart_xoff = 0;
    duty[0] = duty[1] = -1;
    update_pins(1);
    say("RESET %llu\n", (unsigned long long)sim_us());
}

/* one control line; returns 0 on QUIT */
static int command(char *line) {
    long a = 0, b = 0;
    if (strncmp(line, "TX ", 3) == 0) {
        uint8_t buf[4096];
        size_t n = 0;
        for (char *p = line + 3; p[0] && p[1] && n < sizeof buf; p += 2) {
            int hi = hexval(p[0]), lo = hexval(p[1]);
            if (hi < 0 || lo < 0) break;
            buf[n++] = (uint8_t)(hi << 4 | lo);
        }
        enqueue(buf, n);
    } else if (sscanf(line, "LID %ld", &a) == 1) {
        lid_open = a != 0;
    } else if (sscanf(line, "STUCK %ld", &a) == 1) {
        lid_stuck = a < 0 ? -1 : a != 0;
    } else if (sscanf(line, "ITEM %ld", &a) == 1) {
        item_present = a != 0;
    } else if (sscanf(line, "MA %ld %ld", &a, &b) == 2) {
        full_ma[0] = a;
        full_ma[1] = b;
    } else if (strncmp(line, "RESET", 5) == 0) {
        do_reset();
        return 1;
    } else if (sscanf(line, "RUN %ld", &a) == 1 && !realtime) {
        run_for((uint64_t)(a < 0 ? 0 : a));
        say("AT %llu\n", (unsigned long long)sim_us());
        return 1;
    } else if (sscanf(line, "PEEK %ld %ld", &a, &b) == 2) {
        /* read data memory (test hook: counters of the firmware, by symbol address) */
        char hex[2 * 64 + 1] = "";
        for (long i = 0; i < b && i < 64 && a + i <= avr->ramend; i++) {
            snprintf(hex + 2 * i, 3, "%02X", avr->data[a + i]);
        }
        flush_uart_out();
        say("PEEK %s\n", hex);
        return 1;
    } else if (strncmp(line, "QUIT", 4) == 0) {
        return 0;
    } else if (line[0]) {
        say("ERR unknown control line: %.60s\n", line);
        return 1;
    }
    update_pins(0);
    return 1;
}

/* Read whatever stdin has and run the complete lines; 0 on QUIT or EOF. */
static int read_control(void) {
    static char buf[1 << 16];
    static size_t len;
    ssize_t n = read(0, buf + len, sizeof buf - 1 - len);
    if (n == 0) return 0;
    if (n < 0) return errno == EAGAIN || errno == EINTR;
    len += (size_t)n;
    for (;;) {
        char *nl = memchr(buf, '\n', len);
        size_t used;
        if (!nl) break;
        *nl = 0;
        if (nl > buf && nl[-1] == '\r') nl[-1] = 0;
        if (!command(buf)) return 0;
        used = (size_t)(nl - buf) + 1;
        memmove(buf, buf + used, len - used);
        len -= used;
    }
    if (len == sizeof buf - 1) len = 0; /* a line too long for anyone: drop it */
    return 1;
}

static void open_pty(void) {
    int slave;
    struct termios t;
    if (openpty(&pty_master, &slave, pty_name, NULL, NULL) < 0) {
        perror("openpty");
        exit(1);
    }
    tcgetattr(slave, &t);
    cfmakeraw(&t);
    tcsetattr(slave, TCSANOW, &t);
    close(slave); /* the host opens it by name */
    fcntl(pty_master, F_SETFL, fcntl(pty_master, F_GETFL) | O_NONBLOCK);
}

static void realtime_loop(void) {
    uint64_t wall0 = wall_us(), sim0 = sim_us();
    struct pollfd fds[2] = {{.fd = 0, .events = POLLIN}, {.fd = pty_master, .events = POLLIN}};
    int nfds = use_pty ? 2 : 1;
    for (;;) {
        uint64_t slice_end = sim_us() + 1000;
        int64_t ahead;
        while (sim_us() < slice_end) {
            int s = step();
            if (s == cpu_Done || s == cpu_Crashed) {
                say("ERR firmware stopped (state %d)\n", s);
                exit(2);
            }
        }
        flush_uart_out();
        ahead = (int64_t)(sim_us() - sim0) - (int64_t)(wall_us() - wall0);
        if (ahead < -2000000) { /* descheduled for seconds: do not race to catch up */
            wall0 = wall_us();
            sim0 = sim_us();
            ahead = 0;
        }
        {
            struct timespec ts = {0, ahead > 0 ? (long)ahead * 1000 : 0};
            if (ppoll(fds, (nfds_t)nfds, &ts, NULL) > 0) {
                if ((fds[0].revents & (POLLIN | POLLHUP)) && !read_control()) return;
                if (use_pty && (fds[1].revents & POLLIN)) {
                    uint8_t buf[512];
                    ssize_t n = read(pty_master, buf, sizeof buf);
                    if (n > 0) enqueue(buf, (size_t)n);
                }
            }
        }
    }
}

static void usage(void) {
    fprintf(stderr,
            "usage: lampctl-sim [--realtime] [--pty] [--seed N] [--lid 0|1] [--item 0|1]\n"
            "                   [--stuck -1|0|1] [--ma WHITE UV] firmware.elf\n");
    exit(64);
}

int main(int argc, char **argv) {
    const char *elf = NULL;
    unsigned long seed = 0;
    /* room to spare: the library may be built with fields (ELF_SYMBOLS) this header hides */
    static union {
        elf_firmware_t fw;
        char room[sizeof(elf_firmware_t) + 256];
    } fwu;
    elf_firmware_t *fwp = &fwu.fw;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--realtime")) {
            realtime = 1;
        } else if (!strcmp(a, "--pty")) {
            use_pty = 1;
        } else if (!strcmp(a, "--seed") && i + 1 < argc) {
            seed = strtoul(argv[++i], NULL, 0);
        } else if (!strcmp(a, "--lid") && i + 1 < argc) {
            lid_open = atoi(argv[++i]) != 0;
        } else if (!strcmp(a, "--item") && i + 1 < argc) {
            item_present = atoi(argv[++i]) != 0;
        } else if (!strcmp(a, "--stuck") && i + 1 < argc) {
            int v = atoi(argv[++i]);
            lid_stuck = v < 0 ? -1 : v != 0;
        } else if (!strcmp(a, "--ma") && i + 2 < argc) {
            full_ma[0] = atol(argv[++i]);
            full_ma[1] = atol(argv[++i]);
        } else if (a[0] == '-' || elf) {
            usage();
        } else {
            elf = a;
        }
    }
    if (!elf) usage();
    /* simavr logs to stdout: keep stdout for the control channel only */
    ctl_out = dup(1);
    dup2(2, 1);
    signal(SIGPIPE, SIG_IGN);

    if (elf_read_firmware(elf, fwp) != 0) {
        fprintf(stderr, "lampctl-sim: cannot read firmware %s\n", elf);
        return 1;
    }
    avr = avr_make_mcu_by_name("atmega328p");
    if (!avr) return 1;
    avr_init(avr);
    avr->log = LOG_ERROR;
    avr_load_firmware(avr, fwp);
    avr->frequency = FREQ;
    avr->vcc = avr->avcc = avr->aref = ADC_REF_MV;
    avr->sleep = no_sleep;
    {
        /* the per-board salt the boot id is mixed with (EEPROM bytes 4..7) */
        uint8_t salt[4] = {(uint8_t)seed, (uint8_t)(seed >> 8), (uint8_t)(seed >> 16),
                           (uint8_t)(seed >> 24 ^ 0x5E)};
        avr_eeprom_desc_t d = {.ee = salt, .offset = 4, .size = 4};
        avr_ioctl(avr, AVR_IOCTL_EEPROM_SET, &d);
    }
    /* simavr re-fires a low INT0/INT1 as if level-triggered; the firmware asks for "any
     * change", as the real chip does */
    avr_extint_set_strict_lvl_trig(avr, 0, 0);
    avr_extint_set_strict_lvl_trig(avr, 1, 0);
    uart_setup();
    uart_in = avr_io_getirq(avr, AVR_IOCTL_UART_GETIRQ('0'), UART_IRQ_INPUT);
    avr_irq_register_notify(avr_io_getirq(avr, AVR_IOCTL_UART_GETIRQ('0'), UART_IRQ_OUTPUT),
                            on_uart_out, NULL);
    avr_irq_register_notify(avr_io_getirq(avr, AVR_IOCTL_UART_GETIRQ('0'), UART_IRQ_OUT_XON),
                            on_xon, NULL);
    avr_irq_register_notify(avr_io_getirq(avr, AVR_IOCTL_UART_GETIRQ('0'), UART_IRQ_OUT_XOFF),
                            on_xoff, NULL);
    if (use_pty) open_pty();
    say("READY %s\n", pty_name);
    update_pins(1);

    if (realtime) {
        fcntl(0, F_SETFL, fcntl(0, F_GETFL) | O_NONBLOCK);
        realtime_loop();
    } else {
        /* step mode: nothing moves between control lines */
        for (;;) {
            struct pollfd p = {.fd = 0, .events = POLLIN};
            if (poll(&p, 1, -1) < 0 && errno != EINTR) break;
            if (!read_control()) break;
        }
    }
    avr_terminate(avr);
    return 0;
}
