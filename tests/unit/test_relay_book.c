/*
 * test_relay_book.c - the relay's bookkeeping without PostgreSQL or Kafka (relay_book.h): the
 * per-key gate, delivery reports, which outcomes a mark records, the order batches are marked
 * in, detaching a batch, and the partitions rows wait for.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "producer/relay/relay_book.h"

static size_t key_len(const char *key)
{
	return key ? strlen(key) : 0;
}

#define ROW(id_, topic_, key_, attempts_)                                                          \
	{                                                                                          \
		.id = (id_), .topic = (topic_), .key = (key_), .key_len = key_len(key_),           \
		.payload = "p", .payload_len = 1, .headers_json = "{}",                            \
		.publish_attempts = (attempts_)                                                    \
	}

/* Opens a batch of copies of rows[0..n) in a free slot, claimed at now_ms. */
static struct relay_slot *open_batch(struct relay_book *b, const struct outbox_row *rows, size_t n,
                                     long now_ms)
{
	struct relay_slot *s = relay_book_free_slot(b);

	assert_non_null(s);
	s->batch.rows = calloc(n, sizeof(*rows));
	assert_non_null(s->batch.rows);
	memcpy(s->batch.rows, rows, n * sizeof(*rows));
	s->batch.n = n;
	assert_int_equal(relay_book_open(b, s, now_ms), 0);
	return s;
}

/* Every row of the slot handed to librdkafka, on `partition` (-1: not known yet). */
static void produce_all(struct relay_slot *s, int partition)
{
	size_t i;

	for (i = 0; i < s->batch.n; i++) {
		relay_book_produced(s, i);
		atomic_store(&s->msgs[i].partition, partition);
	}
}

static void test_open_numbers_claims_and_fills_ids(void **state)
{
	struct relay_book b;
	const struct outbox_row rows[] = {ROW(7, "t", "k", 0), ROW(9, "t", NULL, 0)};
	struct relay_slot *s1, *s2;

	(void)state;
	assert_int_equal(relay_book_init(&b, 2), 0);
	assert_int_equal(relay_book_oldest_active_seq(&b), UINT64_MAX);
	s1 = open_batch(&b, rows, 2, 100);
	s2 = open_batch(&b, rows, 1, 200);
	assert_ptr_not_equal(s1, s2);
	assert_null(relay_book_free_slot(&b));
	assert_int_equal(relay_book_active_count(&b), 2);
	assert_int_equal(s1->claim_seq, 1);
	assert_int_equal(s2->claim_seq, 2);
	assert_int_equal(s1->deliveries[1].id, 9);
	assert_int_equal(atomic_load(&s1->msgs[0].partition), -1);
	assert_ptr_equal(s1->msgs[1].slot, s1);
	assert_int_equal(relay_book_oldest_active_seq(&b), 1);
	produce_all(s1, 0);
	assert_int_equal(relay_book_outstanding(&b), 2);
	relay_book_slot_reset(s1);
	assert_int_equal(relay_book_oldest_active_seq(&b), 2);
	assert_ptr_equal(relay_book_free_slot(&b), s1);
	relay_book_release(&b);
}

