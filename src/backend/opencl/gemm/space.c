/* The GEMM tuning search space: CLBlast 1.5's constraints on Xgemm and XgemmDirect parameters
 * (from its tuners), curated known-good configurations for CPUs and GPUs, random sampling of the
 * legal space, neighbours of the best configuration so far, and direct/indirect thresholds. */
#include <math.h>
#include <string.h>

#include "backend/opencl/gemm/space.h"

/* Indices into clvae_gemm_params.x / .d (clvae_xgemm_names order). */
enum { GEMMK, KREG, KWG, KWI, MDIMA, MDIMC, MWG, NDIMB, NDIMC, NWG, SA, SB, STRM, STRN, VWM, VWN };
enum { WGD, MDIMCD, NDIMCD, MDIMAD, NDIMBD, KWID, VWMD, VWND, PADA, PADB };

#define ALL_DIRECT 100000  /* an XGEMM_MIN_INDIRECT_SIZE above every realistic m*n*k */

/* ---- curated configurations ---- */

typedef struct curated {
    size_t x[CLVAE_XGEMM_NP], d[CLVAE_XGEMMD_NP], min_indirect;
} curated;

/* CPUs: found by searching on PoCL 3.1 (LLVM 15, AVX-512, 2 cores) for the default model's
 * shapes: float16 vectors along M, a few work-items per group, strided access, no local memory,
 * and the indirect kernel for every shape (threshold 0: the direct kernel was 2-5x slower even
 * for the small shapes). The fifth suits 8-wide (AVX2) vectors; the last two tile 400 and 784
 * (the n of the default model's GEMMs, M of CLBlast's column-major call) without padding. */
/* The direct kernel is compiled into the same program even when no shape uses it: a small one
 * builds 3x faster (about 20 s instead of 70 s per candidate with PoCL). */
static const size_t cpu_direct[CLVAE_XGEMMD_NP] = {32, 8, 8, 8, 8, 1, 1, 1, 0, 0};
static const curated cpu_list[] = {
    {{0, 1, 16, 8, 2, 2, 64, 4, 4, 32, 0, 0, 1, 1, 16, 8}, {0}, 0},
    {{0, 1, 16, 8, 2, 2, 64, 2, 2, 16, 0, 0, 1, 1, 16, 4}, {0}, 0},
    {{0, 1, 16, 8, 1, 1, 64, 4, 4, 16, 0, 0, 1, 1, 16, 4}, {0}, 0},
    {{0, 1, 32, 8, 4, 4, 128, 4, 4, 32, 0, 0, 1, 1, 16, 8}, {0}, 0},
    {{0, 1, 16, 2, 4, 4, 32, 4, 4, 32, 0, 0, 0, 0, 8, 8}, {0}, 0},
    {{0, 1, 16, 8, 1, 1, 80, 8, 8, 16, 0, 0, 1, 1, 16, 2}, {0}, 0},
    {{0, 1, 16, 8, 1, 1, 112, 8, 8, 16, 0, 0, 1, 1, 16, 2}, {0}, 0},
};

/* GPUs: CLBlast-style tiles in local memory, direct kernel for small products. */
static const curated gpu_list[] = {
    {{0, 1, 32, 2, 16, 16, 64, 16, 16, 64, 1, 1, 0, 0, 4, 4}, {32, 8, 8, 8, 8, 2, 1, 1, 1, 1}, 256},
    {{0, 1, 16, 2, 16, 16, 128, 16, 16, 128, 1, 1, 1, 1, 4, 4},
     {32, 8, 8, 16, 16, 2, 2, 2, 1, 1},
     384},
    {{0, 1, 16, 2, 8, 8, 64, 8, 8, 64, 1, 1, 0, 0, 2, 2}, {32, 8, 8, 8, 8, 2, 2, 2, 1, 1}, 192},
};

/* Helper kernels: on CPUs small work-groups, wide vectors and several elements per work-item
 * (a work-group runs as a loop there); on GPUs CLBlast-like tiles. Tried after the search, on
 * the best configuration. */
static const size_t cpu_helpers[][CLVAE_HELPER_NP] = {
    {8, 8, 16, 4, 8, 8, 4, 4, 8, 0, 0, 4, 0, 8, 4},
    {4, 4, 16, 8, 4, 4, 8, 8, 4, 0, 0, 8, 0, 4, 8},
    {16, 8, 8, 2, 16, 8, 2, 2, 16, 1, 0, 2, 1, 16, 2},
    {8, 8, 4, 1, 8, 8, 1, 1, 8, 1, 1, 1, 1, 8, 1},
    {32, 16, 8, 2, 32, 8, 2, 2, 8, 0, 0, 8, 0, 8, 8},
};
static const size_t gpu_helpers[][CLVAE_HELPER_NP] = {
    {8, 32, 4, 1, 16, 16, 1, 1, 16, 1, 1, 4, 1, 16, 2},
    {16, 8, 4, 1, 32, 8, 1, 2, 8, 1, 0, 4, 1, 8, 4},
};

