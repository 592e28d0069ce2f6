/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Just enough of the kernel for kho_block.c to build and run in a user
 * process, for benchmarking: the kernel's own list.h semantics, kzalloc and
 * kfree on the C heap, physical = virtual, and KHO's page allocation from a
 * pre-faulted, pre-zeroed pool (kbench.c), as kho's SimMemory hands out
 * pre-zeroed pages. Nothing here is used outside benches/.
 */
#ifndef KHO_SHIM_H
#define KHO_SHIM_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef uint8_t u8;
typedef uint16_t u16;
typedef uint32_t u32;
typedef uint64_t u64;

#define PAGE_SIZE 4096UL
#define __packed __attribute__((packed))
#define KBUILD_MODNAME "kho_block"
#define pr_err(...) fprintf(stderr, __VA_ARGS__)
#define pr_warn(...) fprintf(stderr, __VA_ARGS__)
#define WARN_ON_ONCE(c) (!!(c))
#define unlikely(x) __builtin_expect(!!(x), 0)

#define MAX_ERRNO 4095
static inline bool IS_ERR(const void *p)
{
	return (uintptr_t)p >= (uintptr_t)-MAX_ERRNO;
}
static inline long PTR_ERR(const void *p)
{
	return (long)(intptr_t)p;
}
static inline void *ERR_PTR(long e)
{
	return (void *)(intptr_t)e;
}

/* phys == virt: the pool's addresses are its "physical" addresses. */
static inline u64 virt_to_phys(const void *p)
{
	return (u64)(uintptr_t)p;
}
static inline void *phys_to_virt(u64 pa)
{
	return (void *)(uintptr_t)pa;
}

#define kzalloc_obj(x) calloc(1, sizeof(x))
#define kfree(p) free(p)

void *kho_alloc_preserve(size_t size);
void kho_unpreserve_free(void *p);
void kho_restore_free(void *p);

/* include/linux/list.h, the parts kho_block.c uses. */
struct list_head {
	struct list_head *next, *prev;
};
#define LIST_HEAD_INIT(name) { &(name), &(name) }
#define container_of(ptr, type, member) \
	((type *)((char *)(ptr) - offsetof(type, member)))
#define list_entry(ptr, type, member) container_of(ptr, type, member)
#define list_first_entry(ptr, type, member) list_entry((ptr)->next, type, member)
#define list_last_entry(ptr, type, member) list_entry((ptr)->prev, type, member)
#define list_first_entry_or_null(ptr, type, member) \
	(list_empty(ptr) ? NULL : list_first_entry(ptr, type, member))
#define list_last_entry_or_null(ptr, type, member) \
	(list_empty(ptr) ? NULL : list_last_entry(ptr, type, member))
#define list_next_entry(pos, member) \
	list_entry((pos)->member.next, __typeof__(*(pos)), member)
#define list_prev_entry(pos, member) \
	list_entry((pos)->member.prev, __typeof__(*(pos)), member)
#define list_for_each_entry(pos, head, member) \
	for (pos = list_first_entry(head, __typeof__(*pos), member); \
	     &pos->member != (head); pos = list_next_entry(pos, member))
#define list_for_each_entry_safe(pos, n, head, member) \
	for (pos = list_first_entry(head, __typeof__(*pos), member), \
	     n = list_next_entry(pos, member); \
	     &pos->member != (head); pos = n, n = list_next_entry(n, member))

static inline bool list_empty(const struct list_head *h)
{
	return h->next == h;
}
static inline void list_add_tail(struct list_head *n, struct list_head *h)
{
	struct list_head *prev = h->prev;

	n->next = h;
	n->prev = prev;
	prev->next = n;
	h->prev = n;
}
static inline void list_del(struct list_head *e)
{
	e->prev->next = e->next;
	e->next->prev = e->prev;
	e->next = e->prev = NULL;
}
static inline bool list_is_last(const struct list_head *e, const struct list_head *h)
{
	return e->next == h;
}
static inline bool list_is_first(const struct list_head *e, const struct list_head *h)
{
	return e->prev == h;
}

#endif
