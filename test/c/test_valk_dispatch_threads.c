// sources: valk_ring.c valk_arena.c valk_slab.c valk_common.c
// sanitize: thread
/*
 * The request/response hand-off of valk_dispatch.h, under ThreadSanitizer:
 * an "AIO" thread builds requests in arenas and pushes them onto a bounded
 * request ring; an "owner" thread takes them in batches, writes each answer
 * into the same arena and pushes it onto the response ring; the AIO thread
 * checks every answer and releases the arena. Arena ownership moves with the
 * pointer through the rings' locks, as in the addon. Any data race is a TSan
 * report (and a nonzero exit); the checks catch lost, duplicated or torn items.
 */
#include <stdatomic.h>
#include <string.h>

#include "valk_arena.h"
#include "valk_ring.h"
#include "valk_test.h"

#define ITEMS 200000
#define ARENAS 64
#define QUEUE 16

typedef struct {
  uint32_t seq;
  valk_arena_t *arena;
  char request[32];
  char *answer; /* written by the owner thread, in the arena */
} item_t;

static valk_arena_pool_t pool;
static valk_ring_t requests, responses;
static atomic_int owner_done;

static void owner_thread(void *arg) {
  item_t *batch[QUEUE];
  uint32_t seen = 0;
  (void)arg;
  while (seen < ITEMS) {
    uint32_t n = valk_ring_drain(&requests, (void **)batch, QUEUE), i;
    for (i = 0; i < n; i++) {
      item_t *it = batch[i];
      it->answer = valk_arena_alloc(&pool, it->arena, 48, 8); /* the owner's arena now */
      CHECK(it->answer != NULL);
      snprintf(it->answer, 48, "answer %s", it->request);
      while (valk_ring_push(&responses, it) < 0) {
      }
    }
    seen += n;
  }
  atomic_store(&owner_done, 1);
}

int main(void) {
  uv_thread_t owner;
  item_t *batch[ARENAS];
  uint32_t sent = 0, answered = 0, in_flight = 0;
  static uint8_t answered_seq[ITEMS];

  CHECK(valk_arena_pool_init(&pool, ARENAS, 64 * 1024, 4096) == 0);
  CHECK(valk_ring_init(&requests, QUEUE) == 0);
  CHECK(valk_ring_init(&responses, ARENAS) == 0);
  CHECK(uv_thread_create(&owner, owner_thread, NULL) == 0);
  while (answered < ITEMS) {
    /* Answers first: they give arenas back. */
    uint32_t n = valk_ring_drain(&responses, (void **)batch, ARENAS), i;
    for (i = 0; i < n; i++) {
      item_t *it = batch[i];
      char want[48];
      snprintf(want, sizeof(want), "answer %s", it->request);
      CHECK(strcmp(it->answer, want) == 0);
      CHECK(answered_seq[it->seq] == 0);
      answered_seq[it->seq] = 1;
      valk_arena_release(&pool, it->arena);
      answered++;
      in_flight--;
    }
    while (sent < ITEMS) {
      valk_arena_t *a = valk_arena_acquire(&pool);
      item_t *it;
      if (a == NULL) break; /* every arena is away: wait for answers */
      it = valk_arena_alloc(&pool, a, sizeof(*it), 8);
      CHECK(it != NULL);
      it->seq = sent;
      it->arena = a;
      it->answer = NULL;
      snprintf(it->request, sizeof(it->request), "req %u", sent);
      if (valk_ring_push(&requests, it) < 0) { /* queue full: the addon answers 503 */
        valk_arena_release(&pool, a);
        break;
      }
      sent++;
      in_flight++;
    }
    CHECK(in_flight <= ARENAS);
  }
  uv_thread_join(&owner);
  CHECK(atomic_load(&owner_done) == 1);
  CHECK(valk_arena_pool_used(&pool) == 0);
  valk_ring_destroy(&requests);
  valk_ring_destroy(&responses);
  valk_arena_pool_destroy(&pool);
  printf("test_valk_dispatch_threads: %u requests answered across threads\n", answered);
  return 0;
}