bool clvae_tune_curated_helpers(const clvae_tune_limits *lim, int i, size_t h[CLVAE_HELPER_NP])
{
    int n = lim->cpu ? (int)(sizeof cpu_helpers / sizeof *cpu_helpers)
                     : (int)(sizeof gpu_helpers / sizeof *gpu_helpers);
    if (i < 0 || i >= n) return false;
    memcpy(h, lim->cpu ? cpu_helpers[i] : gpu_helpers[i], sizeof cpu_helpers[0]);
    return true;
}

bool clvae_tune_curated(const clvae_tune_limits *lim, int i, clvae_gemm_params *p)
{
    const curated *list = lim->cpu ? cpu_list : gpu_list;
    int n = lim->cpu ? (int)(sizeof cpu_list / sizeof *cpu_list)
                     : (int)(sizeof gpu_list / sizeof *gpu_list);
    if (i < 0 || i >= n) return false;
    memset(p, 0, sizeof *p);
    memcpy(p->x, list[i].x, sizeof p->x);
    memcpy(p->d, lim->cpu ? cpu_direct : list[i].d, sizeof p->d);
    p->min_indirect = list[i].min_indirect;
    return true;
}

/* ---- random sampling ---- */

static uint64_t next_u64(uint64_t *s) /* splitmix64 */
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

#define PICK(rng, arr) ((arr)[next_u64(rng) % (sizeof(arr) / sizeof((arr)[0]))])

/* 48, 80 and 112 tile 400 and 784 (the default model's widths) without padding */
static const size_t v_tile[] = {16, 32, 48, 64, 80, 112, 128}, v_kwg[] = {8, 16, 32}, v_kwi[] = {1, 2, 4, 8, 16};
static const size_t v_dim[] = {1, 2, 4, 8, 16, 32}, v_vec[] = {1, 2, 4, 8, 16}, v_bit[] = {0, 1};
static const size_t v_wgd[] = {16, 32, 64}, v_kwid[] = {1, 2, 4, 8, 16}, v_vecd[] = {1, 2, 4, 8};

static size_t pick_x(uint64_t *rng, int i)
{
    switch (i) {
    case KWG: return PICK(rng, v_kwg);
    case KWI: return PICK(rng, v_kwi);
    case MWG:
    case NWG: return PICK(rng, v_tile);
    case MDIMA:
    case MDIMC:
    case NDIMB:
    case NDIMC: return PICK(rng, v_dim);
    case VWM:
    case VWN: return PICK(rng, v_vec);
    default: return PICK(rng, v_bit); /* SA SB STRM STRN */
    }
}

static size_t pick_d(uint64_t *rng, int i)
{
    switch (i) {
    case WGD: return PICK(rng, v_wgd);
    case KWID: return PICK(rng, v_kwid);
    case VWMD:
    case VWND: return PICK(rng, v_vecd);
    case PADA:
    case PADB: return PICK(rng, v_bit);
    default: return PICK(rng, v_dim);
    }
}

static void random_x(uint64_t *rng, const clvae_tune_limits *lim, size_t x[CLVAE_XGEMM_NP])
{
    for (int tries = 0; tries < 100000; tries++) {
        x[GEMMK] = 0;
        x[KREG] = 1;
        for (int i = KWG; i < CLVAE_XGEMM_NP; i++)
            x[i] = pick_x(rng, i);
        if (clvae_xgemm_legal(x, lim)) return;
    }
    clvae_gemm_params fallback; /* a device too small for any sample: the first curated one */
    clvae_tune_curated(lim, 0, &fallback);
    memcpy(x, fallback.x, sizeof fallback.x);
}

static void random_d(uint64_t *rng, const clvae_tune_limits *lim, size_t d[CLVAE_XGEMMD_NP])
{
    for (int tries = 0; tries < 100000; tries++) {
        for (int i = 0; i < CLVAE_XGEMMD_NP; i++)
            d[i] = pick_d(rng, i);
        if (clvae_xgemmd_legal(d, lim)) return;
    }
    clvae_gemm_params fallback;
    clvae_tune_curated(lim, 0, &fallback);
    memcpy(d, fallback.d, sizeof fallback.d);
}