static void test_key_gate_holds_the_refused_key_only(void **state)
{
	struct relay_book b;
	const struct outbox_row first[] = {ROW(1, "orders", "k1", 0), ROW(2, "orders", "k2", 0),
	                                   ROW(3, "orders", NULL, 0)};
	const struct outbox_row later[] = {ROW(4, "orders", "k1", 0), ROW(5, "orders", "k2", 0),
	                                   ROW(6, "other", "k1", 0), ROW(7, "orders", "k11", 0),
	                                   ROW(8, "orders", NULL, 0)};
	struct relay_slot *s;

	(void)state;
	assert_int_equal(relay_book_init(&b, 2), 0);
	s = open_batch(&b, first, 3, 0);
	produce_all(s, 0);
	/* Nothing refused yet: the fast path blocks nothing. */
	assert_false(relay_book_key_blocked(&b, &later[0]));
	relay_book_report(&s->msgs[0], false, "Broker: Message size too large", -1, -1);
	relay_book_report(&s->msgs[1], false, NULL, 0, 41);
	relay_book_report(&s->msgs[2], false, "refused, no key", -1, -1);
	assert_int_equal(b.nrefused, 1); /* the keyless refusal holds nothing */
	assert_true(relay_book_key_blocked(&b, &later[0]));
	assert_false(relay_book_key_blocked(&b, &later[1])); /* delivered key */
	assert_false(relay_book_key_blocked(&b, &later[2])); /* same key, other topic */
	assert_false(relay_book_key_blocked(&b, &later[3])); /* key with the same prefix */
	assert_false(relay_book_key_blocked(&b, &later[4])); /* no key */
	/* Noting the same row twice lists it once. */
	relay_book_note_blocker(s, 0);
	assert_int_equal(s->nrefused, 1);
	/* Marked (the slot reset): the claim's backoff rule takes over, the gate opens. */
	relay_book_slot_reset(s);
	assert_int_equal(b.nrefused, 0);
	assert_false(relay_book_key_blocked(&b, &later[0]));
	relay_book_release(&b);
}

static void test_report_outcomes(void **state)
{
	struct relay_book b;
	const struct outbox_row rows[] = {ROW(1, "t", "a", 0), ROW(2, "t", "b", 0),
	                                  ROW(3, "t", "c", 0)};
	struct relay_slot *s;
	char error[] = "Local: Message timed out";

	(void)state;
	assert_int_equal(relay_book_init(&b, 1), 0);
	s = open_batch(&b, rows, 3, 0);
	produce_all(s, 2);
	relay_book_report(&s->msgs[0], false, NULL, 2, 1234);
	relay_book_report(&s->msgs[1], true, "Local: Purged in queue", -1, -1);
	relay_book_report(&s->msgs[2], false, error, -1, -1);
	error[0] = 'X'; /* the book keeps its own copy */
	assert_int_equal(s->outstanding, 0);
	assert_int_equal(s->deliveries[0].partition, 2);
	assert_int_equal(s->deliveries[0].offset, 1234);
	assert_null(s->deliveries[0].error);
	/* A purge is the relay's own doing: held, no error, the key is not blocked. */
	assert_true(s->deliveries[1].held);
	assert_null(s->deliveries[1].error);
	assert_false(s->msgs[1].blocks_key);
	assert_string_equal(s->deliveries[2].error, "Local: Message timed out");
	assert_true(s->msgs[2].blocks_key);
	assert_false(s->msgs[0].awaiting || s->msgs[1].awaiting || s->msgs[2].awaiting);
	relay_book_release(&b);
}

static void test_unrecorded_selects_each_outcome_once(void **state)
{
	struct relay_book b;
	const struct outbox_row rows[] = {ROW(1, "t", "a", 0), ROW(2, "t", "b", 0),
	                                  ROW(3, "t", "c", 0), ROW(4, "t", "d", 0)};
	struct outbox_delivery d[4];
	size_t idx[4];
	struct relay_book_tally t;
	struct relay_slot *s;
	size_t n;

	(void)state;
	assert_int_equal(relay_book_init(&b, 1), 0);
	s = open_batch(&b, rows, 4, 0);
	/* Row 0 held by the gate (never produced), 1 and 2 produced, 3 refused at produce time. */
	s->deliveries[0].held = true;
	relay_book_produced(s, 1);
	relay_book_produced(s, 2);
	s->deliveries[3].error = strdup("Broker: Invalid topic");
	relay_book_report(&s->msgs[2], false, "Broker: Not authorized", -1, -1);
	n = relay_book_unrecorded(s, d, idx, &t);
	assert_int_equal(n, 3); /* row 1 still awaits its report */
	assert_int_equal(idx[0], 0);
	assert_int_equal(idx[1], 2);
	assert_int_equal(idx[2], 3);
	assert_int_equal(d[1].id, 3);
	assert_int_equal(t.held, 1);
	assert_int_equal(t.refused, 2);
	assert_int_equal(t.first_refused, 2);
	relay_book_recorded(s, idx, n);
	relay_book_report(&s->msgs[1], false, NULL, 0, 5);
	n = relay_book_unrecorded(s, d, idx, &t);
	assert_int_equal(n, 1);
	assert_int_equal(idx[0], 1);
	assert_int_equal(t.refused + t.held, 0);
	relay_book_release(&b);
}

