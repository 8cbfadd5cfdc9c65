/* The items of [model] encoder / decoder / decoder_out (contract.md "Wave 3"): dense widths,
 * CxHxW views and conv / convt layers with their words (kK or kKHxKW, sS, pP, oP, dD, bn, an
 * activation), parsed into clvae_item, written back, and checked: per item here, between the
 * items of a net (where conv layers may stand) in clvae_cfg_validate_net. The shapes that need
 * the data (kernel against input size, the decoder's output against the image) are checked
 * when the model is laid out (src/model/). */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "clvae/status.h"
#include "config_internal.h"

static const char *const item_act_names[] = {"relu", "tanh", "softplus", "identity",
                                             "leaky_relu", NULL};

#define WORDS_HELP                                                                                \
    "conv C / convt C, then kK or kKHxKW (kernel, required), sS (stride), pP (padding), oP "     \
    "(output padding, convt only), dD (dilation), bn, and an activation (relu, leaky_relu, tanh, " \
    "softplus, identity)"

/* "12" or "12x7" (h, w) into v; lo is the smallest value allowed. 0 ok, -1 not a size, -2 too
 * small. */
static int parse_pair(const char *s, int lo, int v[2])
{
    char *end;
    if (!isdigit((unsigned char)*s)) return *s == '-' ? -2 : -1;
    long a = strtol(s, &end, 10), b = a;
    if (*end == 'x' || *end == 'X') {
        if (!isdigit((unsigned char)end[1])) return -1;
        b = strtol(end + 1, &end, 10);
    }
    if (*end) return -1;
    if (a > MAX_WIDTH || b > MAX_WIDTH) return -1;
    if (a < lo || b < lo) return -2;
    v[0] = (int)a, v[1] = (int)b;
    return 0;
}

/* One word after "conv C" / "convt C": writes a reason into why on error. */
static int conv_word(clvae_item *it, const char *w, unsigned *seen, char *why, size_t n)
{
    static const char letters[] = "kspod";
    int a = clvae_cfg_name_index(item_act_names, w);
    if (strcasecmp(w, "bn") == 0 || a >= 0) {
        unsigned bit = a >= 0 ? 1u << 6 : 1u << 5;
        if (*seen & bit) return snprintf(why, n, "\"%s\" repeats a word", w), -1;
        *seen |= bit;
        if (a >= 0) it->has_act = true, it->act = a;
        else it->bn = true;
        return 0;
    }
    const char *l = strchr(letters, tolower((unsigned char)w[0]));
    if (!w[0] || !l) return snprintf(why, n, "unknown word \"%s\"", w), -1;
    int i = (int)(l - letters), *dst[] = {it->k, it->s, it->p, it->o, it->d}, v[2];
    int r = parse_pair(w + 1, i == 2 || i == 3 ? 0 : 1, v);
    if (r == -2)
        return snprintf(why, n, "\"%s\": a zero or negative size (%s)", w,
                        i == 2 || i == 3 ? "padding is >= 0" : "must be >= 1"), -1;
    if (r) return snprintf(why, n, "unknown word \"%s\"", w), -1;
    if (*seen & (1u << i)) return snprintf(why, n, "\"%s\" repeats %c", w, *l), -1;
    *seen |= 1u << i;
    dst[i][0] = v[0], dst[i][1] = v[1];
    return 0;
}

/* Checks of one conv item's words together. */
static int conv_check(const clvae_item *it, unsigned seen, char *why, size_t n)
{
    if (!(seen & 1u)) return snprintf(why, n, "a conv layer needs its kernel: kK or kKHxKW"), -1;
    if (it->kind == CLVAE_ITEM_CONV && (it->o[0] || it->o[1]))
        return snprintf(why, n, "output padding (o) is for convt only"), -1;
    for (int a = 0; a < 2; a++)
        if (it->o[a] >= it->s[a] && it->o[a] >= it->d[a])
            return snprintf(why, n, "output padding o%d must be smaller than the stride s%d or "
                                    "the dilation d%d", it->o[a], it->s[a], it->d[a]), -1;
    return 0;
}

/* One comma item: a width, CxHxW [act], or conv/convt [C] words. allow_no_channels: decoder_out
 * (its channels are the image's). */