/* Changes one or two parameters of `p` while legal: Xgemm's, XgemmDirect's or the threshold. A
 * kernel that no shape reaches (threshold 0: no direct GEMM; the largest threshold: no indirect
 * one) is left alone unless the threshold changes too, since its parameters cannot matter. */
static void mutate(uint64_t *rng, const clvae_tune_limits *lim, const size_t *thresholds, int nt,
                   clvae_gemm_params *p)
{
    size_t top = nt > 0 ? thresholds[nt - 1] : ALL_DIRECT;
    clvae_gemm_params q;
    for (int tries = 0; tries < 10000; tries++) {
        q = *p;
        int what = (int)(next_u64(rng) % 10), changes = 1 + (int)(next_u64(rng) % 2);
        if (what < 6 && p->min_indirect >= top) what = 6;            /* all direct: Xgemm unused */
        if (what >= 6 && what < 9 && p->min_indirect == 0) what = 0; /* all indirect */
        for (int c = 0; c < changes; c++) {
            if (what < 6) {
                int i = KWG + (int)(next_u64(rng) % (CLVAE_XGEMM_NP - KWG));
                q.x[i] = pick_x(rng, i);
            } else if (what < 9) {
                int i = (int)(next_u64(rng) % CLVAE_XGEMMD_NP);
                q.d[i] = pick_d(rng, i);
            } else if (nt > 0) {
                q.min_indirect = thresholds[next_u64(rng) % (uint64_t)nt];
            }
        }
        if (memcmp(&q, p, sizeof q) && clvae_xgemm_legal(q.x, lim) &&
            clvae_xgemmd_legal(q.d, lim)) {
            *p = q;
            return;
        }
    }
}

void clvae_tune_sample(uint64_t *rng, const clvae_tune_limits *lim, const clvae_gemm_params *best,
                       const size_t *thresholds, int n_thresholds, clvae_gemm_params *p)
{
    if (best) {
        *p = *best;
        mutate(rng, lim, thresholds, n_thresholds, p);
        return;
    }
    memset(p, 0, sizeof *p); /* no helpers; padding zero for the hash of tried candidates */
    random_x(rng, lim, p->x);
    random_d(rng, lim, p->d);
    p->min_indirect = n_thresholds > 0 ? thresholds[next_u64(rng) % (uint64_t)n_thresholds] : 0;
}

/* ---- direct/indirect thresholds ---- */

/* Smallest t with t^3 > v. */
static size_t cube_root_above(unsigned long long v)
{
    size_t t = (size_t)cbrt((double)v);
    while ((unsigned long long)t * t * t <= v)
        t++;
    while (t > 0 && (unsigned long long)(t - 1) * (t - 1) * (t - 1) > v)
        t--;
    return t;
}

int clvae_tune_thresholds(const clvae_gemm_shape *s, int n, size_t *out, int max)
{
    int count = 0;
    if (count < max) out[count++] = 0;
    for (int i = 0; i < n && count < max; i++) {
        size_t t = cube_root_above((unsigned long long)s[i].m * s[i].n * s[i].k);
        bool seen = false;
        for (int j = 0; j < count; j++)
            seen |= out[j] == t;
        if (!seen) out[count++] = t;
    }
    if (count < max) out[count++] = ALL_DIRECT;
    return count;
}

/* ---- register-tiled GEMM candidates ---- */

/* (mr, nb, vw) with vw 0 = the device's preferred width, -1 = half of it. On a CPU device a
 * work-item is one tile (work-groups of 1: PoCL runs a group as a loop, nothing to share);
 * the lists come from timings of the VAE's shapes on PoCL (AVX-512): 6-10 rows by 2-3
 * vectors for the large ones, 4-wide vectors for n = 20, gathers of B^T for k = 20; packed
 * panels (cl/gemm_packed.cl) for the wide models' shapes, where the tiles alone lose to the
 * strided and gathered reads of the operands; packb (op(B)^T packed, op(A) read in place) for
 * NT shapes with many rows (dense and conv forwards: 3-6x packed's and CLBlast's speed on
 * 4067x64x512 in a loaded look). The packed ones come early: a shape whose first candidates
 * all take over twice CLBlast's time is left to CLBlast (tune_tiled.c). */
typedef struct tiled_pick {
    int form, mr, nb, vw;
} tiled_pick;

