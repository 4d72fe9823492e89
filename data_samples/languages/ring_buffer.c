/* A fixed-size ring buffer of integers, written for the codellama-lite workbook. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    int *items;
    size_t capacity;
    size_t head;   /* index of the oldest item */
    size_t count;  /* number of stored items */
} ring_t;

static int ring_init(ring_t *ring, size_t capacity) {
    ring->items = calloc(capacity, sizeof(int));
    if (ring->items == NULL) {
        return -1;
    }
    ring->capacity = capacity;
    ring->head = 0;
    ring->count = 0;
    return 0;
}

static void ring_push(ring_t *ring, int value) {
    size_t tail = (ring->head + ring->count) % ring->capacity;
    ring->items[tail] = value;
    if (ring->count < ring->capacity) {
        ring->count++;
    } else {
        ring->head = (ring->head + 1) % ring->capacity;  /* overwrite the oldest */
    }
}

static int ring_pop(ring_t *ring, int *out) {
    if (ring->count == 0) {
        return 0;
    }
    *out = ring->items[ring->head];
    ring->head = (ring->head + 1) % ring->capacity;
    ring->count--;
    return 1;
}

static double ring_mean(const ring_t *ring) {
    long long total = 0;
    for (size_t i = 0; i < ring->count; i++) {
        total += ring->items[(ring->head + i) % ring->capacity];
    }
    return ring->count ? (double)total / (double)ring->count : 0.0;
}

int main(int argc, char **argv) {
    size_t capacity = argc > 1 ? (size_t)strtoul(argv[1], NULL, 10) : 8;
    ring_t ring;
    if (capacity == 0 || ring_init(&ring, capacity) != 0) {
        fprintf(stderr, "usage: %s CAPACITY (a positive number)\n", argv[0]);
        return 1;
    }
    for (int i = 1; i <= 20; i++) {
        ring_push(&ring, i * i);
    }
    printf("mean of the last %zu squares: %.2f\n", ring.count, ring_mean(&ring));
    int value;
    while (ring_pop(&ring, &value)) {
        printf("%d ", value);
    }
    printf("\n");
    free(ring.items);
    return 0;
}
