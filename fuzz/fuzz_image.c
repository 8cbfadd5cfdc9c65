/* Fuzzes the image folders' decoding path: clvae_image_decode (libpng and libjpeg-turbo behind
 * their setjmp error paths) as the file's own channels, grey and RGB, then the crop + area resize
 * the folder reader applies, and the whole folder reader (listing, decode, on_bad_image = error
 * and skip) on a folder holding the input as its one image. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clvae/status.h"
#include "data/folder.h"
#include "data/resize.h"
#include "fuzz_util.h"
#include "io/image.h"

/* 1 Mpixel: a 64 KiB input may not make the decoder allocate more than ~3 MB. */
#define FUZZ_MAX_PIXELS ((size_t)1 << 20)

static void decode_and_resize(const uint8_t *data, size_t size, int want)
{
    char err[512] = "";
    clvae_image im;
    int rc = clvae_image_decode(data, size, want, FUZZ_MAX_PIXELS, &im, err, sizeof err);
    if (rc) {
        fuzz_check(rc == -1 && im.px == NULL && err[0], "image: a refusal must say why");
        return;
    }
    fuzz_check(im.w > 0 && im.h > 0 && (size_t)im.w * im.h <= FUZZ_MAX_PIXELS && im.px,
               "image: decoded size");
    fuzz_check(want ? im.c == want : (im.c == 1 || im.c == 3), "image: channels");
    int dh = 1 + im.h % 7, dw = 1 + im.w % 5; /* shrink or grow, from a centred crop */
    clvae_resize r = {.src = im.px, .sw = im.w, .c = im.c, .ch = (im.h + 1) / 2,
                      .cw = (im.w + 1) / 2, .dh = dh, .dw = dw};
    r.y0 = (im.h - r.ch) / 2, r.x0 = (im.w - r.cw) / 2;
    uint8_t *out = malloc((size_t)im.c * dh * dw);
    fuzz_check(out && clvae_resize_area(&r, out) == 0, "image: resize");
    free(out);
    clvae_image_free(&im);
}

static void remove_folder(void)
{
    rmdir(fuzz_path("folder")); /* runs before fuzz_util's clean-up removes the directory */
}

/* The folder reader on <tmp>/folder/x.png holding the input (removed again after). */
static void folder(const uint8_t *data, size_t size, bool skip)
{
    static bool made;
    const char *root = fuzz_path("folder");
    if (!made) {
        fuzz_check(mkdir(root, 0700) == 0 || errno == EEXIST, "folder: mkdir");
        atexit(remove_folder);
        made = true;
    }
    const char *path = fuzz_write("folder/x.png", data, size);
    clvae_folder_list l;
    clvae_folder_opts o = {.h = 5, .w = 4, .skip_bad = skip, .max_pixels = FUZZ_MAX_PIXELS};
    clvae_dataset ds = {0};
    int st = clvae_folder_list_read(&l, root);
    fuzz_check(st == CLVAE_OK && l.n == 1, "folder: listing");
    st = clvae_folder_decode(&l, root, &o, &ds);
    if (st) fuzz_check_error(st, CLVAE_ERR_DATA, path);
    else fuzz_check(ds.n == 1 && ds.rows == 5 && ds.cols == 4 && ds.u8 &&
                        (ds.channels == 1 || ds.channels == 3) && ds.dim == (size_t)ds.channels * 20,
                    "folder: loaded shape");
    clvae_dataset_free(&ds);
    clvae_folder_list_free(&l);
    unlink(path);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    decode_and_resize(data, size, 0);
    decode_and_resize(data, size, 1);
    decode_and_resize(data, size, 3);
    folder(data, size, false);
    folder(data, size, true);
    return 0;
}