static const tiled_pick cpu_tiled[] = {
    {CLVAE_TILED_OUTER, 6, 3, 0},   {CLVAE_TILED_PACKB, 8, 2, 0},   {CLVAE_TILED_PACKED, 8, 2, 0},
    {CLVAE_TILED_OUTER, 8, 3, 0},   {CLVAE_TILED_PACKB, 12, 2, 0},  {CLVAE_TILED_PACKB, 4, 4, 0},
    {CLVAE_TILED_PACKED, 12, 2, 0}, {CLVAE_TILED_OUTER, 8, 2, 0},   {CLVAE_TILED_PACKED, 6, 3, 0},
    {CLVAE_TILED_OUTER, 10, 2, 0},  {CLVAE_TILED_OUTER, 6, 2, 0},   {CLVAE_TILED_OUTER, 4, 3, 0},
    {CLVAE_TILED_OUTER, 12, 2, 0},  {CLVAE_TILED_OUTER, 12, 1, 0},  {CLVAE_TILED_OUTER, 16, 1, 0},
    {CLVAE_TILED_OUTER, 8, 2, -1},  {CLVAE_TILED_OUTER, 4, 5, 4},   {CLVAE_TILED_OUTER, 8, 5, 4},
    {CLVAE_TILED_OUTER, 16, 2, 0},  {CLVAE_TILED_DOT, 6, 4, 0},     {CLVAE_TILED_DOT, 4, 4, 0},
    {CLVAE_TILED_DOT, 4, 6, 0},     {CLVAE_TILED_DOT, 6, 4, -1},    {CLVAE_TILED_DOT, 3, 8, 0},
    {CLVAE_TILED_DOT, 4, 2, 0},     {CLVAE_TILED_DOT, 4, 4, 4},     {CLVAE_TILED_PACKED, 4, 4, 0}};
/* GPUs: small register tiles, 4-wide or scalar, work-groups of 64 along the columns. */
static const tiled_pick gpu_tiled[] = {
    {CLVAE_TILED_OUTER, 4, 1, 4}, {CLVAE_TILED_OUTER, 4, 2, 4}, {CLVAE_TILED_OUTER, 8, 1, 4},
    {CLVAE_TILED_OUTER, 2, 1, 4}, {CLVAE_TILED_OUTER, 4, 4, 1}, {CLVAE_TILED_OUTER, 8, 4, 1},
    {CLVAE_TILED_DOT, 2, 2, 4},   {CLVAE_TILED_DOT, 4, 4, 4},   {CLVAE_TILED_DOT, 1, 4, 4},
    {CLVAE_TILED_PACKED, 4, 1, 4}, {CLVAE_TILED_PACKED, 8, 1, 4}, {CLVAE_TILED_PACKED, 4, 2, 4},
    {CLVAE_TILED_PACKB, 4, 1, 4},  {CLVAE_TILED_PACKB, 8, 1, 4},  {CLVAE_TILED_PACKB, 4, 2, 4}};

static bool same_tiled(const clvae_tiled *a, const clvae_tiled *b)
{
    return a->form == b->form && a->mr == b->mr && a->nb == b->nb && a->vw == b->vw &&
           a->lx == b->lx && a->rows_first == b->rows_first;
}

/* The j-th entry of the list for width w in grid order `order` (false when it does not fit the
 * transposes). */
static bool tiled_entry(const clvae_tune_limits *lim, int w, bool ta, bool tb, int j, int order,
                        clvae_tiled *v)
{
    const tiled_pick *t = lim->cpu ? &cpu_tiled[j] : &gpu_tiled[j];
    size_t lx = lim->cpu ? 1 : 64;
    if (lx > lim->max_wg) lx = lim->max_wg;
    if (lx > lim->max_item[0]) lx = lim->max_item[0];
    int tw = t->vw > 0 ? t->vw : t->vw == 0 ? w : (w > 1 ? w / 2 : 1);
    *v = (clvae_tiled){t->form, t->mr, t->nb, tw, lx > 0 ? (int)lx : 1, order, 0};
    return clvae_tiled_valid(v, ta, tb);
}

bool clvae_tune_tiled_candidate(const clvae_tune_limits *lim, unsigned vw, bool ta, bool tb, int i,
                                clvae_tiled *v)
{
    int n = lim->cpu ? (int)(sizeof cpu_tiled / sizeof *cpu_tiled)
                     : (int)(sizeof gpu_tiled / sizeof *gpu_tiled);
    int w = vw >= 1 && vw <= 16 ? (int)vw : 1;
    /* each entry in both grid orders, one after the other; an entry equal to an earlier one
     * (the same widths once the device's width is filled in) is skipped */
    for (int j = 0; j < n; j++)
        for (int order = 0; order < 2; order++) {
            if (!tiled_entry(lim, w, ta, tb, j, order, v)) continue;
            bool dup = false;
            clvae_tiled u;
            for (int e = 0; e < j && !dup; e++)
                dup = tiled_entry(lim, w, ta, tb, e, order, &u) && same_tiled(&u, v);
            if (!dup && i-- == 0) return true;
        }
    return false;
}
