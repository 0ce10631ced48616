/* valk_test.h: what every standalone C test (test/c/test_*.c) shares. */
#ifndef VALK_TEST_H
#define VALK_TEST_H

#include <stdio.h>
#include <stdlib.h>

/* Stops the test program with the failing expression and its line. */
#define CHECK(cond)                                                            \
  do {                                                                         \
    if (!(cond)) {                                                             \
      fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
      exit(1);                                                                 \
    }                                                                          \
  } while (0)

#endif /* VALK_TEST_H */
