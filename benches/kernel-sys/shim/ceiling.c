/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Not the kernel's code: a ceiling for the write benchmark. It lays the
 * bytes out as a block set does (each 4 KiB page a 16-byte header, next
 * then count, one block's entries, zeros to the end) with nothing else
 * to do: no allocation, no checks, the pages known and contiguous. Every
 * line is written once and whole with movntdq, two pages in step as
 * glibc's large memcpy goes. Of the loops tried on the benchmark machine
 * (prefetching or not; more pages in step), none was more than 2% faster
 * (BENCHMARKS.md). No write of the format can beat it by much, so the
 * kernel's time over this one bounds how much faster than the kernel any
 * write can be on the machine it runs on.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#ifdef __x86_64__
#include <emmintrin.h>
#endif

#define CEIL_PAGE 4096
#define CEIL_HDR 16

/* One 64-byte line, `d` 16-byte aligned. */
static inline void ceil_line(unsigned char *d, const unsigned char *s)
{
#ifdef __x86_64__
	__m128i a = _mm_loadu_si128((const __m128i *)s);
	__m128i b = _mm_loadu_si128((const __m128i *)(s + 16));
	__m128i c = _mm_loadu_si128((const __m128i *)(s + 32));
	__m128i e = _mm_loadu_si128((const __m128i *)(s + 48));

	_mm_stream_si128((__m128i *)d, a);
	_mm_stream_si128((__m128i *)(d + 16), b);
	_mm_stream_si128((__m128i *)(d + 32), c);
	_mm_stream_si128((__m128i *)(d + 48), e);
#else
	memcpy(d, s, 64);
#endif
}

/* The first line of a page: its header and the body's first 48 bytes. */
static inline void ceil_first(unsigned char *page, uint64_t next, uint64_t count,
			      const unsigned char *body)
{
	unsigned char line[64];

	memcpy(line, &next, 8);
	memcpy(line + 8, &count, 8);
	memcpy(line + CEIL_HDR, body, 64 - CEIL_HDR);
	ceil_line(page, line);
}

/* From line `from` (the first not filled by the body) to the page's end:
 * the body's last bytes `tail` (`tail_len` < 64), then zero lines. */
static inline void ceil_finish(unsigned char *page, size_t from,
			       const unsigned char *tail, size_t tail_len)
{
	static const unsigned char zero[64];
	unsigned char line[64] = { 0 };

	if (tail_len) {
		memcpy(line, tail, tail_len);
		ceil_line(page + from * 64, line);
		from++;
	}
	for (; from < CEIL_PAGE / 64; from++)
		ceil_line(page + from * 64, zero);
}

/*
 * Writes `blocks` full blocks of `body` bytes each (48 <= body <= 4080)
 * from `src` into the pages from `pages` (64-byte aligned), chained in
 * order, the last one's next 0. `blocks` even.
 */
void kbench_ceiling_write(const unsigned char *src, size_t blocks, size_t body,
			  size_t entry_size, unsigned char *pages)
{
	size_t whole = (CEIL_HDR + body) / 64, tail = (CEIL_HDR + body) % 64;

	for (size_t p = 0; p + 1 < blocks; p += 2) {
		unsigned char *pa = pages + p * CEIL_PAGE, *pb = pa + CEIL_PAGE;
		const unsigned char *sa = src + p * body, *sb = sa + body;
		uint64_t next_b = p + 2 < blocks ? (uint64_t)(uintptr_t)(pb + CEIL_PAGE) : 0;

		ceil_first(pa, (uint64_t)(uintptr_t)pb, body / entry_size, sa);
		ceil_first(pb, next_b, body / entry_size, sb);
		for (size_t l = 1; l < whole; l++) {
			ceil_line(pa + l * 64, sa + l * 64 - CEIL_HDR);
			ceil_line(pb + l * 64, sb + l * 64 - CEIL_HDR);
		}
		ceil_finish(pa, whole, sa + whole * 64 - CEIL_HDR, tail);
		ceil_finish(pb, whole, sb + whole * 64 - CEIL_HDR, tail);
	}
#ifdef __x86_64__
	_mm_sfence();
#endif
}
