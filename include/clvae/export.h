/* CLVAE_API: marks the functions the shared libclvae exports (everything else is hidden). */
#ifndef CLVAE_EXPORT_H
#define CLVAE_EXPORT_H

#if defined(_WIN32)
#define CLVAE_API
#elif defined(__GNUC__)
#define CLVAE_API __attribute__((visibility("default")))
#else
#define CLVAE_API
#endif

#endif