static void test_next_done_is_oldest_claim_first(void **state)
{
	struct relay_book b;
	const struct outbox_row rows[] = {ROW(1, "t", "a", 0)};
	struct relay_slot *s1, *s2, *s3, *d;
	size_t j = 99;

	(void)state;
	assert_int_equal(relay_book_init(&b, 3), 0);
	s1 = open_batch(&b, rows, 1, 0);
	s2 = open_batch(&b, rows, 1, 0);
	s3 = open_batch(&b, rows, 1, 0);
	produce_all(s1, 0);
	produce_all(s2, 0);
	produce_all(s3, 0);
	assert_null(relay_book_next_done(&b, &j));
	/* The newer batches finish first; the oldest still waits. */
	relay_book_report(&s3->msgs[0], false, NULL, 0, 3);
	relay_book_report(&s2->msgs[0], false, NULL, 0, 2);
	assert_ptr_equal(relay_book_next_done(&b, &j), s2);
	/* The oldest is detached (its claim committed) and then reports: marked before s2. */
	d = relay_book_detach_reserve(&b);
	assert_non_null(d);
	relay_book_detach(&b, s1, d);
	assert_int_equal(b.detached_rows, 1);
	assert_false(s1->active);
	relay_book_report(&d->msgs[0], false, NULL, 0, 1);
	assert_int_equal(b.detached_rows, 0);
	assert_ptr_equal(relay_book_next_done(&b, &j), d);
	assert_int_equal(j, 0);
	relay_book_detached_remove(&b, j);
	assert_int_equal(b.ndetached, 0);
	assert_ptr_equal(relay_book_next_done(&b, &j), s2);
	relay_book_release(&b);
}