static int parse_item(char *tok, clvae_item *it, int *width, bool allow_no_channels, char *why,
                      size_t n)
{
    char *save = NULL, *w = strtok_r(tok, " \t", &save);
    memset(it, 0, sizeof *it);
    if (!w) return snprintf(why, n, "an empty item"), -1;
    bool conv = !strcasecmp(w, "conv"), convt = !strcasecmp(w, "convt");
    if (!conv && !convt) {
        int d[3];
        char *next = strtok_r(NULL, " \t", &save);
        if (clvae_parse_view(w, d) == 0) { /* CxHxW [activation] */
            *it = (clvae_item){.kind = CLVAE_ITEM_VIEW, .channels = d[0], .view_h = d[1],
                               .view_w = d[2]};
            *width = d[0] * d[1] * d[2];
            if (next && strcasecmp(next, "bn") == 0)
                return snprintf(why, n, "bn on a dense item (%s): BatchNorm2d follows conv "
                                        "layers only", w), -1;
            if (next && (it->act = clvae_cfg_name_index(item_act_names, next)) < 0)
                return snprintf(why, n, "unknown word \"%s\" after %s (an activation may "
                                        "follow a CxHxW view)", next, w), -1;
            it->has_act = next != NULL;
            it->act = next ? it->act : 0;
            if (next && strtok_r(NULL, " \t", &save))
                return snprintf(why, n, "%s takes at most one activation word", w), -1;
            return 0;
        }
        char *end;
        long v = strtol(w, &end, 10);
        if (*end || !isdigit((unsigned char)*w) || v < 1 || v > MAX_WIDTH)
            return snprintf(why, n, "unknown item \"%s\"%s", w,
                            *w == '-' || (!*end && v < 1) ? " (a zero or negative size)" : ""), -1;
        *width = (int)v;
        if (next && strcasecmp(next, "bn") == 0)
            return snprintf(why, n, "bn on a dense item (%s): BatchNorm2d follows conv layers "
                                    "only", w), -1;
        if (next) return snprintf(why, n, "a dense item is a plain width, \"%s\" follows %s", next, w), -1;
        return 0;
    }
    it->kind = conv ? CLVAE_ITEM_CONV : CLVAE_ITEM_CONVT;
    it->s[0] = it->s[1] = it->d[0] = it->d[1] = 1;
    unsigned seen = 0;
    w = strtok_r(NULL, " \t", &save);
    if (w && isdigit((unsigned char)*w)) {
        long c = strtol(w, &w, 10);
        if (*w || c < 1 || c > MAX_WIDTH)
            return snprintf(why, n, "channels must be an integer in [1, %d]", MAX_WIDTH), -1;
        it->channels = (int)c;
        w = strtok_r(NULL, " \t", &save);
    } else if (w && *w == '-') {
        return snprintf(why, n, "channels %s: a zero or negative size", w), -1;
    } else if (!allow_no_channels) {
        return snprintf(why, n, "%s needs its output channels first (%s C ...)", conv ? "conv" : "convt",
                        conv ? "conv" : "convt"), -1;
    }
    for (; w; w = strtok_r(NULL, " \t", &save))
        if (conv_word(it, w, &seen, why, n)) return -1;
    *width = it->channels;
    return conv_check(it, seen, why, n);
}

int clvae_parse_view(const char *v, int d[3])
{
    int i = 0;
    for (const char *p = v; i < 3; i++) {
        char *end;
        if (!isdigit((unsigned char)*p)) return -1;
        long a = strtol(p, &end, 10);
        if (a < 1 || a > MAX_WIDTH) return -1;
        d[i] = (int)a;
        if (i < 2 && *end != 'x' && *end != 'X') return -1;
        if (i == 2 && *end) return -1;
        p = end + 1;
    }
    return (long)d[0] * d[1] * d[2] <= MAX_WIDTH ? 0 : -1;
}

