/* The bottom layer's definitions (choice.h): the parameter names of a CLBlast set, the checks
 * of a choice against the device's limits (CLBlast 1.5's constraints, from its tuners), and the
 * names a choice is printed with. */
#include <stdio.h>
#include <string.h>

#include "backend/opencl/gemm/choice.h"

#ifndef CLVAE_CLBLAST_VERSION
#define CLVAE_CLBLAST_VERSION "unknown"
#endif

/* Indices into clvae_gemm_params.x / .d (clvae_xgemm_names order). */
enum { GEMMK, KREG, KWG, KWI, MDIMA, MDIMC, MWG, NDIMB, NDIMC, NWG, SA, SB, STRM, STRN, VWM, VWN };
enum { WGD, MDIMCD, NDIMCD, MDIMAD, NDIMBD, KWID, VWMD, VWND, PADA, PADB };

#define MAX_TILE_ITEMS 256 /* (MWG/MDIMC) * (NWG/NDIMC) accumulators per work-item, at most */

const char *const clvae_xgemm_names[CLVAE_XGEMM_NP] = {
    "GEMMK", "KREG", "KWG", "KWI", "MDIMA", "MDIMC", "MWG", "NDIMB",
    "NDIMC", "NWG",  "SA",  "SB",  "STRM",  "STRN",  "VWM", "VWN"};
const char *const clvae_xgemmd_names[CLVAE_XGEMMD_NP] = {
    "WGD", "MDIMCD", "NDIMCD", "MDIMAD", "NDIMBD", "KWID", "VWMD", "VWND", "PADA", "PADB"};
const char *const clvae_routine_names[1] = {"XGEMM_MIN_INDIRECT_SIZE"};
const char *const clvae_helper_names[CLVAE_HELPER_NP] = {
    "COPY_DIMX", "COPY_DIMY",   "COPY_VW", "COPY_WPT",   "PAD_DIMX",    "PAD_DIMY",  "PAD_WPTX",
    "PAD_WPTY",  "TRA_DIM",     "TRA_PAD", "TRA_SHUFFLE", "TRA_WPT",    "PADTRA_PAD", "PADTRA_TILE",
    "PADTRA_WPT"};
/* The helper kernels' names and where their parameters start in clvae_gemm_params.h. */
const char *const clvae_helper_kernels[4] = {"Copy", "Pad", "Transpose", "Padtranspose"};
const int clvae_helper_first[5] = {0, 4, 8, 12, 15};

const char *clvae_clblast_version(void)
{
    return CLVAE_CLBLAST_VERSION;
}

bool clvae_backend_is_opencl(const clvae_backend *be)
{
    return be && be->ops && be->ops->name && !strcmp(be->ops->name, "opencl");
}

void clvae_tune_limits_query(cl_device_id dev, clvae_tune_limits *lim)
{
    cl_device_type type = 0;
    cl_ulong local = 0, cache = 0;
    memset(lim, 0, sizeof *lim);
    clGetDeviceInfo(dev, CL_DEVICE_MAX_WORK_GROUP_SIZE, sizeof lim->max_wg, &lim->max_wg, NULL);
    clGetDeviceInfo(dev, CL_DEVICE_MAX_WORK_ITEM_SIZES, sizeof lim->max_item, lim->max_item, NULL);
    clGetDeviceInfo(dev, CL_DEVICE_LOCAL_MEM_SIZE, sizeof local, &local, NULL);
    clGetDeviceInfo(dev, CL_DEVICE_TYPE, sizeof type, &type, NULL);
    clGetDeviceInfo(dev, CL_DEVICE_GLOBAL_MEM_CACHE_SIZE, sizeof cache, &cache, NULL);
    lim->local_mem = (size_t)local;
    lim->global_cache = (size_t)cache;
    lim->cpu = (type & CL_DEVICE_TYPE_CPU) != 0;
    if (lim->max_wg == 0) lim->max_wg = 64;
    for (int i = 0; i < 3; i++)
        if (lim->max_item[i] == 0) lim->max_item[i] = lim->max_wg;
}

static bool is_vec(size_t v)
{
    return v == 1 || v == 2 || v == 4 || v == 8 || v == 16;
}