static void test_detach_keeps_blocks_of_rows_on_their_way(void **state)
{
	struct relay_book b;
	/* Row 2 is a retry (attempted before): it blocks its key while on its way. */
	const struct outbox_row rows[] = {ROW(1, "t", "a", 0), ROW(2, "t", "b", 1),
	                                  ROW(3, "t", "c", 0), ROW(4, "t", "d", 0)};
	const struct outbox_row later_c = ROW(11, "t", "c", 0);
	const struct outbox_row later_b = ROW(12, "t", "b", 0);
	struct outbox_delivery dv[4];
	size_t idx[4], n, j;
	struct relay_book_tally t;
	struct relay_slot *s, *d;
	int64_t *ids = NULL;
	size_t nids = 0;

	(void)state;
	assert_int_equal(relay_book_init(&b, 1), 0);
	s = open_batch(&b, rows, 4, 0);
	produce_all(s, 0);
	relay_book_note_blocker(s, 1);
	relay_book_report(&s->msgs[0], false, NULL, 0, 1);
	relay_book_report(&s->msgs[2], false, "Broker: Record too large", -1, -1);
	assert_int_equal(b.nrefused, 2);
	/* relay.c marks what reported (rows 1 and 3), then detaches. */
	n = relay_book_unrecorded(s, dv, idx, &t);
	assert_int_equal(n, 2);
	relay_book_recorded(s, idx, n);
	d = relay_book_detach_reserve(&b);
	assert_non_null(d);
	relay_book_detach(&b, s, d);
	/* The slot is free again; the batch lives on in the book, opaques pointing at it. */
	assert_false(s->active);
	assert_null(s->msgs);
	assert_ptr_equal(relay_book_free_slot(&b), s);
	assert_int_equal(b.ndetached, 1);
	assert_true(d->detached);
	assert_null(d->conn);
	assert_ptr_equal(d->msgs[1].slot, d);
	assert_int_equal(b.detached_rows, 2);
	/* Only the retry's block stays: the refused row is recorded, its backoff holds its key. */
	assert_int_equal(d->nrefused, 1);
	assert_int_equal(b.nrefused, 1);
	assert_false(d->msgs[2].blocks_key);
	assert_true(d->msgs[1].blocks_key);
	/* The refused row's key is no longer held by the gate: its backoff holds it now. */
	assert_false(relay_book_key_blocked(&b, &later_c));
	/* The retry on its way still holds its key, detached or not: should Kafka refuse it
	 * again, the key's later rows must not have gone first. */
	assert_true(relay_book_key_blocked(&b, &later_b));
	/* The next claims pass over the rows still on their way. */
	assert_int_equal(relay_book_detached_ids(&b, &ids, &nids), 0);
	assert_int_equal(nids, 2);
	assert_int_equal(ids[0], 2);
	assert_int_equal(ids[1], 4);
	free(ids);
	assert_int_equal(relay_book_outstanding(&b), 2);
	assert_int_equal(relay_book_oldest_active_seq(&b), 1); /* its shard is not handed over */
	relay_book_report(&d->msgs[1], false, NULL, 0, 2);
	relay_book_report(&d->msgs[3], true, NULL, -1, -1);
	assert_int_equal(b.detached_rows, 0);
	/* Reported but not marked yet: still PENDING in the table, so the claims still pass over
	 * them (claimed again they would go out twice, and lock the rows the mark must update). */
	assert_int_equal(relay_book_detached_ids(&b, &ids, &nids), 0);
	assert_int_equal(nids, 2);
	assert_int_equal(ids[0], 2);
	assert_int_equal(ids[1], 4);
	free(ids);
	assert_ptr_equal(relay_book_next_done(&b, &j), d);
	n = relay_book_unrecorded(d, dv, idx, &t);
	assert_int_equal(n, 2); /* only rows 2 and 4: 1 and 3 were recorded at the detach */
	assert_int_equal(t.held, 1);
	relay_book_detached_remove(&b, j);
	assert_int_equal(b.nrefused, 0);
	assert_false(relay_book_key_blocked(&b, &later_b));
	/* Marked and gone: claimable again should the mark have failed. */
	assert_int_equal(relay_book_detached_ids(&b, &ids, &nids), 0);
	assert_null(ids);
	assert_int_equal(nids, 0);
	relay_book_release(&b);
}

static void test_detach_due_by_age_and_by_stalled_partition(void **state)
{
	struct relay_book b;
	const struct outbox_row stuck[] = {ROW(1, "t", "a", 0)};
	const struct outbox_row same_p[] = {ROW(2, "t", "a", 0)};
	const struct outbox_row other_p[] = {ROW(3, "t", "b", 0)};
	const struct outbox_row unknown_p[] = {ROW(4, "t", "c", 0)};
	struct relay_slot *due[4], *s0, *s1, *s2, *s3, *d;
	long bound = 30000;

	(void)state;
	assert_int_equal(relay_book_init(&b, 4), 0);
	s0 = open_batch(&b, stuck, 1, 0);
	produce_all(s0, 5);
	/* Young and nothing detached: not due. A third of the bound after its claim: due. */
	assert_int_equal(relay_book_detach_due(&b, bound / 3 - 1, bound, due), 0);
	assert_int_equal(relay_book_detach_due(&b, bound / 3, bound, due), 1);
	assert_ptr_equal(due[0], s0);
	d = relay_book_detach_reserve(&b);
	relay_book_detach(&b, s0, d);
	/* Partition 5 of t now holds detached rows: a new batch waiting only on it is due at
	 * once; one waiting on another partition, or on one not known yet, is not. */
	s1 = open_batch(&b, same_p, 1, 20000);
	produce_all(s1, 5);
	s2 = open_batch(&b, other_p, 1, 20000);
	produce_all(s2, 6);
	s3 = open_batch(&b, unknown_p, 1, 20000);
	produce_all(s3, -1);
	assert_int_equal(relay_book_detach_due(&b, 20001, bound, due), 1);
	assert_ptr_equal(due[0], s1);
	/* The partition check runs at most every RELAY_BOOK_DETACH_CHECK_MS. */
	assert_int_equal(
	    relay_book_detach_due(&b, 20001 + RELAY_BOOK_DETACH_CHECK_MS - 1, bound, due), 0);
	assert_int_equal(relay_book_detach_due(&b, 20001 + RELAY_BOOK_DETACH_CHECK_MS, bound, due),
	                 1);
	/* A batch with nothing outstanding is marked, never detached. */
	relay_book_report(&s1->msgs[0], false, NULL, 5, 9);
	assert_int_equal(relay_book_detach_due(&b, 25000, bound, due), 0);
	relay_book_release(&b);
}

