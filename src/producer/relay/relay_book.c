/*
 * relay_book.c - see relay_book.h: the relay's account of its batches, rows, key blocks and
 * detached batches. No database or Kafka calls here (a log line when out of memory).
 */
#include "producer/relay/relay_book.h"

#include <stdlib.h>
#include <string.h>

#include "common/log.h"

int relay_book_init(struct relay_book *book, int nslots)
{
	int i;

	memset(book, 0, sizeof(*book));
	book->slots = calloc((size_t)nslots, sizeof(*book->slots));
	if (book->slots == NULL)
		return -1;
	book->nslots = nslots;
	for (i = 0; i < nslots; i++)
		book->slots[i].book = book;
	return 0;
}

void relay_book_release(struct relay_book *book)
{
	int i;

	for (i = 0; book->slots && i < book->nslots; i++)
		relay_book_slot_reset(&book->slots[i]);
	free(book->slots);
	book->slots = NULL;
	while (book->ndetached > 0)
		relay_book_detached_remove(book, book->ndetached - 1);
	free(book->detached);
	book->detached = NULL;
	free(book->tps);
	book->tps = NULL;
}

struct relay_slot *relay_book_free_slot(struct relay_book *book)
{
	int i;

	for (i = 0; i < book->nslots; i++)
		if (!book->slots[i].active)
			return &book->slots[i];
	return NULL;
}

int relay_book_active_count(const struct relay_book *book)
{
	int i, n = 0;

	for (i = 0; i < book->nslots; i++)
		n += book->slots[i].active;
	return n;
}

size_t relay_book_outstanding(const struct relay_book *book)
{
	size_t n = book->detached_rows;
	int i;

	for (i = 0; i < book->nslots; i++)
		n += book->slots[i].outstanding;
	return n;
}

uint64_t relay_book_oldest_active_seq(const struct relay_book *book)
{
	uint64_t oldest = UINT64_MAX;
	size_t j;
	int i;

	for (i = 0; i < book->nslots; i++)
		if (book->slots[i].active && book->slots[i].claim_seq < oldest)
			oldest = book->slots[i].claim_seq;
	/* Detached rows are still in flight: their shards are not handed over yet. */
	for (j = 0; j < book->ndetached; j++)
		if (book->detached[j]->claim_seq < oldest)
			oldest = book->detached[j]->claim_seq;
	return oldest;
}

int relay_book_open(struct relay_book *book, struct relay_slot *slot, long now_ms)
{
	size_t i;

	slot->deliveries = calloc(slot->batch.n, sizeof(*slot->deliveries));
	slot->msgs = calloc(slot->batch.n, sizeof(*slot->msgs));
	if (slot->deliveries == NULL || slot->msgs == NULL) {
		relay_book_slot_reset(slot);
		return -1;
	}
	for (i = 0; i < slot->batch.n; i++) {
		slot->deliveries[i].id = slot->batch.rows[i].id;
		slot->msgs[i].slot = slot;
		slot->msgs[i].idx = i;
		atomic_store(&slot->msgs[i].partition, -1);
	}
	slot->active = true;
	slot->claim_seq = ++book->claim_seq;
	slot->claimed_at = now_ms;
	return 0;
}

/* Forgets the slot's arrays (freed or handed on by the caller): the slot is free. */
static void relay_book_slot_clear(struct relay_slot *slot)
{
	slot->deliveries = NULL;
	slot->msgs = NULL;
	slot->refused = NULL;
	slot->nrefused = 0;
	slot->outstanding = 0;
	slot->active = false;
}

void relay_book_slot_reset(struct relay_slot *slot)
{
	size_t i;

	for (i = 0; slot->deliveries && i < slot->batch.n; i++)
		free((char *)slot->deliveries[i].error);
	free(slot->deliveries);
	free(slot->msgs);
	free(slot->refused);
	if (slot->book) /* NULL only for a slot that was never set up */
		slot->book->nrefused -= slot->nrefused;
	message_store_batch_free(&slot->batch);
	relay_book_slot_clear(slot);
}

/* True when one of the slot's blocking rows has row's topic and key. */
static bool relay_book_slot_blocks(const struct relay_slot *s, const struct outbox_row *row)
{
	size_t k;

	for (k = 0; k < s->nrefused; k++) {
		const struct outbox_row *r = s->refused[k];

		if (r->key_len == row->key_len && memcmp(r->key, row->key, r->key_len) == 0 &&
		    strcmp(r->topic, row->topic) == 0)
			return true;
	}
	return false;
}

bool relay_book_key_blocked(const struct relay_book *book, const struct outbox_row *row)
{
	int i;
	size_t j;

	if (book->nrefused == 0 || row->key == NULL)
		return false;
	for (i = 0; i < book->nslots; i++)
		if (relay_book_slot_blocks(&book->slots[i], row))
			return true;
	/* A detached batch keeps the blocks of its rows still on their way (a retry awaiting its
	 * report): the key's later rows must not overtake it while it waits outside a claim. */
	for (j = 0; j < book->ndetached; j++)
		if (relay_book_slot_blocks(book->detached[j], row))
			return true;
	return false;
}

