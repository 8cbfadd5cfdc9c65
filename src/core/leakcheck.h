/* The end-of-run leak check of sanitizer builds, taken early. */
#ifndef CLVAE_CORE_LEAKCHECK_H
#define CLVAE_CORE_LEAKCHECK_H

/* In a build with LeakSanitizer (make test-sanitize): runs its leak check now, once, instead
 * of at exit. At exit the OpenCL drivers tear their worker threads down while LSan stops every
 * thread to scan their stacks, and its tracer crashed there now and then ("Tracer caught
 * signal 11 ... LeakSanitizer has encountered a fatal error", no leak reported); called at the
 * end of main, those threads are idle. Leaks found end the process with LSan's exit code, as
 * the exit-time check would. A no-op in other builds. */
void clvae_leak_check_now(void);

#endif