static bool fits_wg(size_t mdim, size_t ndim, const clvae_tune_limits *lim)
{
    return mdim * ndim <= lim->max_wg && mdim <= lim->max_item[0] && ndim <= lim->max_item[1];
}

bool clvae_xgemm_legal(const size_t x[CLVAE_XGEMM_NP], const clvae_tune_limits *lim)
{
    if (x[GEMMK] != 0 || x[KREG] != 1) return false; /* clvae searches kernel 0 only */
    for (int i = KWG; i <= NWG; i++)
        if (x[i] == 0) return false;
    if (x[SA] > 1 || x[SB] > 1 || x[STRM] > 1 || x[STRN] > 1 || !is_vec(x[VWM]) || !is_vec(x[VWN]))
        return false;
    size_t wg = x[MDIMC] * x[NDIMC];
    if (x[KWG] % x[KWI] || x[MWG] % (x[MDIMC] * x[VWM]) || x[NWG] % (x[NDIMC] * x[VWN]) ||
        x[MWG] % (x[MDIMA] * x[VWM]) || x[NWG] % (x[NDIMB] * x[VWN]))
        return false;
    if (wg % x[MDIMA] || wg % x[NDIMB] || x[KWG] % (wg / x[MDIMA]) || x[KWG] % (wg / x[NDIMB]))
        return false;
    if (!fits_wg(x[MDIMC], x[NDIMC], lim)) return false;
    if ((x[MWG] / x[MDIMC]) * (x[NWG] / x[NDIMC]) > MAX_TILE_ITEMS) return false;
    size_t local = (x[SA] * x[KWG] * x[MWG] + x[SB] * x[KWG] * x[NWG]) * sizeof(float);
    return local <= lim->local_mem;
}

bool clvae_xgemmd_legal(const size_t d[CLVAE_XGEMMD_NP], const clvae_tune_limits *lim)
{
    for (int i = WGD; i <= KWID; i++)
        if (d[i] == 0) return false;
    if (!is_vec(d[VWMD]) || !is_vec(d[VWND]) || d[PADA] > 1 || d[PADB] > 1) return false;
    size_t w = d[WGD], wg = d[MDIMCD] * d[NDIMCD];
    if (w % d[KWID] || w % (d[MDIMCD] * d[VWMD]) || w % (d[NDIMCD] * d[VWND]) ||
        w % (d[MDIMAD] * d[VWMD]) || w % (d[NDIMBD] * d[VWND]))
        return false;
    if (wg % d[MDIMAD] || wg % d[NDIMBD] || w % (wg / d[MDIMAD]) || w % (wg / d[NDIMBD]))
        return false;
    if (!fits_wg(d[MDIMCD], d[NDIMCD], lim)) return false;
    if ((w / d[MDIMCD]) * (w / d[NDIMCD]) > MAX_TILE_ITEMS) return false;
    size_t local = (w * (w + d[PADA]) + w * (w + d[PADB])) * sizeof(float);
    return local <= lim->local_mem;
}

/* The helper kernels as CLBlast 1.5 writes them: vector widths and work per item of 1..16, the
 * work-group within the device's limits, the transposes' local tiles within local memory. */
bool clvae_helpers_legal(const size_t h[CLVAE_HELPER_NP], const clvae_tune_limits *lim)
{
    for (int i = 0; i < CLVAE_HELPER_NP; i++)
        if (i != 9 && i != 10 && i != 12 && (h[i] == 0 || h[i] > 64)) return false;
    if (h[9] > 1 || h[10] > 1 || h[12] > 1 || !is_vec(h[2]) || !is_vec(h[3]) || !is_vec(h[11]) ||
        !is_vec(h[14]))
        return false;
    if (!fits_wg(h[0], h[1], lim) || !fits_wg(h[4], h[5], lim) || !fits_wg(h[8], h[8], lim) ||
        !fits_wg(h[13], h[13], lim))
        return false;
    size_t tra = h[8] * h[11], padtra = h[13] * h[14];
    return (tra * (tra + h[9]) + padtra * (padtra + h[12])) * sizeof(float) <= lim->local_mem;
}