void relay_book_note_blocker(struct relay_slot *slot, size_t idx)
{
	const struct outbox_row *row = &slot->batch.rows[idx];

	if (row->key == NULL || slot->msgs[idx].blocks_key)
		return; /* no key, no order to keep; or listed already */
	/* At most one entry per row of the batch: sized on first use. */
	if (slot->refused == NULL) {
		slot->refused = calloc(slot->batch.n, sizeof(*slot->refused));
		if (slot->refused == NULL) {
			log_error("relay",
			          "out of memory noting a refused row; its key is not held");
			return;
		}
	}
	slot->refused[slot->nrefused++] = row;
	slot->book->nrefused++;
	slot->msgs[idx].blocks_key = true;
}

void relay_book_produced(struct relay_slot *slot, size_t idx)
{
	slot->outstanding++;
	slot->msgs[idx].awaiting = true;
}

void relay_book_report(struct relay_msg *rm, bool purged, const char *error, int32_t partition,
                       int64_t offset)
{
	struct relay_slot *slot = rm->slot;
	struct outbox_delivery *d = &slot->deliveries[rm->idx];

	if (purged) {
		d->held = true;
	} else if (error) {
		d->error = strdup(error);
		if (d->error == NULL)
			d->error = strdup("delivery failed");
		relay_book_note_blocker(slot, rm->idx);
	} else {
		d->partition = partition;
		d->offset = offset;
	}
	rm->awaiting = false;
	slot->outstanding--;
	if (slot->detached)
		slot->book->detached_rows--;
}

int relay_book_detached_ids(const struct relay_book *book, int64_t **ids, size_t *n)
{
	size_t j, i, count = 0;

	*ids = NULL;
	*n = 0;
	for (j = 0; j < book->ndetached; j++)
		for (i = 0; i < book->detached[j]->batch.n; i++)
			count += !book->detached[j]->msgs[i].marked;
	if (count == 0)
		return 0;
	*ids = malloc(count * sizeof(**ids));
	if (*ids == NULL)
		return -1;
	for (j = 0; j < book->ndetached; j++) {
		const struct relay_slot *d = book->detached[j];

		for (i = 0; i < d->batch.n; i++)
			if (!d->msgs[i].marked)
				(*ids)[(*n)++] = d->batch.rows[i].id;
	}
	return 0;
}

size_t relay_book_unrecorded(const struct relay_slot *slot, struct outbox_delivery *d, size_t *idx,
                             struct relay_book_tally *t)
{
	size_t i, n = 0;

	memset(t, 0, sizeof(*t));
	for (i = 0; i < slot->batch.n; i++) {
		if (slot->msgs[i].marked || slot->msgs[i].awaiting)
			continue;
		d[n] = slot->deliveries[i];
		idx[n++] = i;
		if (slot->deliveries[i].held)
			t->held++;
		else if (slot->deliveries[i].error && t->refused++ == 0)
			t->first_refused = i;
	}
	return n;
}

void relay_book_recorded(struct relay_slot *slot, const size_t *idx, size_t n)
{
	size_t k;

	for (k = 0; k < n; k++)
		slot->msgs[idx[k]].marked = true;
}

struct relay_slot *relay_book_next_done(const struct relay_book *book, size_t *detached_j)
{
	struct relay_slot *oldest = NULL;
	size_t j;
	int i;

	*detached_j = 0;
	for (i = 0; i < book->nslots; i++) {
		struct relay_slot *s = &book->slots[i];

		if (s->active && s->outstanding == 0 &&
		    (oldest == NULL || s->claim_seq < oldest->claim_seq))
			oldest = s;
	}
	for (j = 0; j < book->ndetached; j++) {
		struct relay_slot *s = book->detached[j];

		if (s->outstanding == 0 && (oldest == NULL || s->claim_seq < oldest->claim_seq)) {
			oldest = s;
			*detached_j = j;
		}
	}
	return oldest;
}

void relay_book_detached_remove(struct relay_book *book, size_t j)
{
	struct relay_slot *d = book->detached[j];

	book->detached[j] = book->detached[--book->ndetached];
	relay_book_slot_reset(d);
	free(d);
}

struct relay_slot *relay_book_detach_reserve(struct relay_book *book)
{
	if (book->ndetached == book->detached_cap) {
		size_t cap = book->detached_cap ? book->detached_cap * 2 : 8;
		struct relay_slot **grown = realloc(book->detached, cap * sizeof(*grown));

		if (grown == NULL)
			return NULL;
		book->detached = grown;
		book->detached_cap = cap;
	}
	return malloc(sizeof(struct relay_slot));
}

