/* clvae devices: every backend, platform and device, with the config lines that select it. */
#include <stdio.h>

#include "backend/backend.h"
#include "cli/cli.h"

static const char usage[] = "usage: clvae devices\n"
                            "  lists the reference backend and every OpenCL platform and device\n";

int cmd_devices(int argc, char **argv)
{
    cli_args a;
    int rc = cli_parse(argc, argv, 0, usage, &a);
    if (rc || a.help) return rc;
    printf("reference backend: plain C on the host (the oracle)\n"
           "    [device]\n    backend = ref\n\n");
#ifdef CLVAE_HAVE_OPENCL
    int st = clvae_opencl_list_devices(stdout);
    if (st) return cli_fail(st);
#else
    printf("(this build has no OpenCL support)\n");
#endif
    return 0;
}
