/* Unit tests use Criterion; the ThreadSanitizer build cannot (Criterion's sandbox arena and
 * TSan's memory layout collide), so there the same tests run on mini_criterion.h. */
#ifdef BLITZ_MINI_CRITERION
#include "mini_criterion.h"
#else
#include <criterion/criterion.h>
#endif
