/* clvae_leak_check_now: LeakSanitizer's check at the end of main instead of at exit. */
#include "core/leakcheck.h"

#if defined(__SANITIZE_ADDRESS__)
#define CLVAE_HAS_LSAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CLVAE_HAS_LSAN 1
#endif
#endif

#ifdef CLVAE_HAS_LSAN
#include <sanitizer/lsan_interface.h>
#endif

void clvae_leak_check_now(void)
{
#ifdef CLVAE_HAS_LSAN
    __lsan_do_leak_check(); /* later calls and the exit-time check then do nothing */
#endif
}