/* "conv 32 k4 s2 p1 | 100" -> groups of items; every group may be empty. */
int clvae_cfg_parse_groups(const char *v, clvae_widths *groups, int *n_out, char *why, size_t n)
{
    clvae_widths tmp[CLVAE_MAX_STOCH];
    char buf[VALUE_MAX], item[VALUE_MAX];
    int g = 0;
    memset(tmp, 0, sizeof tmp); /* unused entries zero: configs compare bytewise */
    snprintf(buf, sizeof buf, "%s", v);
    for (char *p = buf, *bar;; p = bar + 1) {
        bar = strchr(p, '|');
        if (bar) *bar = '\0';
        if (g == CLVAE_MAX_STOCH) return snprintf(why, n, "more than %d groups", CLVAE_MAX_STOCH), -1;
        char *q = clvae_cfg_trim(p);
        for (char *c = q; *q;) {
            char *comma = strchr(c, ',');
            if (comma) *comma = '\0';
            snprintf(item, sizeof item, "%s", clvae_cfg_trim(c));
            if (tmp[g].n == CLVAE_MAX_LAYERS)
                return snprintf(why, n, "more than %d layers in a group", CLVAE_MAX_LAYERS), -1;
            char one[256];
            snprintf(one, sizeof one, "%.200s", item);
            if (parse_item(item, &tmp[g].item[tmp[g].n], &tmp[g].w[tmp[g].n], false, why, n)) {
                char reason[512];
                snprintf(reason, sizeof reason, "%s", why);
                snprintf(why, n, "item \"%s\": %s", one, reason);
                return -1;
            }
            tmp[g].n++;
            if (!comma) break;
            c = comma + 1;
        }
        g++;
        if (!bar) break;
    }
    memcpy(groups, tmp, sizeof tmp);
    *n_out = g;
    return 0;
}

/* decoder_out = dense | conv [C] words | convt [C] words. */
int clvae_cfg_parse_out_item(const char *v, clvae_item *out, char *why, size_t n)
{
    char buf[VALUE_MAX];
    clvae_item it;
    int w;
    snprintf(buf, sizeof buf, "%s", v);
    if (strcasecmp(clvae_cfg_trim(buf), "dense") == 0) {
        memset(out, 0, sizeof *out);
        return 0;
    }
    char *t = clvae_cfg_trim(buf);
    if (strncasecmp(t, "conv", 4) != 0)
        return snprintf(why, n, "\"%s\" is neither dense nor a conv / convt layer", t), -1;
    if (parse_item(t, &it, &w, true, why, n)) return -1;
    *out = it;
    return 0;
}

static void pair_word(char c, const int v[2], int dflt, char *buf, size_t size, size_t *used)
{
    if (v[0] == dflt && v[1] == dflt && c != 'k') return;
    if (*used >= size) return;
    if (v[0] == v[1]) *used += (size_t)snprintf(buf + *used, size - *used, " %c%d", c, v[0]);
    else *used += (size_t)snprintf(buf + *used, size - *used, " %c%dx%d", c, v[0], v[1]);
}

void clvae_cfg_format_item(const clvae_item *it, int width, char *buf, size_t size)
{
    size_t used = 0;
    if (it->kind == CLVAE_ITEM_DENSE) {
        snprintf(buf, size, "%d", width);
        return;
    }
    if (it->kind == CLVAE_ITEM_VIEW) {
        used = (size_t)snprintf(buf, size, "%dx%dx%d", it->channels, it->view_h, it->view_w);
    } else {
        used = (size_t)snprintf(buf, size, "%s", it->kind == CLVAE_ITEM_CONV ? "conv" : "convt");
        if (it->channels && used < size) used += (size_t)snprintf(buf + used, size - used, " %d", it->channels);
        pair_word('k', it->k, 0, buf, size, &used);
        pair_word('s', it->s, 1, buf, size, &used);
        pair_word('p', it->p, 0, buf, size, &used);
        pair_word('o', it->o, 0, buf, size, &used);
        pair_word('d', it->d, 1, buf, size, &used);
        if (it->bn && used < size) used += (size_t)snprintf(buf + used, size - used, " bn");
    }
    if (it->has_act && used < size && it->act >= 0 && it->act < 5)
        snprintf(buf + used, size - used, " %s", item_act_names[it->act]);
}