bool clvae_tuning_sets_legal(const clvae_tuning *t, const clvae_tune_limits *lim)
{
    bool ok = clvae_xgemm_legal(t->p.x, lim) && clvae_xgemmd_legal(t->p.d, lim) &&
              (!t->p.has_helpers || clvae_helpers_legal(t->p.h, lim));
    for (int j = 0; ok && j < t->n_extra; j++)
        ok = clvae_xgemm_legal(t->extra[j].x, lim) && clvae_xgemmd_legal(t->extra[j].d, lim) &&
             (!t->extra[j].has_helpers || clvae_helpers_legal(t->extra[j].h, lim));
    return ok;
}

void clvae_gemm_params_format(const clvae_gemm_params *p, char *buf, size_t size)
{
    size_t used = (size_t)snprintf(buf, size, "Xgemm");
    for (int i = 0; i < CLVAE_XGEMM_NP && used < size; i++)
        used += (size_t)snprintf(buf + used, size - used, " %s=%zu", clvae_xgemm_names[i], p->x[i]);
    if (used < size) used += (size_t)snprintf(buf + used, size - used, " | XgemmDirect");
    for (int i = 0; i < CLVAE_XGEMMD_NP && used < size; i++)
        used +=
            (size_t)snprintf(buf + used, size - used, " %s=%zu", clvae_xgemmd_names[i], p->d[i]);
    if (used < size)
        used += (size_t)snprintf(buf + used, size - used, " | XGEMM_MIN_INDIRECT_SIZE=%zu",
                                 p->min_indirect);
    for (int i = 0; p->has_helpers && i < CLVAE_HELPER_NP && used < size; i++)
        used += (size_t)snprintf(buf + used, size - used, "%s%s=%zu",
                                 i == 0 || i == 4 || i == 8 || i == 12 ? " | " : " ",
                                 clvae_helper_names[i], p->h[i]);
}

const void *clvae_gemm_key_find(const void *list, size_t size, int n, const clvae_gemm_key *want)
{
    const char *p = list;
    for (int i = 0; i < n; i++, p += size) {
        const clvae_gemm_key *h = (const clvae_gemm_key *)p; /* the entry's first member */
        if (h->ta == want->ta && h->tb == want->tb && h->m == want->m && h->n == want->n &&
            h->k == want->k)
            return p;
    }
    return NULL;
}

bool clvae_tiled_valid(const clvae_tiled *v, bool ta, bool tb)
{
    if (v->form == CLVAE_TILED_NONE) return true;
    bool vw_ok = v->vw == 1 || v->vw == 2 || v->vw == 4 || v->vw == 8 || v->vw == 16;
    if (!vw_ok || v->mr < 1 || v->mr > 16 || v->nb < 1 || v->nb > 8 || v->lx < 1 ||
        v->lx > 1024 || (v->rows_first != 0 && v->rows_first != 1) || v->ks < 0 ||
        v->ks > CLVAE_TILED_MAX_KS || (v->ks > 1 && v->form != CLVAE_TILED_OUTER))
        return false;
    if (v->form == CLVAE_TILED_OUTER || clvae_tiled_is_packed(v->form)) return true;
    return v->form == CLVAE_TILED_DOT && !ta && tb;
}

void clvae_tiled_format(const clvae_tiled *v, char *buf, size_t size)
{
    if (v->form == CLVAE_TILED_NONE) {
        snprintf(buf, size, "CLBlast");
        return;
    }
    char lx[16] = "";
    if (v->lx > 1) snprintf(lx, sizeof lx, "/%d", v->lx);
    char ks[16] = "";
    if (v->ks > 1) snprintf(ks, sizeof ks, " k%d", v->ks);
    snprintf(buf, size, "%s %dx%dx%d%s%s%s", clvae_tiled_form_name(v->form), v->mr, v->nb, v->vw,
             lx, v->rows_first ? " rows" : "", ks);
}

const char *clvae_tiled_form_name(int form)
{
    return form == CLVAE_TILED_DOT      ? "dot"
           : form == CLVAE_TILED_PACKED ? "packed"
           : form == CLVAE_TILED_PACKB  ? "packb"
                                        : "outer";
}
