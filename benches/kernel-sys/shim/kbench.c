/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The benchmark's drivers around kho_block.c: the kernel's own algorithm,
 * called the way a subsystem calls it. Write: grow, then reserve + memcpy
 * per entry. Read: restore, then read_entry + memcpy per entry.
 */
#include <linux/kho_block.h>

static unsigned char *pool;
static size_t pool_pages, pool_next;

/* A page-aligned pool of `pages` pages, zeroed (and so faulted in). */
int kbench_pool_init(size_t pages)
{
	free(pool);
	pool = aligned_alloc(PAGE_SIZE, pages * PAGE_SIZE);
	if (!pool)
		return -ENOMEM;
	memset(pool, 0, pages * PAGE_SIZE);
	pool_pages = pages;
	pool_next = 0;
	return 0;
}

/* Where the pool is, so that the benchmark can evict it from the cache. */
void kbench_pool_span(unsigned char **base, size_t *bytes)
{
	*base = pool;
	*bytes = pool_pages * PAGE_SIZE;
}

/* Hands the whole pool out again, zeroed, untimed. */
void kbench_pool_reset(void)
{
	memset(pool, 0, pool_next * PAGE_SIZE);
	pool_next = 0;
}

void *kho_alloc_preserve(size_t size)
{
	if (size != PAGE_SIZE || pool_next == pool_pages)
		return ERR_PTR(-ENOMEM);
	return pool + PAGE_SIZE * pool_next++;
}

void kho_unpreserve_free(void *p)
{
	(void)p;
}

void kho_restore_free(void *p)
{
	(void)p;
}

/* Grows a new set to `n` entries and copies `src` in, one reserve each.
 * Returns the set (free with kbench_free) or NULL. */
struct kho_block_set *kbench_write(const void *src, size_t n, size_t entry_size)
{
	struct kho_block_set *bs = malloc(sizeof(*bs));
	struct kho_block_set_it it;
	const unsigned char *from = src;

	if (!bs)
		return NULL;
	kho_block_set_init(bs, entry_size);
	if (kho_block_set_grow(bs, n)) {
		free(bs);
		return NULL;
	}
	kho_block_set_it_init(&it, bs);
	for (size_t i = 0; i < n; i++) {
		void *slot = kho_block_set_it_reserve_entry(&it);

		if (!slot)
			break;
		memcpy(slot, from + i * entry_size, entry_size);
	}
	return bs;
}

u64 kbench_head(struct kho_block_set *bs)
{
	return kho_block_set_head_pa(bs);
}

void kbench_free(struct kho_block_set *bs)
{
	kho_block_set_destroy(bs);
	free(bs);
}

/* Restores the chain at `head` and copies up to `n` entries into `dst`;
 * returns how many, or -1 if restore failed. The set's bookkeeping is
 * released before returning, as the Rust case drops its set. */
long kbench_read(u64 head, void *dst, size_t n, size_t entry_size)
{
	struct kho_block_set bs;
	struct kho_block_set_it it;
	unsigned char *to = dst;
	size_t i = 0;
	void *e;

	kho_block_set_init(&bs, entry_size);
	if (kho_block_set_restore(&bs, head))
		return -1;
	kho_block_set_it_init(&it, &bs);
	while (i < n && (e = kho_block_set_it_read_entry(&it))) {
		memcpy(to + i * entry_size, e, entry_size);
		i++;
	}
	kho_block_set_destroy(&bs);
	return (long)i;
}