void relay_book_detach(struct relay_book *book, struct relay_slot *slot, struct relay_slot *d)
{
	size_t i, k, kept = 0;

	*d = *slot;
	d->conn = NULL;
	d->detached = true;
	for (i = 0; i < d->batch.n; i++)
		d->msgs[i].slot = d;
	for (k = 0; k < d->nrefused; k++) {
		size_t idx = (size_t)(d->refused[k] - d->batch.rows);

		if (d->msgs[idx].awaiting)
			d->refused[kept++] = d->refused[k];
		else
			d->msgs[idx].blocks_key = false;
	}
	book->nrefused -= d->nrefused - kept;
	d->nrefused = kept;
	book->detached[book->ndetached++] = d;
	book->detached_rows += d->outstanding;
	/* The arrays went to d: the slot is free (its conn stays with it). */
	memset(&slot->batch, 0, sizeof(slot->batch));
	relay_book_slot_clear(slot);
}

/* Adds a row's partition to book->tps (topic, partition), keeping the oldest claim time.
 * Returns -1 when out of memory (the partition is then left out). */
static int relay_book_tp_add(struct relay_book *book, size_t *n, const char *topic,
                             int32_t partition, long claimed_at)
{
	size_t i;

	for (i = 0; i < *n; i++) {
		struct relay_tp *t = &book->tps[i];

		if (t->partition == partition && strcmp(t->topic, topic) == 0) {
			t->rows++;
			if (claimed_at < t->oldest)
				t->oldest = claimed_at;
			return 0;
		}
	}
	if (*n == book->tps_cap) {
		size_t cap = book->tps_cap ? book->tps_cap * 2 : 16;
		struct relay_tp *grown = realloc(book->tps, cap * sizeof(*grown));

		if (grown == NULL)
			return -1;
		book->tps = grown;
		book->tps_cap = cap;
	}
	book->tps[(*n)++] = (struct relay_tp){topic, partition, claimed_at, 1};
	return 0;
}

/* Collects into book->tps the partitions rows of `s` await (of those claimed at or before
 * `cutoff`, monotonic ms); *n counts the entries. */
static void relay_book_tps_of(struct relay_book *book, const struct relay_slot *s, long cutoff,
                              size_t *n)
{
	size_t i;

	if (s->outstanding == 0 || s->claimed_at > cutoff)
		return;
	for (i = 0; i < s->batch.n; i++) {
		int p = atomic_load(&s->msgs[i].partition);

		if (s->msgs[i].awaiting && p >= 0)
			(void)relay_book_tp_add(book, n, s->batch.rows[i].topic, p, s->claimed_at);
	}
}

/* True when every row `s` still awaits goes to a partition in book->tps[0..n). */
static bool relay_book_waits_only_on(const struct relay_book *book, const struct relay_slot *s,
                                     size_t n)
{
	size_t i, t;

	for (i = 0; i < s->batch.n; i++) {
		int p = atomic_load(&s->msgs[i].partition);

		if (!s->msgs[i].awaiting)
			continue;
		for (t = 0; t < n; t++)
			if (book->tps[t].partition == p &&
			    strcmp(book->tps[t].topic, s->batch.rows[i].topic) == 0)
				break;
		if (p < 0 || t == n)
			return false;
	}
	return true;
}

size_t relay_book_detach_due(struct relay_book *book, long now_ms, long txn_bound_ms,
                             struct relay_slot **due)
{
	bool check_partitions = book->ndetached > 0 && now_ms >= book->next_detach_check_at;
	size_t n = 0, j, ndue = 0;
	int i;

	if (check_partitions) {
		book->next_detach_check_at = now_ms + RELAY_BOOK_DETACH_CHECK_MS;
		for (j = 0; j < book->ndetached; j++)
			relay_book_tps_of(book, book->detached[j], now_ms, &n);
	}
	for (i = 0; i < book->nslots; i++) {
		struct relay_slot *s = &book->slots[i];

		if (!s->active || s->outstanding == 0)
			continue;
		if (now_ms - s->claimed_at >= txn_bound_ms / 3 ||
		    (check_partitions && n > 0 && relay_book_waits_only_on(book, s, n)))
			due[ndue++] = s;
	}
	return ndue;
}

static int relay_book_tp_older_first(const void *a, const void *b)
{
	const struct relay_tp *x = a, *y = b;

	return x->oldest < y->oldest ? -1 : x->oldest > y->oldest;
}

size_t relay_book_stalled(struct relay_book *book, long now_ms, long txn_bound_ms)
{
	size_t n = 0, j;
	int i;

	for (i = 0; i < book->nslots; i++)
		if (book->slots[i].active)
			relay_book_tps_of(book, &book->slots[i], now_ms - txn_bound_ms, &n);
	for (j = 0; j < book->ndetached; j++)
		relay_book_tps_of(book, book->detached[j], now_ms - txn_bound_ms, &n);
	if (n > 1)
		qsort(book->tps, n, sizeof(*book->tps), relay_book_tp_older_first);
	return n;
}
