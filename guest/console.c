/*
 * console.c - the serial console (COM1), kprintf, and how the guest ends.
 *
 * The host reads everything the guest says from COM1 (QEMU -serial).  One
 * spinlock of its own (not a pvlock: the console must work while a pvlock is
 * broken) keeps lines from different vCPUs apart.
 */
#include "guest/kernel.h"

#define COM1		0x3F8
#define COM_DATA	0	/* transmit holding register */
#define COM_IER		1	/* interrupt enable: we poll, so 0 */
#define COM_FCR		2	/* FIFO control */
#define COM_LCR		3	/* line control: 8N1, DLAB */
#define COM_MCR		4	/* modem control */
#define COM_LSR		5	/* line status: bit 5 = ready to send */
#define LCR_DLAB	0x80	/* data registers become the baud divisor */

/* QEMU's isa-debug-exit device: writing v here ends QEMU with status 2v+1. */
#define DEBUG_EXIT_PORT	0xf4

static uint32_t console_lock;

void console_init(void)
{
	outb(COM1 + COM_IER, 0x00);		/* no serial interrupts: we poll */
	outb(COM1 + COM_LCR, LCR_DLAB);		/* divisor 1 = 115200 baud */
	outb(COM1 + COM_DATA, 1);
	outb(COM1 + 1, 0);
	outb(COM1 + COM_LCR, 0x03);		/* 8 data bits, no parity, 1 stop */
	outb(COM1 + COM_FCR, 0x07);		/* FIFOs on and cleared */
	outb(COM1 + COM_MCR, 0x03);		/* DTR, RTS */
}

static void putc_raw(char c)
{
	while (!(inb(COM1 + COM_LSR) & 0x20))
		__builtin_ia32_pause();
	outb(COM1 + COM_DATA, (uint8_t)c);
}

static void puts_raw(const char *s)
{
	for (; *s; s++) {
		if (*s == '\n')
			putc_raw('\r');
		putc_raw(*s);
	}
}

/* Digits of v in base 10 or 16, right-aligned in at least width columns. */
static void put_number(char *out, size_t *n, uint64_t v, unsigned base, int width, char pad)
{
	char buf[24];
	int len = 0;

	do {
		buf[len++] = "0123456789abcdef"[v % base];
		v /= base;
	} while (v);
	while (width-- > len)
		out[(*n)++] = pad;
	while (len)
		out[(*n)++] = buf[--len];
}

/* A small printf: %s %c %d %u %x %p with l/ll, a width and '0' padding. */
void kvprintf(const char *fmt, va_list ap)
{
	char line[512];
	size_t n = 0;

	for (; *fmt && n < sizeof(line) - 32; fmt++) {
		if (*fmt != '%') {
			line[n++] = *fmt;
			continue;
		}
		fmt++;
		char pad = ' ';
		int width = 0, longs = 0;
		if (*fmt == '0')
			pad = '0';
		while (*fmt >= '0' && *fmt <= '9')
			width = width * 10 + (*fmt++ - '0');
		while (*fmt == 'l') {
			longs++;
			fmt++;
		}
		switch (*fmt) {
		case 's': {
			const char *s = va_arg(ap, const char *);
			int len = (int)strlen(s);
			while (width-- > len && n < sizeof(line) - 32)
				line[n++] = ' ';
			for (; *s && n < sizeof(line) - 32; s++)
				line[n++] = *s;
			break;
		}
		case 'c':
			line[n++] = (char)va_arg(ap, int);
			break;
		case 'd': {
			int64_t v = longs ? va_arg(ap, int64_t) : va_arg(ap, int);
			if (v < 0) {
				line[n++] = '-';
				v = -v;
			}
			put_number(line, &n, (uint64_t)v, 10, width, pad);
			break;
		}
		case 'u':
			put_number(line, &n, longs ? va_arg(ap, uint64_t) : va_arg(ap, unsigned),
				   10, width, pad);
			break;
		case 'x':
			put_number(line, &n, longs ? va_arg(ap, uint64_t) : va_arg(ap, unsigned),
				   16, width, pad);
			break;
		case 'p':
			line[n++] = '0';
			line[n++] = 'x';
			put_number(line, &n, (uint64_t)va_arg(ap, void *), 16, 0, '0');
			break;
		default:
			line[n++] = '%';
			line[n++] = *fmt;
			break;
		}
	}
	line[n] = 0;

	/* Interrupts off while we hold the console lock: a handler on this
	 * vCPU that prints would otherwise spin on it forever. */
	uint64_t flags = irq_save();
	while (__atomic_exchange_n(&console_lock, 1, __ATOMIC_ACQUIRE))
		__builtin_ia32_pause();
	puts_raw(line);
	__atomic_store_n(&console_lock, 0, __ATOMIC_RELEASE);
	irq_restore(flags);
}

void kprintf(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	kvprintf(fmt, ap);
	va_end(ap);
}

/* End the VM: status 0 is success.  Without the debug-exit device (another
 * launcher), halt; the host's watchdog ends us. */
void guest_exit(int status)
{
	kprintf("GUEST-EXIT %d\n", status);
	outb(DEBUG_EXIT_PORT, (uint8_t)status);
	for (;;)
		__asm__ __volatile__("cli; hlt");
}

void panic(const char *fmt, ...)
{
	va_list ap;

	kprintf("FAIL: guest: panic on cpu %u: ", this_cpu() ? this_cpu()->index : 0);
	va_start(ap, fmt);
	kvprintf(fmt, ap);
	va_end(ap);
	kprintf("\n");
	guest_exit(3);
}

/* The compiler may emit calls to these even with -ffreestanding. */
void *memset(void *s, int c, size_t n)
{
	unsigned char *p = s;

	while (n--)
		*p++ = (unsigned char)c;
	return s;
}

void *memcpy(void *d, const void *s, size_t n)
{
	unsigned char *dp = d;
	const unsigned char *sp = s;

	while (n--)
		*dp++ = *sp++;
	return d;
}

size_t strlen(const char *s)
{
	size_t n = 0;

	while (s[n])
		n++;
	return n;
}