/* An item read back from a checkpoint's config, or built in code, within its ranges. */
int clvae_cfg_item_valid(const clvae_item *it, int width, bool out_item)
{
    if (it->has_act && (it->act < 0 || it->act > 4)) return 0;
    switch (it->kind) {
    case CLVAE_ITEM_DENSE: return out_item || (width >= 1 && width <= MAX_WIDTH && !it->bn);
    case CLVAE_ITEM_VIEW:
        return !it->bn && it->channels >= 1 && it->view_h >= 1 && it->view_w >= 1 &&
               width == it->channels * it->view_h * it->view_w;
    case CLVAE_ITEM_CONV:
    case CLVAE_ITEM_CONVT:
        if (out_item ? it->channels < 0 : it->channels < 1 || width != it->channels) return 0;
        for (int a = 0; a < 2; a++)
            if (it->k[a] < 1 || it->s[a] < 1 || it->d[a] < 1 || it->p[a] < 0 || it->o[a] < 0 ||
                (it->o[a] >= it->s[a] && it->o[a] >= it->d[a]) ||
                (it->kind == CLVAE_ITEM_CONV && it->o[a]))
                return 0;
        return 1;
    default: return 0;
    }
}

static bool is_map(const clvae_item *it)
{
    return it->kind != CLVAE_ITEM_DENSE;
}

/* Where conv layers may stand: the encoder's first group starts with them (x is the image),
 * the decoder's last group holds one CxHxW view then conv layers to its end, and decoder_out
 * is a conv layer exactly when that group ends in maps. */
int clvae_cfg_validate_net(const clvae_config *cfg)
{
    const char *words = "a CxHxW view then conv / convt items";
    for (int g = 0; g < cfg->model.n_encoder; g++) {
        const clvae_widths *e = &cfg->model.encoder[g];
        bool dense_seen = false;
        for (int i = 0; i < e->n; i++) {
            const clvae_item *it = &e->item[i];
            if (it->kind == CLVAE_ITEM_VIEW)
                return clvae_error(CLVAE_ERR_CONFIG, "config: [model] encoder item %d (%dx%dx%d): "
                                   "a CxHxW view belongs in the decoder (the encoder's conv "
                                   "layers read the image itself)", i + 1, it->channels, it->view_h, it->view_w);
            if (!is_map(it)) dense_seen = true;
            else if (g > 0 || dense_seen)
                return clvae_error(CLVAE_ERR_CONFIG, "config: [model] encoder item %d: conv layers "
                                   "in a segment whose input is a vector (%s); conv layers go "
                                   "first in the encoder's first group, which reads the image",
                                   i + 1, g > 0 ? "the sample of the layer below" : "after a dense layer");
        }
    }
    int T = cfg->model.n_decoder;
    for (int g = 0; g < T; g++) {
        const clvae_widths *d = &cfg->model.decoder[g];
        bool maps = false;
        for (int i = 0; i < d->n; i++) {
            const clvae_item *it = &d->item[i];
            if (it->kind == CLVAE_ITEM_VIEW && (maps || g != T - 1))
                return clvae_error(CLVAE_ERR_CONFIG, "config: [model] decoder group %d item %d: "
                                   "one CxHxW view per model, in the last decoder group (the net "
                                   "to x), before its conv layers", g + 1, i + 1);
            if ((it->kind == CLVAE_ITEM_CONV || it->kind == CLVAE_ITEM_CONVT) && !maps)
                return clvae_error(CLVAE_ERR_CONFIG, "config: [model] decoder group %d item %d: "
                                   "conv layers in a segment whose input is a vector: put a "
                                   "CxHxW view (a dense layer read as maps) before them, e.g. "
                                   "decoder = 64x7x7, convt 32 k4 s2 p1", g + 1, i + 1);
            if (it->kind == CLVAE_ITEM_DENSE && maps)
                return clvae_error(CLVAE_ERR_CONFIG, "config: [model] decoder item %d: a dense "
                                   "layer after conv layers in the decoder; its last group is "
                                   "%s to the end", i + 1, words);
            maps = maps || is_map(it);
        }
        bool conv_out = cfg->model.decoder_out.kind != CLVAE_ITEM_DENSE;
        if (g == T - 1 && maps && !conv_out)
            return clvae_error(CLVAE_ERR_CONFIG, "config: [model] decoder ends in maps (a view or "
                               "conv layers): decoder_out must be a conv or convt layer that "
                               "outputs the image, e.g. decoder_out = convt k4 s2 p1");
        if (g == T - 1 && !maps && conv_out)
            return clvae_error(CLVAE_ERR_CONFIG, "config: [model] decoder_out is a conv layer but "
                               "the decoder's last group ends in a vector: end it in %s", words);
    }
    return CLVAE_OK;
}