static void test_stalled_partitions_oldest_first(void **state)
{
	struct relay_book b;
	const struct outbox_row a[] = {ROW(1, "t", "a", 0), ROW(2, "t", "b", 0),
	                               ROW(3, "u", "a", 0)};
	const struct outbox_row c[] = {ROW(4, "t", "c", 0), ROW(5, "t", "d", 0)};
	struct relay_slot *s1, *s2, *s3;
	size_t n;

	(void)state;
	assert_int_equal(relay_book_init(&b, 3), 0);
	s2 = open_batch(&b, c, 2, 1000);
	s1 = open_batch(&b, a, 3, 500);
	produce_all(s2, 1);
	produce_all(s1, 1);
	atomic_store(&s1->msgs[2].partition, 0); /* u/0 */
	atomic_store(&s2->msgs[1].partition, 2); /* t/2 */
	s3 = open_batch(&b, c, 1, 9000);         /* too young to count */
	produce_all(s3, 7);
	/* Nothing has waited 10 s at 10,400 ms; at 11,000 ms every row claimed by 1,000 has. */
	assert_int_equal(relay_book_stalled(&b, 10400, 10000), 0);
	n = relay_book_stalled(&b, 11000, 10000);
	assert_int_equal(n, 3);
	/* t/1 and u/0 (oldest 500, in either order), then t/2 (1000). */
	for (size_t k = 0; k < 2; k++) {
		const struct relay_tp *tp = &b.tps[k];

		assert_int_equal(tp->oldest, 500);
		if (strcmp(tp->topic, "t") == 0) {
			assert_int_equal(tp->partition, 1);
			assert_int_equal(tp->rows, 3); /* rows 1, 2 (at 500) and 4 (at 1000) */
		} else {
			assert_string_equal(tp->topic, "u");
			assert_int_equal(tp->partition, 0);
			assert_int_equal(tp->rows, 1);
		}
	}
	assert_string_equal(b.tps[2].topic, "t");
	assert_int_equal(b.tps[2].partition, 2);
	assert_int_equal(b.tps[2].oldest, 1000);
	/* Reported rows no longer count. */
	relay_book_report(&s1->msgs[2], false, NULL, 0, 1);
	relay_book_report(&s2->msgs[1], false, NULL, 2, 1);
	assert_int_equal(relay_book_stalled(&b, 11000, 10000), 1);
	relay_book_release(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_open_numbers_claims_and_fills_ids),
	    cmocka_unit_test(test_key_gate_holds_the_refused_key_only),
	    cmocka_unit_test(test_report_outcomes),
	    cmocka_unit_test(test_unrecorded_selects_each_outcome_once),
	    cmocka_unit_test(test_next_done_is_oldest_claim_first),
	    cmocka_unit_test(test_detach_keeps_blocks_of_rows_on_their_way),
	    cmocka_unit_test(test_detach_due_by_age_and_by_stalled_partition),
	    cmocka_unit_test(test_stalled_partitions_oldest_first),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
